/**
 * `poncho_package_run` as a library function: prepare the environment, activate it, run the
 * command, clean up. Signals: SIGINT, SIGTERM and SIGHUP are passed on to the command while it
 * runs; before it starts they stop the unpacking, which cleans up after itself.
 */

import { constants } from 'node:os';
import { isatty } from 'node:tty';
import { ENVIRONMENT_ERRNOS, environmentFault } from '@poncho/core/cli';
import { ExitCode, PonchoError } from '@poncho/core/errors';
import { createLogger, type Logger } from '@poncho/core/log';
import { activatedEnv, activationScripts, commandLine } from './activate.js';
import { type PreparedEnvironment, prepareEnvironment } from './environment.js';
import { RunnerExitCode } from './exit-codes.js';
import type { LauncherClaim } from './launcher-claim.js';
import { type CommandRun, startCommand } from './run-command.js';

export interface RunOptions {
  /** Tarball or environment folder. */
  environment: string;
  /** Keep the unpacked environment in this folder; undefined: a temporary folder. */
  unpackTo?: string | undefined;
  /** Seconds to wait for another run unpacking into `unpackTo` (default 300). */
  waitForLockSeconds?: number;
  /** The command and its arguments. */
  command: string[];
  log?: Logger;
  /** The lock of `unpackTo` that bin/launch.sh claimed before starting the CLI. */
  claim?: LauncherClaim | undefined;
  /** Time already spent waiting for the lock (by bin/launch.sh): it counts against the wait. */
  waitedMs?: number;
  /**
   * SIGINT was ignored when the run started (`cmd &` in a script): the runner ignores it and
   * the command starts with it ignored, as sh and Python keep it.
   */
  ignoreSigint?: boolean;
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Runs `command` in the environment and resolves with its exit status. */
export async function runInEnvironment(options: RunOptions): Promise<number> {
  const log = options.log ?? createLogger({ prefix: 'poncho_package_run', level: 'warn' });
  if (options.command.length === 0)
    throw new PonchoError('ERR_NO_COMMAND', 'no command to run', {
      hint: 'Pass the command and its arguments, e.g. ["python3", "task.py"].',
    });
  const controller = new AbortController();
  let command: CommandRun | undefined;
  // Ctrl-C on a terminal reaches the whole foreground process group, the command included:
  // passing SIGINT on as well would deliver it twice.
  // (isatty, not process.stdin.isTTY: that getter builds a stream object for stdin, which the
  // runner never reads; the command inherits the descriptor.)
  const onTerminal = isatty(0) || isatty(1) || isatty(2);
  const onSignal = (signal: NodeJS.Signals) => {
    if (command) {
      if (!(signal === 'SIGINT' && onTerminal)) command.kill(signal);
      return;
    }
    const status = RunnerExitCode.signalBase + (constants.signals[signal] ?? 0);
    controller.abort(
      new PonchoError(
        'ERR_INTERRUPTED',
        `interrupted by ${signal} while preparing the environment`,
        {
          exitCode: status,
        },
      ),
    );
  };
  const signals = options.ignoreSigint
    ? FORWARDED_SIGNALS.filter((signal) => signal !== 'SIGINT')
    : FORWARDED_SIGNALS;
  const ignore = () => {};
  if (options.ignoreSigint) process.on('SIGINT', ignore);
  for (const signal of signals) process.on(signal, onSignal);

  let prepared: PreparedEnvironment | undefined;
  try {
    prepared = await prepareEnvironment({
      environment: options.environment,
      unpackTo: options.unpackTo,
      waitForLockSeconds: options.waitForLockSeconds ?? 300,
      waitedMs: options.waitedMs,
      signal: controller.signal,
      log,
      claim: options.claim,
    }).catch((error: unknown) => {
      throw asRunnerFailure(error);
    });
    const scripts = await activationScripts(prepared.prefix);
    const { file, args } = commandLine(scripts, options.command, {
      ignoreSigint: options.ignoreSigint === true,
    });
    log.debug(
      `running ${JSON.stringify(options.command)} in ${prepared.prefix}${scripts.length ? ` after ${scripts.length} activation script(s)` : ''}`,
    );
    controller.signal.throwIfAborted(); // a signal that came before the command exists
    command = startCommand(file, args, activatedEnv(prepared.prefix), options.command[0] as string);
    const status = await command.status;
    log.debug(`command exited with status ${status}`);
    return status;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
    process.off('SIGINT', ignore);
    await prepared?.dispose();
  }
}

/**
 * Failures before the command starts end the runner with 125 (not the generic 1, which the
 * command itself could have returned), unless they carry a status of their own (124, 128+N).
 */
function asRunnerFailure(error: unknown): unknown {
  if (!(error instanceof PonchoError)) return asEnvironmentFault(error);
  if (error.exitCode !== ExitCode.failure) return error;
  return new PonchoError(error.code, error.message, {
    hint: error.hint,
    cause: error.cause,
    exitCode: RunnerExitCode.environment,
  });
}

/**
 * The machine's faults (a full disk, a read-only or vanished folder, too many open files) are
 * not bugs in the runner, wherever they surface: 125 with the path the system named, not 70.
 * Before the command runs, a vanished or too long path is the worker's too.
 */
const RUNNER_ENVIRONMENT_ERRNOS: ReadonlySet<string> = new Set([
  ...ENVIRONMENT_ERRNOS,
  'ENOENT',
  'ENOTDIR',
  'ENOMEM',
  'ENAMETOOLONG',
  'ELOOP',
  'EXDEV',
  'ESTALE',
]);

function asEnvironmentFault(error: unknown): unknown {
  return environmentFault(error, RunnerExitCode.environment, RUNNER_ENVIRONMENT_ERRNOS) ?? error;
}
