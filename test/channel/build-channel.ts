/** Builds the whole test channel into a folder: every package, then the repodata. */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type BuiltArchive, buildPackage } from './package-builder.js';
import { channelPackages } from './packages.js';
import { writeRepodata } from './repodata.js';

/** Builds the channel into `dir` (created; its `.work/` staging folder is removed at the end). */
export async function buildChannel(dir: string): Promise<BuiltArchive[]> {
  const work = join(dir, '.work');
  await mkdir(work, { recursive: true });
  const archives: BuiltArchive[] = [];
  for (const definition of await channelPackages()) {
    archives.push(...(await buildPackage(definition, dir, work)));
  }
  await writeRepodata(dir, archives);
  await rm(work, { recursive: true, force: true });
  return archives;
}
