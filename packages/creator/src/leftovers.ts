/**
 * What a create killed with SIGKILL (or a crash of the machine) leaves behind, removed by the
 * next create so that nothing piles up in the temporary folder or next to OUT:
 * - build folders `<buildRoot>/poncho-<hash>` (whole environments), with their scratch and pip
 *   scratch folders, whose lock names a process of this machine that is gone; a build of the
 *   same packages would reuse the name, but a cache hit or another spec would never look at it;
 * - partial tarballs `.<OUT name>.tmp-<pid>-<random>` next to OUT whose process is gone.
 * (The tarball cache and the package cache clean their own leftovers under their locks.)
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { lockOwnerIsGone, processIsGone, withFileLock } from './file-lock.js';

export const BUILD_FOLDER_PREFIX = 'poncho-';
const BUILD_LOCK = /^poncho-[0-9a-f]{12}\.lock\.owner$/;

/** Removes build folders of dead creates under `buildRoot`; never fails. */
export async function removeDeadBuilds(buildRoot: string): Promise<string[]> {
  const names = await readdir(buildRoot).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => BUILD_LOCK.test(n))) {
    const lockPath = join(buildRoot, name.slice(0, -'.owner'.length));
    if (!(await lockOwnerIsGone(lockPath))) continue;
    const folder = lockPath.slice(0, -'.lock'.length);
    try {
      // Taking the lock breaks the dead owner's; a live create that got it first wins.
      await withFileLock(
        {
          lockPath,
          what: `the build folder ${folder}`,
          code: 'ERR_BUILD_LOCK',
          hint: '',
          timeoutMs: 0,
        },
        async () => {
          await rm(folder, { recursive: true, force: true });
          await rm(`${folder}.scratch`, { recursive: true, force: true });
          // pip's scratch folders of that build (`.<folder name>.pip-<random>`, see pip.ts).
          const pipScratch = `.${basename(folder)}.pip-`;
          for (const other of names.filter((n) => n.startsWith(pipScratch))) {
            await rm(join(buildRoot, other), { recursive: true, force: true });
          }
        },
      );
      removed.push(folder);
    } catch {
      // Busy or not removable: not ours to force.
    }
  }
  return removed;
}

/**
 * Removes partial tarballs of dead processes next to `out`. The pid in the name only means
 * something on this machine, so a file also has to be untouched for a minute (a live writer
 * on another machine sharing the folder keeps writing to it).
 */
export async function removeDeadOutputTemps(out: string, quietMs = 60_000): Promise<string[]> {
  const dir = dirname(out);
  const pattern = new RegExp(
    `^\\.${basename(out).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp-(\\d+)-[0-9a-f]+$`,
  );
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!pid || !processIsGone(pid)) continue;
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile() || Date.now() - info.mtimeMs < quietMs) continue;
    await rm(path, { force: true }).catch(() => undefined);
    removed.push(path);
  }
  return removed;
}
