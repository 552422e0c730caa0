/**
 * The command line of `poncho_package_run` (and of the older `python_package_run`).
 *
 * Hand-written on node's own tokenizer (util.parseArgs) instead of a CLI library: this code runs
 * before every task on every worker, and a library costs more to load than the whole warm path.
 * Options end at `--` or at the first word that is not an option; that word starts the command,
 * and everything after it belongs to the command (`python3 -e x` keeps its `-e`).
 */
import { parseArgs } from 'node:util';
import { UsageError } from '@poncho/core/errors';

export const DEFAULT_LOCK_WAIT_SECONDS = 300;

export interface RunArguments {
  /** Tarball or directory (`-e`). */
  environment: string;
  /** `-d/--unpack-to`: where to keep the unpacked environment; undefined means a temp folder. */
  unpackTo: string | undefined;
  /** `-w/--wait-for-lock`, in seconds. */
  waitForLockSeconds: number;
  debug: boolean;
  /** The command and its arguments, run as argv (never through a shell string). */
  command: string[];
}

export type ParsedCommandLine =
  | { kind: 'run'; args: RunArguments }
  | { kind: 'help' }
  | { kind: 'version' };

const OPTIONS = {
  environment: { type: 'string', short: 'e' },
  'unpack-to': { type: 'string', short: 'd' },
  // The reference's spelling of --unpack-to.
  u: { type: 'string', short: 'u' },
  'wait-for-lock': { type: 'string', short: 'w' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

export function helpText(program: string): string {
  const positional = program === 'python_package_run';
  return `Usage: ${program} [options] -e ENV command [args...]
${positional ? `       ${program} [options] ENV command [args...]\n` : ''}
Run a command inside a packed conda environment: unpack it (once per --unpack-to folder),
relocate it to where it was unpacked, activate it, and run the command with the caller's
stdin, stdout and stderr. The exit status is the command's.

Options:
  -e, --environment FILE|DIR  environment tarball (.tar.gz, .tar.bz2, .tar.zst, .tar.xz, .tar)
                              or an unpacked environment folder, used in place (required)
  -d, -u, --unpack-to DIR     unpack into DIR and keep it for later runs; without it a
                              temporary folder is used and removed when the command ends
  -w, --wait-for-lock SECS    how long to wait for another run unpacking into DIR
                              (default ${DEFAULT_LOCK_WAIT_SECONDS})
      --debug                 print what happens, and stack traces on errors
  -h, --help                  show this help
  -V, --version               show the version
  --                          end of options (the command starts after it)

Exit status: the command's own; 128+N if it dies from signal N; 2 usage error;
124 timed out waiting for the lock; 125 environment unusable (or another failure of the
runner); 126 command not executable; 127 command not found.
`;
}

/** Parses the arguments of `program` (its name picks the accepted forms). */
export function parseRunArguments(program: string, argv: readonly string[]): ParsedCommandLine {
  const split = splitOptions(argv);
  let values: ReturnType<typeof parseOptions>;
  try {
    values = parseOptions(split.options);
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^Unknown option/, 'unknown option'));
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const command = [...split.command];
  let environment = values.environment;
  if (values.unpackTo.length > 1) {
    throw new UsageError('--unpack-to (-d, -u) given more than once');
  }
  if (environment === undefined && program === 'python_package_run' && command.length > 0) {
    // The seeds' older form: `python_package_run ENV command...`.
    environment = command.shift();
  }
  if (environment === undefined || environment === '') {
    throw new UsageError('no environment given: use -e/--environment FILE|DIR');
  }
  if (command.length === 0) {
    throw new UsageError('no command given: put the command and its arguments after the options');
  }
  const unpackTo = values.unpackTo[0];
  if (unpackTo === '') throw new UsageError('--unpack-to needs a folder name');
  return {
    kind: 'run',
    args: {
      environment,
      unpackTo,
      waitForLockSeconds: parseSeconds(values.waitForLock),
      debug: values.debug,
      command,
    },
  };
}

/**
 * Cuts argv into the options and the command: the command starts at `--` (dropped) or at the
 * first word that is neither an option nor an option's value.
 */
function splitOptions(argv: readonly string[]): { options: string[]; command: string[] } {
  const { tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind === 'positional') {
      return { options: argv.slice(0, token.index), command: argv.slice(token.index) };
    }
    if (token.kind === 'option-terminator') {
      return { options: argv.slice(0, token.index), command: argv.slice(token.index + 1) };
    }
  }
  return { options: [...argv], command: [] };
}

function parseOptions(options: string[]) {
  const { values } = parseArgs({
    args: options,
    options: OPTIONS,
    strict: true,
    allowPositionals: false,
  });
  const unpackTo = [values['unpack-to'], values.u].filter((v): v is string => v !== undefined);
  return {
    environment: values.environment,
    unpackTo,
    waitForLock: values['wait-for-lock'],
    debug: values.debug === true,
    help: values.help === true,
    version: values.version === true,
  };
}

function parseSeconds(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LOCK_WAIT_SECONDS;
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new UsageError(`--wait-for-lock needs a number of seconds (0 or more), got '${text}'`);
  }
  return seconds;
}
