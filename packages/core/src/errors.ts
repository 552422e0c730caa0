/**
 * Every failure a user can cause or fix is a PonchoError: a stable code, a message that says
 * what went wrong (naming the file, line or field), a hint that says what to do, and the exit
 * status the CLI ends with. Only `runCli` (cli.ts) turns these into output and exit codes.
 */

/** Exit statuses shared by every poncho CLI. Tools document any codes of their own. */
export const ExitCode = {
  ok: 0,
  /** The tool ran and failed: bad input data, a failed build, a failed download. */
  failure: 1,
  /** The command line was wrong: unknown option, missing argument, conflicting options. */
  usage: 2,
  /** A bug in poncho (an error that is not a PonchoError). Mirrors sysexits' EX_SOFTWARE. */
  internal: 70,
  /** Interrupted by SIGINT (128 + 2), as shells report it. */
  interrupted: 130,
} as const;

export interface PonchoErrorOptions {
  /** What the user can do about it; printed on its own line after the message. */
  hint?: string;
  /** Exit status of the CLI when this error ends it. Defaults to ExitCode.failure. */
  exitCode?: number;
  cause?: unknown;
}

export class PonchoError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: string, message: string, options: PonchoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PonchoError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

/** A wrong command line. Exits with ExitCode.usage. */
export class UsageError extends PonchoError {
  constructor(message: string, hint?: string) {
    super('ERR_USAGE', message, {
      hint: hint ?? 'Run with --help to see the usage.',
      exitCode: ExitCode.usage,
    });
    this.name = 'UsageError';
  }
}

export function isPonchoError(error: unknown): error is PonchoError {
  return error instanceof PonchoError;
}

/** The errno code of a Node.js system error (ENOENT, EACCES, ENOSPC...), if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === 'object' && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}

/**
 * Turns a file-system error about `path` into a PonchoError with a message a user can act on.
 * `what` says what the file is for ("source file", "output folder").
 */
export function fileError(error: unknown, path: string, what: string): PonchoError {
  if (isPonchoError(error)) return error;
  const code = errnoCode(error);
  switch (code) {
    case 'ENOENT':
      return new PonchoError('ERR_FILE_NOT_FOUND', `${what} not found: ${path}`, {
        hint: 'Check the path and try again.',
        cause: error,
      });
    case 'EACCES':
    case 'EPERM':
      return new PonchoError('ERR_FILE_ACCESS', `permission denied on ${what}: ${path}`, {
        hint: 'Check the file permissions, or choose another path.',
        cause: error,
      });
    case 'EISDIR':
      return new PonchoError('ERR_FILE_IS_DIR', `${what} is a directory: ${path}`, {
        hint: 'Give the path of a file, not of a folder.',
        cause: error,
      });
    case 'ENOTDIR':
      return new PonchoError(
        'ERR_FILE_NOT_DIR',
        `a parent of the ${what} is not a directory: ${path}`,
        {
          hint: 'Check the path: one of its folders is a file.',
          cause: error,
        },
      );
    case 'EROFS':
      return new PonchoError(
        'ERR_READ_ONLY_FS',
        `read-only file system: cannot write the ${what} ${path}`,
        {
          hint: 'Choose a path on a writable file system.',
          cause: error,
        },
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new PonchoError(
        'ERR_DISK_FULL',
        `no space left on the device while writing ${what}: ${path}`,
        {
          hint: 'Free some disk space (or choose another location) and run again.',
          cause: error,
        },
      );
    default:
      return new PonchoError(
        'ERR_FILE',
        `cannot use ${what} ${path}: ${error instanceof Error ? error.message : String(error)}`,
        { hint: 'Check the path and its permissions, then run again.', cause: error },
      );
  }
}
