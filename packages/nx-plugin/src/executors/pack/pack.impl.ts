/** `@poncho/nx-plugin:pack`: environment spec -> relocatable tarball, via @poncho/creator. */
import { access, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import { pipIsPinned } from '@poncho/core/lock';
import { createTarball } from '@poncho/creator';
import { readLockFile } from '../../lock-file.js';
import { type ExecutorContext, logger } from '../../nx.js';
import { createNxLogger } from '../nx-logger.js';
import {
  display,
  type ExecutorResult,
  fromWorkspace,
  loadConfig,
  resolveChannels,
  runExecutorBody,
} from '../shared.js';
import type { PackExecutorOptions } from './schema.js';

export default async function packExecutor(
  options: PackExecutorOptions,
  context: ExecutorContext,
): Promise<ExecutorResult> {
  return runExecutorBody('pack', async () => {
    const loaded = await loadConfig(context, options.config);
    const output = fromWorkspace(context, options.output);
    const common = {
      logger: createNxLogger('info'),
      // Nx caches the tarball, keyed on the lock and the creator's version; the creator's own
      // tarball cache would only store a second copy, and would hand back a tarball built by
      // an older creator after an upgrade.
      noCache: true,
      ...(options.offline ? { offline: true } : {}),
      ...(options.pkgsDir ? { pkgsDir: fromWorkspace(context, options.pkgsDir) } : {}),
    };
    let result: Awaited<ReturnType<typeof createTarball>>;
    if (options.lockFile) {
      // The lock decides channels, platform and packages: no solve, the committed packages.
      const lockFile = fromWorkspace(context, options.lockFile);
      const lock = await readLockFile(lockFile);
      if (!lock) {
        throw new PonchoError('ERR_FILE_NOT_FOUND', `lock file not found: ${lockFile}`, {
          hint: 'Run the lock target first (pack-env depends on lock-env), or fix the "lockFile" option.',
        });
      }
      if (!pipIsPinned(lock.source.lock)) {
        // An older lock-env recorded the pip requirements as written: installed from the lock
        // (no resolution), they would miss their dependencies; solved again, the tarball would
        // not be the lock's.
        throw new PonchoError(
          'ERR_NX_LOCK_PIP_UNPINNED',
          `${display(context, lockFile)} does not pin its pip section (${lock.source.lock.pip.join(', ')}): it was written by an older lock-env`,
          {
            hint: `Run lock-env (nx run ${context.projectName ?? '<project>'}:lock-env) to pin it, and commit ${display(context, lockFile)}.`,
          },
        );
      }
      await mkdir(dirname(output), { recursive: true });
      result = await createTarball(lock.source, output, common);
    } else {
      if (!options.spec) {
        throw new PonchoError('ERR_NX_PACK_INPUT', 'nothing to build: no "lockFile" nor "spec"', {
          hint: 'Set the "lockFile" option (what lock-env writes) or the "spec" option of the target.',
        });
      }
      const specPath = fromWorkspace(context, options.spec);
      await assertSpecExists(specPath);
      await mkdir(dirname(output), { recursive: true });
      const channels = resolveChannels(context, options.channels, loaded);
      const platform = options.platform ?? loaded.config.platform;
      result = await createTarball(specPath, output, {
        ...common,
        ...(channels ? { channels } : {}),
        ...(platform ? { platform } : {}),
      });
    }
    for (const warning of result.warnings) logger.warn(`warning: ${warning}`);
    logger.info(
      `Packed ${result.packages} package(s) into ${display(context, result.path)} ` +
        `(${formatSize(result.size)}, sha256 ${result.sha256})`,
    );
    return { success: true };
  });
}

/** The creator would read a missing path as an environment name; say what is missing instead. */
async function assertSpecExists(path: string): Promise<void> {
  try {
    await access(path);
  } catch (error) {
    throw new PonchoError('ERR_FILE_NOT_FOUND', `environment spec not found: ${path}`, {
      hint: 'Run the analyze target first (pack-env depends on analyze-env), or fix the "spec" option.',
      cause: error,
    });
  }
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
