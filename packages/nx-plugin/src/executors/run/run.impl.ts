/** `@poncho/nx-plugin:run`: a command inside a packed environment, via @poncho/runner. */
import { PonchoError } from '@poncho/core/errors';
import { runInEnvironment } from '@poncho/runner';
import { type ExecutorContext, logger } from '../../nx.js';
import { rawPositionals } from '../../raw-args.js';
import { createNxLogger } from '../nx-logger.js';
import {
  type ExecutorResult,
  fromWorkspace,
  loadConfig,
  projectRootOf,
  runExecutorBody,
} from '../shared.js';
import type { RunExecutorOptions } from './schema.js';

export default async function runExecutor(
  options: RunExecutorOptions,
  context: ExecutorContext,
): Promise<ExecutorResult> {
  return runExecutorBody('run', async () => {
    const loaded = await loadConfig(context, options.config);
    // Words after `--` (`nx run app:run-env -- foo bar`) follow the `args` option.
    const args = [...(options.args ?? []), ...rawPositionals(options._, options.unparsed)];
    const command = commandOf({ ...options, args }, loaded.config.command);
    const environment = fromWorkspace(context, options.environment);
    const unpackTo = options.unpackTo ? fromWorkspace(context, options.unpackTo) : undefined;
    const cwd = options.cwd ? fromWorkspace(context, options.cwd) : projectRootOf(context);
    // The runner starts the command in the current folder; Nx runs each task in its own
    // process, and the folder is restored for in-process runs too.
    const previous = process.cwd();
    let status: number;
    try {
      process.chdir(cwd);
      status = await runInEnvironment({
        environment,
        unpackTo,
        command,
        log: createNxLogger('warn'),
      });
    } catch (error) {
      if (
        (error as NodeJS.ErrnoException).code === 'ENOENT' &&
        (error as NodeJS.ErrnoException).syscall === 'chdir'
      ) {
        throw new PonchoError(
          'ERR_NX_CWD',
          `the working folder of the command does not exist: ${cwd}`,
          {
            hint: 'Fix the "cwd" option of the target.',
            cause: error,
          },
        );
      }
      throw error;
    } finally {
      process.chdir(previous);
    }
    if (status !== 0) {
      logger.error(
        `@poncho/nx-plugin:run: the command exited with status ${status}: ${command.join(' ')}`,
      );
      return { success: false };
    }
    return { success: true };
  });
}

/**
 * The argument vector to run: the `command` option (a shell line, since Nx parses the nx command
 * line into options and cannot pass a raw argv), else the config's argv; then `args`.
 */
export function commandOf(options: RunExecutorOptions, fromConfig: string[] | undefined): string[] {
  const args = options.args ?? [];
  if (options.command?.trim()) {
    // "$@" hands `args` to the user's command line as separate words.
    return [
      'sh',
      '-c',
      args.length > 0 ? `${options.command} "$@"` : options.command,
      'sh',
      ...args,
    ];
  }
  if (!fromConfig || fromConfig.length === 0) {
    throw new PonchoError('ERR_NX_NO_COMMAND', 'no command to run in the environment', {
      hint: 'Set "command" in poncho.json (e.g. ["python", "main.py"]) or pass --command="python main.py".',
    });
  }
  return [...fromConfig, ...args];
}
