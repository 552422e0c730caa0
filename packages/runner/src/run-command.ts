/**
 * Runs the command as a child with the caller's stdin, stdout and stderr, and reports its
 * status the way a shell does (128+N for a death by signal N). The runner stays the parent,
 * so it can remove a temporary environment afterwards.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { PonchoError } from '@poncho/core/errors';
import { RunnerExitCode } from './exit-codes.js';

export interface CommandRun {
  /** Resolves with the exit status (0-255, or 128+N). */
  status: Promise<number>;
  /** Sends a signal to the command. */
  kill(signal: NodeJS.Signals): void;
}

export function startCommand(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  shown: string,
): CommandRun {
  const child = spawn(file, args, { stdio: 'inherit', env });
  const status = new Promise<number>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(spawnError(error, shown, env.PATH)),
    );
    child.once('exit', (code, signal) => {
      if (signal) resolve(RunnerExitCode.signalBase + (constants.signals[signal] ?? 0));
      else resolve(code ?? 0);
    });
  });
  return {
    status,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

function spawnError(
  error: NodeJS.ErrnoException,
  command: string,
  path: string | undefined,
): PonchoError {
  if (error.code === 'ENOENT') {
    return new PonchoError('ERR_COMMAND_NOT_FOUND', `command not found: ${command}`, {
      hint: `It is neither in the environment's bin/ nor on PATH (${path ?? ''}); check its name, or add the package that provides it.`,
      exitCode: RunnerExitCode.notFound,
      cause: error,
    });
  }
  if (error.code === 'EACCES' || error.code === 'ENOEXEC' || error.code === 'EISDIR') {
    return new PonchoError(
      'ERR_COMMAND_NOT_EXECUTABLE',
      `cannot execute ${command}: ${error.message}`,
      {
        hint: 'Check that it is an executable file (chmod +x) with a valid #! line.',
        exitCode: RunnerExitCode.notExecutable,
        cause: error,
      },
    );
  }
  return new PonchoError('ERR_COMMAND_START', `cannot start ${command}: ${error.message}`, {
    hint: 'The system refused to start it: check the limits on processes, memory and open files (ulimit -a).',
    exitCode: RunnerExitCode.notExecutable,
    cause: error,
  });
}
