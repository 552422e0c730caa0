/**
 * CEP-16 shards: `<shards_base_url><hex sha256>.msgpack.zst`, named by the sha256 of their
 * compressed bytes. Remote shards are cached on disk under that name forever (content
 * addressed: never revalidated) after their bytes were checked against it; shards of local
 * folders are read in place (and checked too). Shards that no cached index names any more are
 * removed by collectShards().
 *
 *   <cacheDir>/shards/<hex sha256>.msgpack.zst
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { tempSibling } from '@poncho/core/fs';
import { httpGet, httpStatusError } from '../http.js';

export interface ShardFetchOptions {
  cacheDir: string;
  offline?: boolean;
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
}

export function shardsDir(cacheDir: string): string {
  return join(cacheDir, 'shards');
}

function cachedShardPath(cacheDir: string, sha256: string): string {
  return join(shardsDir(cacheDir), `${sha256}.msgpack.zst`);
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function mismatch(url: string, expected: string, actual: string, size: number): PonchoError {
  return new PonchoError(
    'ERR_SHA256_MISMATCH',
    `shard ${url} does not match its name: expected sha256 ${expected}, got ${actual} (${size} bytes)`,
    {
      hint: 'The channel or a proxy serves a damaged shard; nothing was cached. Try again later, or report it to the channel owner.',
    },
  );
}

/** The compressed bytes of the shard `sha256` at `url`, checked against the hash. */
export async function loadShard(
  url: string,
  sha256: string,
  options: ShardFetchOptions,
): Promise<{ bytes: Uint8Array; downloaded: boolean }> {
  if (url.startsWith('file:')) {
    const path = fileURLToPath(url);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') {
        throw new PonchoError('ERR_DOWNLOAD', `shard missing from its channel: ${url}`, {
          hint: 'The channel index names a shard that is not there: re-index the channel.',
          cause: error,
        });
      }
      throw fileError(error, path, 'repodata shard');
    }
    const actual = sha256Of(bytes);
    if (actual !== sha256) throw mismatch(url, sha256, actual, bytes.length);
    return { bytes, downloaded: false };
  }
  const cached = cachedShardPath(options.cacheDir, sha256);
  const hit = await readFile(cached).catch(() => null);
  // Written only after the check, renamed into place: a cached shard is whole and right.
  if (hit) return { bytes: hit, downloaded: false };
  if (options.offline) {
    throw new PonchoError('ERR_OFFLINE_NO_CACHE', `offline, and no cached shard for ${url}`, {
      hint: 'Run once online to fill the repodata cache, or drop --offline.',
    });
  }
  const response = await httpGet(url, {}, options.signal);
  if (!response.ok) {
    await response.body?.cancel();
    throw httpStatusError(url, response, 'repodata shard');
  }
  let bytes: Buffer;
  try {
    bytes = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    throw new PonchoError(
      'ERR_DOWNLOAD',
      `downloading ${url} failed: ${(error as Error).message}`,
      {
        hint: 'Check the network connection and try again.',
        cause: error,
      },
    );
  }
  options.onBytes?.(bytes.length);
  const actual = sha256Of(bytes);
  if (actual !== sha256) throw mismatch(url, sha256, actual, bytes.length);
  await mkdir(shardsDir(options.cacheDir), { recursive: true });
  const temp = tempSibling(cached);
  try {
    await writeFile(temp, bytes);
    await rename(temp, cached);
  } catch (error) {
    await rm(temp, { force: true });
    throw fileError(error, cached, 'repodata shard cache');
  }
  return { bytes, downloaded: true };
}

/** Removes cached shards whose hash is not in `live`; returns how many went. */
export async function collectShards(cacheDir: string, live: Set<string>): Promise<number> {
  let removed = 0;
  for (const name of await readdir(shardsDir(cacheDir)).catch(() => [] as string[])) {
    const hash = name.split('.')[0] ?? '';
    // Temporary files of a running download start with a dot; leave them to their owner.
    if (name.startsWith('.') || live.has(hash)) continue;
    await rm(join(shardsDir(cacheDir), name), { force: true });
    removed += 1;
  }
  return removed;
}
