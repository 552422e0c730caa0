/**
 * The build folder: a temporary conda prefix under the build root, named after what is built
 * (`poncho-<hash>`), so that the same packages give the same prefix string inside the files.
 * One build per folder at a time (a file lock beside it); a leftover of a killed build of the
 * same name is removed first, and the folder is always removed at the end, also on failure
 * and on abort. A create builds its tarball in one; lockSpec installs a spec there to pin its
 * pip section.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@poncho/core/log';
import { withFileLock } from './file-lock.js';
import { BUILD_FOLDER_PREFIX } from './leftovers.js';

/** Runs `work` on the build folder `<buildRoot>/poncho-<key[:12]>`, then removes it. */
export function withBuildFolder<T>(
  buildRoot: string,
  key: string,
  work: (prefix: string) => Promise<T>,
  logger: Logger | undefined,
): Promise<T> {
  const prefix = join(buildRoot, `${BUILD_FOLDER_PREFIX}${key.slice(0, 12)}`);
  return withFileLock(
    {
      lockPath: `${prefix}.lock`,
      what: `the build folder ${prefix}`,
      code: 'ERR_BUILD_LOCK',
      hint: 'Check that the temporary folder is writable (TMPDIR).',
      onWait: (message) => logger?.info(message),
    },
    async () => {
      // Left over by a killed build of the same packages.
      await removeBuildFolder(prefix);
      try {
        return await work(prefix);
      } finally {
        await removeBuildFolder(prefix);
      }
    },
  );
}

async function removeBuildFolder(prefix: string): Promise<void> {
  await rm(prefix, { recursive: true, force: true });
  await rm(`${prefix}.scratch`, { recursive: true, force: true });
}
