/**
 * Pinning a spec's pip section for a lock, as a build pins it: pip resolves only against a real
 * interpreter (environment markers, the distributions the conda packages already provide), so
 * the locked conda packages are installed into a build folder, the pip section is installed
 * there by the environment's own pip (installPipRequirements, the build's own step), and its
 * installation report gives the pins with the sha256 of each archive. The folder is removed.
 * Costly (an install), but the only way to pins that a build of the spec would also get.
 */
import { PonchoError } from '@poncho/core/errors';
import { usableTempDir } from '@poncho/core/fs';
import { type Lock, serializeLock } from '@poncho/core/lock';
import { withBuildFolder } from './build-folder.js';
import { hashKey } from './cache.js';
import type { InstallerOptions } from './install/index.js';
import { hostPlatform } from './install/platform.js';
import { removeDeadBuilds } from './leftovers.js';

export interface PinPipOptions extends Omit<InstallerOptions, 'channels' | 'platform' | 'compile'> {
  /** pip's package index (default: pip's own configuration, $PIP_INDEX_URL included). */
  pipIndexUrl?: string;
  /** Folders or URLs of wheels and sdists (pip's --find-links). */
  findLinks?: string[];
  /** Never contact an index (only findLinks). */
  noPipIndex?: boolean;
  /** Where the build folder is made (default: the temporary directory). */
  buildRoot?: string;
}

/**
 * `lock` (a conda solve) with its pip section pinned: `pip` as requirement-file lines with
 * hashes, `pipRequested` the distributions the section asked for. `baseDir` is the folder that
 * relative paths in the requirements are relative to (the spec's).
 */
export async function pinPipSection(
  lock: Lock,
  requirements: string[],
  baseDir: string,
  options: PinPipOptions = {},
): Promise<Lock> {
  const { pipRequested: _unpinned, ...conda } = lock;
  if (requirements.length === 0) return { ...conda, pip: [] };
  assertPipLockable(requirements, lock.platform);
  const { logger, signal } = options;
  const buildRoot = options.buildRoot ?? (await usableTempDir());
  // What killed builds left behind (Nx kills an executor outright on Ctrl-C).
  await removeDeadBuilds(buildRoot);
  const key = hashKey({ pinPip: serializeLock({ ...conda, pip: [] }) });
  return withBuildFolder(
    buildRoot,
    key,
    async (prefix) => {
      const { installLock } = await import('./install/index.js');
      logger?.info(
        `pinning the pip section: installing ${lock.packages.length} package(s) into ${prefix}`,
      );
      // No .pyc files: the folder only serves pip, and is removed.
      await installLock(lock, prefix, {
        ...options,
        channels: lock.channels,
        compile: false,
        requestedSpecs: lock.specs,
      });
      const { installPipRequirements } = await import('./pip.js');
      const installed = await installPipRequirements(prefix, requirements, {
        indexUrl: options.pipIndexUrl,
        findLinks: options.findLinks,
        noIndex: options.noPipIndex,
        baseDir,
        // Only the pins are kept: the folder is removed.
        compile: false,
        logger,
        signal,
      });
      // As a build records them (create.ts): pipRequested only beside pins.
      return {
        ...conda,
        pip: installed.pins,
        ...(installed.pins.length > 0 ? { pipRequested: installed.requested } : {}),
      };
    },
    logger,
  );
}

/**
 * pip runs the environment's python: a pip section is pinned only on a machine of the lock's
 * platform. Checked before solving, so that the refusal does not wait for a solve.
 */
export function assertPipLockable(requirements: string[], platform: string): void {
  if (requirements.length === 0 || platform === hostPlatform()) return;
  throw new PonchoError(
    'ERR_PIP_LOCK_PLATFORM',
    `cannot pin the pip section (${requirements.join(', ')}) for ${platform} on this ${hostPlatform()} machine: pip resolves by installing, with the environment's own python`,
    {
      hint: `Write the lock on a ${platform} machine, or move the pip requirements to conda packages.`,
    },
  );
}
