/**
 * CEP-16 sharded repodata for a channel subdir, written from its repodata.json content:
 *   <subdir>/repodata_shards.msgpack.zst   zstd(msgpack({version: 1, info, shards: {name: sha256 bytes}}))
 *   <subdir>/shards/<sha256>.msgpack.zst   zstd(msgpack({packages, "packages.conda", removed})), one per name
 * `sha256` and `md5` inside records are raw bytes, and a shard is named by the sha256 of its
 * compressed bytes, as conda-forge serves them. Also `repodata.json.zst` beside repodata.json.
 * Compression runs the `zstd` CLI once per batch of files (the bench writes ~30,000 shards).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encode } from '@msgpack/msgpack';

const run = promisify(execFile);

export interface RepodataLike {
  info?: { subdir?: string };
  packages: Record<string, object>;
  'packages.conda': Record<string, object>;
}

/** Fixed so that the channel's bytes do not depend on when it was built. */
const CREATED_AT = '2026-01-01T00:00:00Z';
const BATCH = 2000;

/** Compresses each file to `<file>.zst` (level 10) and removes the inputs. */
export async function zstdFiles(files: string[]): Promise<void> {
  for (let i = 0; i < files.length; i += BATCH) {
    await run('zstd', ['-q', '-f', '-10', '--rm', ...files.slice(i, i + BATCH)], {
      maxBuffer: 16 * 1024 * 1024,
    });
  }
}

function asBytes(record: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(record as Record<string, unknown>) };
  for (const key of ['sha256', 'md5']) {
    if (typeof out[key] === 'string') out[key] = Buffer.from(out[key] as string, 'hex');
  }
  return out;
}

function nameOf(fileName: string, record: Record<string, unknown>): string {
  return typeof record.name === 'string' ? record.name : fileName.split('-').slice(0, -2).join('-');
}

/** Writes one shard, uncompressed, to `path` (publishShards compresses and names it). */
export async function writeRawShard(
  path: string,
  tables: { packages: Record<string, object>; 'packages.conda': Record<string, object> },
): Promise<void> {
  const shard = {
    packages: {} as Record<string, unknown>,
    'packages.conda': {} as Record<string, unknown>,
    removed: [],
  };
  for (const table of ['packages', 'packages.conda'] as const) {
    for (const [fileName, record] of Object.entries(tables[table]))
      shard[table][fileName] = asBytes(record);
  }
  await writeFile(path, encode(shard));
}

/**
 * Compresses raw shards (written into `<subdirDir>/shards/` by writeRawShard), names each by
 * the sha256 of its compressed bytes, and writes the index naming them.
 */
export async function publishShards(
  subdirDir: string,
  subdir: string,
  raw: Array<{ name: string; path: string }>,
): Promise<void> {
  await zstdFiles(raw.map((r) => r.path));
  const hashes: Record<string, Uint8Array> = {};
  for (const { name, path } of [...raw].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const compressed = `${path}.zst`;
    const digest = createHash('sha256')
      .update(await readFile(compressed))
      .digest();
    hashes[name] = digest;
    await rename(compressed, join(subdirDir, 'shards', `${digest.toString('hex')}.msgpack.zst`));
  }
  const index = join(subdirDir, 'repodata_shards.msgpack');
  await writeFile(
    index,
    encode({
      version: 1,
      info: { base_url: './', shards_base_url: './shards/', subdir, created_at: CREATED_AT },
      shards: hashes,
    }),
  );
  await zstdFiles([index]);
}

/** Writes the shard index and the shards of `repodata` into `subdirDir`. */
export async function writeShards(subdirDir: string, repodata: RepodataLike): Promise<void> {
  const subdir = repodata.info?.subdir ?? 'noarch';
  const byName = new Map<
    string,
    { packages: Record<string, object>; 'packages.conda': Record<string, object> }
  >();
  for (const table of ['packages', 'packages.conda'] as const) {
    for (const fileName of Object.keys(repodata[table]).sort()) {
      const record = repodata[table][fileName] as object;
      const name = nameOf(fileName, record as Record<string, unknown>);
      let shard = byName.get(name);
      if (!shard) {
        shard = { packages: {}, 'packages.conda': {} };
        byName.set(name, shard);
      }
      shard[table][fileName] = record;
    }
  }
  const shardsDir = join(subdirDir, 'shards');
  await rm(shardsDir, { recursive: true, force: true });
  await mkdir(shardsDir, { recursive: true });
  const raw = [...byName.keys()]
    .sort()
    .map((name, i) => ({ name, path: join(shardsDir, `.raw-${i}.msgpack`) }));
  await Promise.all(raw.map(({ name, path }) => writeRawShard(path, byName.get(name) as never)));
  await publishShards(subdirDir, subdir, raw);
}

/** `repodata.json.zst` beside the subdir's repodata.json (which is kept). */
export async function writeCompressedRepodata(subdirDir: string): Promise<void> {
  await run('zstd', ['-q', '-f', '-10', join(subdirDir, 'repodata.json')]);
}
