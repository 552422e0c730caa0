/**
 * Opens the repodata of every channel's subdirs (the target platform and noarch), choosing per
 * subdir what the channel offers, best first: the CEP-16 shard index, repodata.json.zst,
 * repodata.json; over HTTP through the document cache, in local folders in place. Afterwards
 * it removes cached documents and shards that nothing names any more.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { Logger } from '@poncho/core/log';
import type { Channel } from '../channels.js';
import {
  collectDocuments,
  type DocumentMiss,
  documentsDir,
  fetchDocument,
  type StoredDocument,
  stateBodies,
} from './document-cache.js';
import { localDocument, localIndexPath } from './local-folder.js';
import { MonolithicSource } from './monolithic.js';
import type { RepodataProgress } from './progress.js';
import { collectShards } from './shard-cache.js';
import { decodeShardIndex, SHARD_INDEX_FILE, ShardedSource } from './sharded.js';
import { createLimiter, type Limiter, type RepodataSource, settleAll } from './source.js';

export interface OpenOptions {
  cacheDir: string;
  offline?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  progress?: RepodataProgress;
  /** Concurrent shard downloads (default 16). */
  shardConcurrency?: number;
}

export interface ChannelSources {
  channel: Channel;
  /** The subdirs that exist, in the order asked. */
  subdirs: RepodataSource[];
}

/** What a subdir may offer, best first: [file, what is stored, decoding]. */
const CANDIDATES = [
  [SHARD_INDEX_FILE, 'shards.msgpack.zst', undefined],
  ['repodata.json.zst', 'json', 'zstd'],
  ['repodata.json', 'json', undefined],
] as const;
/** Local folders: a plain repodata.json costs nothing to read; its .zst needs decoding first. */
const LOCAL_CANDIDATES = [CANDIDATES[0], CANDIDATES[2], CANDIDATES[1]] as const;

interface Context extends OpenOptions {
  limiter: Limiter;
  /** Something was downloaded: old cache entries may now be unused. */
  changed: boolean;
}

async function openDocument(
  channel: Channel,
  subdir: string,
  file: string,
  ext: string,
  decode: 'zstd' | undefined,
  context: Context,
): Promise<StoredDocument | DocumentMiss> {
  const url = `${channel.url}/${subdir}/${file}`;
  if (channel.localPath) {
    return localDocument(join(channel.localPath, subdir, file), url, context.cacheDir, {
      decode,
      signal: context.signal,
    });
  }
  return fetchDocument(url, ext, {
    cacheDir: context.cacheDir,
    offline: context.offline,
    logger: context.logger,
    signal: context.signal,
    onBytes: (n) => context.progress?.downloaded(n),
    decode,
  });
}

/** One subdir's repodata source, or null when the channel has no such subdir. */
async function openSubdir(
  channel: Channel,
  subdir: string,
  context: Context,
): Promise<RepodataSource | null> {
  let notCached = false;
  for (const [file, ext, decode] of channel.localPath ? LOCAL_CANDIDATES : CANDIDATES) {
    const doc = await openDocument(channel, subdir, file, ext, decode, context);
    if (doc === 'not-cached') notCached = true;
    if (typeof doc === 'string') continue;
    if (doc.downloaded) context.changed = true;
    if (file === SHARD_INDEX_FILE) {
      // Kept beside the document (removed with it) or, for local folders, under local/.
      const decodedPath = channel.localPath
        ? (await localIndexPath(context.cacheDir, doc.identity)).replace(/\.names$/, '.shardnames')
        : join(documentsDir(context.cacheDir), `${doc.identity}.shardnames`);
      return ShardedSource.open(
        channel,
        subdir,
        doc.url,
        doc.path,
        { cacheDir: context.cacheDir, offline: context.offline, signal: context.signal },
        context.limiter,
        (downloaded) => context.progress?.shard(downloaded),
        decodedPath,
      );
    }
    const indexPath = channel.localPath
      ? await localIndexPath(context.cacheDir, doc.identity)
      : join(documentsDir(context.cacheDir), `${doc.identity}.names`);
    return MonolithicSource.open(channel, subdir, doc.url, doc.path, indexPath, {
      signal: context.signal,
      onScanned: (n) => context.progress?.scanned(n),
    });
  }
  if (notCached) {
    throw new PonchoError(
      'ERR_OFFLINE_NO_CACHE',
      `offline, and no cached repodata for ${channel.url}/${subdir}/repodata.json`,
      { hint: 'Run once online to fill the repodata cache, or drop --offline.' },
    );
  }
  return null;
}

export async function openChannels(
  channels: Channel[],
  subdirs: string[],
  options: OpenOptions,
): Promise<ChannelSources[]> {
  const context: Context = {
    ...options,
    limiter: createLimiter(options.shardConcurrency ?? 16),
    changed: false,
  };
  const opened = await settleAll(
    channels.map(async (channel) => {
      const found = await settleAll(subdirs.map((s) => openSubdir(channel, s, context)));
      const present = found.filter((s): s is RepodataSource => s !== null);
      if (present.length === 0) {
        throw new PonchoError(
          'ERR_CHANNEL_NOT_FOUND',
          `channel not found: ${channel.source} (no ${channel.url}/${subdirs[0]}/repodata.json nor ${channel.url}/noarch/repodata.json)`,
          {
            hint: channel.localPath
              ? 'Check the path: a channel folder holds noarch/repodata.json and <platform>/repodata.json.'
              : 'Check the channel name or URL (and the channel alias).',
          },
        );
      }
      return { channel, subdirs: present };
    }),
  );
  if (context.changed) await collectGarbage(options.cacheDir, options.logger);
  return opened;
}

/**
 * Removes cached documents no state names, and cached shards no cached shard index names.
 * Runs after an index changed (a download), not on every solve: it reads every cached index.
 */
export async function collectGarbage(cacheDir: string, logger?: Logger): Promise<void> {
  const documents = await collectDocuments(cacheDir);
  const live = new Set<string>();
  for (const { path, url } of await stateBodies(cacheDir, 'shards.msgpack.zst')) {
    try {
      for (const hash of decodeShardIndex(await readFile(path), url).shards.values())
        live.add(hash);
    } catch {
      // An unreadable index names nothing: its own shards go, and it is fetched anew.
    }
  }
  const shards = await collectShards(cacheDir, live);
  if (documents + shards > 0)
    logger?.debug(`repodata cache: removed ${documents} unused documents and ${shards} shards`);
}
