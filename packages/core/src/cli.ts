/**
 * The one place where errors become messages and exit codes. Every poncho binary is
 * `runCli(name, main)`; nothing else calls process.exit.
 */
import { readFileSync } from 'node:fs';
import {
  ExitCode,
  errnoCode,
  fileError,
  isPonchoError,
  PonchoError,
  UsageError,
} from './errors.js';

export type CliMain = (argv: string[]) => Promise<number | undefined>;

/** Options of the error printer: `debug` adds stack traces and causes. */
export interface CliOptions {
  debug?: boolean;
}

/** Formats an error the way every poncho CLI prints it (without the trailing newline). */
export function formatError(program: string, error: unknown, options: CliOptions = {}): string {
  const lines: string[] = [];
  if (isPonchoError(error)) {
    lines.push(`${program}: error: ${error.message}`);
    if (error.hint) lines.push(`  hint: ${error.hint}`);
    if (options.debug && error.cause) lines.push(`  cause: ${describe(error.cause, true)}`);
  } else {
    lines.push(`${program}: internal error: ${describe(error, Boolean(options.debug))}`);
    if (!options.debug) lines.push(`  hint: ${BUG_HINT}`);
  }
  return lines.join('\n');
}

const BUG_HINT = 'this is a bug in poncho; run again with --debug and report the output.';

/**
 * The error as `--json` prints it on stdout: `{"error": {"code", "message", "hint"}}`, one
 * line. An error that is not a PonchoError is a bug: code ERR_INTERNAL.
 */
export function formatErrorJson(error: unknown): string {
  const body = isPonchoError(error)
    ? { code: error.code, message: error.message, hint: error.hint ?? null }
    : { code: 'ERR_INTERNAL', message: describe(error, false), hint: BUG_HINT };
  return JSON.stringify({ error: body });
}

export function exitCodeOf(error: unknown): number {
  return isPonchoError(error) ? error.exitCode : ExitCode.internal;
}

function describe(error: unknown, withStack: boolean): string {
  if (error instanceof Error) return withStack && error.stack ? error.stack : error.message;
  return String(error);
}

/**
 * Failures of the machine, not of poncho: a full disk, a read-only file system, missing
 * permissions, too many open files. One that reached runCli without being turned into a
 * PonchoError where it happened still gets a message naming the path and a failure status,
 * never exit 70.
 */
export const ENVIRONMENT_ERRNOS: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EACCES',
  'EPERM',
  'EMFILE',
  'ENFILE',
  'EIO',
]);

/**
 * A PonchoError for a system error of the machine (one of `errnos`, by default
 * ENVIRONMENT_ERRNOS) with the given exit status, else undefined.
 */
export function environmentFault(
  error: unknown,
  exitCode: number,
  errnos: ReadonlySet<string> = ENVIRONMENT_ERRNOS,
): PonchoError | undefined {
  const code = errnoCode(error);
  if (isPonchoError(error) || code === undefined || !errnos.has(code)) return;
  const path = (error as { path?: unknown }).path;
  const base =
    typeof path === 'string'
      ? fileError(error, path, 'file or folder')
      : new PonchoError('ERR_SYSTEM', `the system refused: ${describe(error, false)}`, {
          hint: 'Check the free disk space, permissions and open-file limits, then run again.',
          cause: error,
        });
  return new PonchoError(base.code, base.message, { hint: base.hint, exitCode, cause: error });
}

export interface RunCliOptions {
  /** Arguments (before `--`) that ask for JSON output: errors then go to stdout as JSON too. */
  jsonErrors?: (argv: string[]) => boolean;
  /** Exit status for faults of the machine (full disk, read-only folder); default 1. */
  environmentExitCode?: number;
}

/**
 * Runs `main` with the process arguments and exits with its status. `--debug` anywhere before
 * `--` (or PONCHO_DEBUG=1) turns on stack traces for errors.
 */
export async function runCli(
  program: string,
  main: CliMain,
  argv = process.argv.slice(2),
  options: RunCliOptions = {},
): Promise<never> {
  const dashDash = argv.indexOf('--');
  const head = dashDash < 0 ? argv : argv.slice(0, dashDash);
  const debug = head.includes('--debug') || process.env.PONCHO_DEBUG === '1';
  let status: number;
  try {
    status = (await main(argv)) ?? ExitCode.ok;
  } catch (thrown) {
    const error =
      environmentFault(thrown, options.environmentExitCode ?? ExitCode.failure) ?? thrown;
    process.stderr.write(`${formatError(program, error, { debug })}\n`);
    if (options.jsonErrors?.(head)) process.stdout.write(`${formatErrorJson(error)}\n`);
    status = exitCodeOf(error);
  }
  // Let pending stdout writes (a spec written to `-`) drain before exiting.
  process.exitCode = status;
  await new Promise<void>((resolve) => {
    if (process.stdout.writableLength === 0) resolve();
    else process.stdout.once('drain', () => resolve());
  });
  process.exit(status);
}

/** The `version` field of a package.json, for `--version` (pass `new URL('../package.json', import.meta.url)`). */
export function packageVersion(packageJsonUrl: URL): string {
  return (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version: string }).version;
}

/**
 * Runs a commander parse (a program configured with `.exitOverride()`). Returns false when
 * commander has printed the help or the version, so the CLI should stop with status 0; turns
 * commander's own parse errors into a UsageError, so runCli reports them like every other error.
 * Recognises commander's errors by their `commander.*` codes, so core needs no commander.
 */
export function parseCommandLine(parse: () => void): boolean {
  try {
    parse();
    return true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('commander.')) throw error;
    if (
      code === 'commander.helpDisplayed' ||
      code === 'commander.version' ||
      code === 'commander.help'
    )
      return false;
    throw new UsageError(
      (error as Error).message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' '),
    );
  }
}
