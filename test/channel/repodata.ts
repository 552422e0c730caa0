/**
 * `<subdir>/repodata.json` for every subdir of the channel, from the built archives, and the
 * same records as `repodata.json.zst` and as CEP-16 shards (shards.ts): a server or a test
 * picks which of them a client sees.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuiltArchive, RepodataRecord } from './package-builder.js';
import { writeCompressedRepodata, writeShards } from './shards.js';

/** Subdirs every channel has; `osx-arm64` stays empty (a platform with no packages). */
export const CHANNEL_SUBDIRS = ['noarch', 'linux-64', 'osx-arm64'] as const;

export interface Repodata {
  info: { subdir: string };
  packages: Record<string, RepodataRecord>;
  'packages.conda': Record<string, RepodataRecord>;
  removed: string[];
  repodata_version: 1;
}

export function repodataFor(subdir: string, archives: BuiltArchive[]): Repodata {
  const repodata: Repodata = {
    info: { subdir },
    packages: {},
    'packages.conda': {},
    removed: [],
    repodata_version: 1,
  };
  const sorted = archives
    .filter((a) => a.subdir === subdir)
    .sort((a, b) => a.fileName.localeCompare(b.fileName));
  for (const archive of sorted) {
    const table = archive.format === 'conda' ? repodata['packages.conda'] : repodata.packages;
    table[archive.fileName] = archive.record;
  }
  return repodata;
}

export async function writeRepodata(
  channelDir: string,
  archives: BuiltArchive[],
  subdirs: readonly string[] = CHANNEL_SUBDIRS,
): Promise<void> {
  for (const subdir of subdirs) {
    await mkdir(join(channelDir, subdir), { recursive: true });
    const repodata = repodataFor(subdir, archives);
    await writeFile(
      join(channelDir, subdir, 'repodata.json'),
      `${JSON.stringify(repodata, null, 1)}\n`,
    );
    await writeCompressedRepodata(join(channelDir, subdir));
    await writeShards(join(channelDir, subdir), repodata);
  }
}
