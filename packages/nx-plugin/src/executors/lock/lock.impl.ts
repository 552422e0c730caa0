/**
 * `@poncho/nx-plugin:lock`: keeps the project's lock file in step with its spec, as npm and
 * pixi keep theirs: an existing lock that still satisfies the spec is kept (no solve, no
 * network), a spec that needs other packages is solved again, `--update` solves again whatever,
 * and `--locked` (the default when $CI is set) fails instead of changing the file, so that CI
 * builds exactly what was committed. A pip section is locked as exact pins with hashes, which
 * takes an install (lockSpec); while the spec's pip requirements are those the pins came from,
 * the lock is kept without one.
 */
import { PonchoError } from '@poncho/core/errors';
import { writeFileAtomic } from '@poncho/core/fs';
import type { Lock } from '@poncho/core/lock';
import { condaDependencies } from '@poncho/core/spec';
import {
  hostPlatform,
  lockFileText,
  lockSatisfiesSpec,
  lockSpec,
  readSpecSource,
} from '@poncho/creator';
import { LOCK_FILE_NAME, resolveChannel } from '../../config.js';
import { portableLockText, readLockFile } from '../../lock-file.js';
import { type ExecutorContext, logger } from '../../nx.js';
import { createNxLogger } from '../nx-logger.js';
import {
  display,
  type ExecutorResult,
  fromWorkspace,
  inCi,
  loadConfig,
  resolveChannels,
  runExecutorBody,
} from '../shared.js';
import type { LockExecutorOptions } from './schema.js';

export default async function lockExecutor(
  options: LockExecutorOptions,
  context: ExecutorContext,
): Promise<ExecutorResult> {
  return runExecutorBody('lock', async () => {
    const loaded = await loadConfig(context, options.config);
    const specPath = fromWorkspace(context, options.spec);
    const lockFile = fromWorkspace(context, options.lockFile);
    const shown = display(context, lockFile);
    const locked = options.locked ?? inCi();
    if (locked && options.update) {
      throw new PonchoError('ERR_NX_LOCK_USAGE', '--update and --locked exclude each other', {
        hint: 'Update the lock on a machine that may change it: --update --locked=false (in CI: CI= or --locked=false).',
      });
    }
    const read = await readSpecSource(specPath);
    if (read.kind !== 'spec') {
      throw new PonchoError('ERR_NX_LOCK_SPEC', `${display(context, specPath)} is not a spec`, {
        hint: 'Point "spec" at the env.json the analyze target writes.',
      });
    }
    const { spec } = read;
    // The spec's folder channels are relative to the workspace root (the analyze executor
    // writes them so).
    const channels =
      resolveChannels(context, options.channels, loaded) ??
      spec.conda.channels.map((c) => resolveChannel(c, context.root));
    const platform = options.platform ?? loaded.config.platform ?? hostPlatform();
    const write = async (text: string, what: string) => {
      await writeFileAtomic(lockFile, text, { what: 'lock file', mkdirs: true });
      logger.info(`${what}: ${shown}`);
    };
    const refuse = (why: string) =>
      new PonchoError('ERR_NX_LOCKED', `${shown} would have to change: ${why}`, {
        hint: `Run lock-env where the lock may change (nx run <project>:lock-env${inCi() ? ' --locked=false' : ''}) and commit ${LOCK_FILE_NAME}.`,
      });

    const existing = await readLockFile(lockFile).catch((error) => {
      if (locked) throw error;
      logger.warn(`warning: ${(error as Error).message}; solving again`);
      return undefined;
    });
    let keepConda: Lock | undefined;
    if (existing && !options.update) {
      const satisfaction = lockSatisfiesSpec(existing.source.lock, spec, {
        channels,
        platform,
        recordedSpec: existing.source.spec,
      });
      if (satisfaction.satisfied) {
        // Same packages; the spec it records follows the spec (pack-env builds from this file).
        const text = portable(
          lockFileText({ ...existing.source.lock, specs: condaDependencies(spec) }, spec),
          lockFile,
          context,
        );
        const count = existing.source.lock.packages.length;
        if (text === existing.text) {
          logger.info(`${shown} is up to date (${count} package(s), no solve)`);
          return { success: true };
        }
        if (locked) throw refuse('the spec it records changed (its packages still satisfy it)');
        await write(text, `Kept the ${count} locked package(s), recorded the new spec`);
        return { success: true };
      }
      if (locked) throw refuse(satisfaction.reason);
      if (satisfaction.condaSatisfied) {
        // As pixi: a pip edit changes the pip pins, not the conda packages (a channel's new
        // releases come in through --update only).
        keepConda = existing.source.lock;
        logger.info(
          `${shown} no longer satisfies the spec (${satisfaction.reason}): pinning the pip section again, keeping the locked conda packages`,
        );
      } else {
        logger.info(`${shown} no longer satisfies the spec (${satisfaction.reason}): solving`);
      }
    } else if (!existing && locked) {
      throw refuse('it does not exist');
    }
    const solved = await lockSpec(read, {
      channels,
      platform,
      offline: options.offline,
      logger: createNxLogger('info'),
      ...(keepConda ? { keepConda } : {}),
    });
    const pins = solved.lock.pip.length;
    await write(
      portable(solved.text, lockFile, context),
      `${keepConda ? 'Kept the' : options.update ? 'Updated' : 'Solved'} ${solved.lock.packages.length}${keepConda ? ' locked' : ''} package(s)` +
        (pins > 0 ? ` and pinned ${pins} pip package(s)` : '') +
        ` for ${platform}`,
    );
    return { success: true };
  });
}

function portable(text: string, lockFile: string, context: ExecutorContext): string {
  return portableLockText(text, lockFile, context.root);
}
