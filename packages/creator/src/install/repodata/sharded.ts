/**
 * CEP-16 sharded repodata: `<subdir>/repodata_shards.msgpack.zst` = zstd(msgpack({version,
 * info: {base_url, shards_base_url, subdir, ...}, shards: {name: sha256 as 32 bytes}})), and
 * one shard per package name at `<shards_base_url><hex sha256>.msgpack.zst` = zstd(msgpack(
 * {packages, "packages.conda", removed})), with `sha256`/`md5` inside records as raw bytes.
 * Both URLs in `info` may be relative to the index URL; unknown keys are ignored. Only the
 * shards of names the walk reaches are fetched (shard-cache.ts).
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { decode } from '@msgpack/msgpack';
import { writeFileAtomic } from '@poncho/core/fs';
import { decompress } from 'fzstd';
import { redactUrlCredentials, restoreUrlCredentials } from '../../url-credentials.js';
import type { Channel } from '../channels.js';
import { brokenRepodata, checkRecord, type RecordsByFile } from './record.js';
import { loadShard, type ShardFetchOptions, shardsDir } from './shard-cache.js';
import { type Limiter, type RepodataSource, settleAll } from './source.js';

export const SHARD_INDEX_FILE = 'repodata_shards.msgpack.zst';

export interface ShardIndex {
  shards: Map<string, string>;
  baseUrl: string;
  shardsBaseUrl: string;
}

function hex(value: unknown): string | undefined {
  // A view, not a copy: a shard index names ~30,000 hashes.
  if (value instanceof Uint8Array)
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  return typeof value === 'string' ? value : undefined;
}

function unpack(bytes: Uint8Array, url: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = decode(decompress(bytes));
  } catch (error) {
    throw brokenRepodata(
      url,
      `${what} is not zstd-compressed msgpack: ${(error as Error).message}`,
      error,
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array)
    throw brokenRepodata(url, `${what} is not a map`);
  return value as Record<string, unknown>;
}

/** Decodes a shard index; relative URLs in it are resolved against `url`. */
export function decodeShardIndex(bytes: Uint8Array, url: string): ShardIndex {
  const doc = unpack(bytes, url, 'the shard index');
  const info = (doc.info ?? {}) as Record<string, unknown>;
  const shardsValue = doc.shards;
  if (!shardsValue || typeof shardsValue !== 'object' || Array.isArray(shardsValue))
    throw brokenRepodata(url, '"shards" is not a map');
  const shards = new Map<string, string>();
  for (const [name, hash] of Object.entries(shardsValue as Record<string, unknown>)) {
    const value = hex(hash);
    const valid =
      hash instanceof Uint8Array ? hash.byteLength === 32 : /^[0-9a-f]{64}$/.test(value ?? '');
    if (!value || !valid)
      throw brokenRepodata(url, `the shard of "${name}" is not named by a sha256`);
    shards.set(name, value);
  }
  const resolveUrl = (value: unknown, fallback: string) => {
    const text = typeof value === 'string' && value !== '' ? value : fallback;
    try {
      const resolved = new URL(text, url).href;
      return resolved.endsWith('/') ? resolved : `${resolved}/`;
    } catch (error) {
      throw brokenRepodata(url, `bad URL in info: ${text}`, error);
    }
  };
  return {
    shards,
    baseUrl: resolveUrl(info.base_url, './'),
    shardsBaseUrl: resolveUrl(info.shards_base_url, './'),
  };
}

/** Decodes one shard into checked records (sha256 and md5 as hex, as repodata.json has them). */
export function decodeShard(bytes: Uint8Array, url: string, subdir: string): RecordsByFile {
  const doc = unpack(bytes, url, 'the shard');
  const records: RecordsByFile = new Map();
  for (const table of ['packages', 'packages.conda'] as const) {
    const entries = doc[table];
    if (entries === undefined) continue;
    if (!entries || typeof entries !== 'object' || Array.isArray(entries))
      throw brokenRepodata(url, `"${table}" is not a map`);
    for (const [fileName, value] of Object.entries(entries as Record<string, unknown>)) {
      if (value && typeof value === 'object') {
        const raw = value as Record<string, unknown>;
        for (const key of ['sha256', 'md5', 'legacy_bz2_md5']) {
          if (raw[key] !== undefined) raw[key] = hex(raw[key]);
        }
        for (const key of ['size', 'timestamp', 'build_number']) {
          if (typeof raw[key] === 'bigint') raw[key] = Number(raw[key]);
        }
      }
      records.set(fileName, checkRecord(fileName, value, url, subdir));
    }
  }
  return records;
}

const DECODED_MAGIC = 'PSIX';

/**
 * The decoded index: "PSIX" | u32 header length | header JSON | 32 bytes per name. The base
 * URLs are stored without a private channel's credentials, which loading puts back from the
 * index's own URL.
 */
async function saveDecodedIndex(path: string, index: ShardIndex): Promise<void> {
  const names = [...index.shards.keys()];
  const header = Buffer.from(
    JSON.stringify({
      baseUrl: redactUrlCredentials(index.baseUrl),
      shardsBaseUrl: redactUrlCredentials(index.shardsBaseUrl),
      names,
    }),
  );
  const out = Buffer.alloc(8 + header.length + 32 * names.length);
  out.write(DECODED_MAGIC, 0, 'latin1');
  out.writeUInt32LE(header.length, 4);
  header.copy(out, 8);
  names.forEach((name, i) => {
    out.write(index.shards.get(name) as string, 8 + header.length + 32 * i, 'hex');
  });
  await writeFileAtomic(path, out, { what: 'decoded shard index' });
}

async function loadDecodedIndex(path: string, indexUrl: string): Promise<ShardIndex | null> {
  const bytes = await readFile(path).catch(() => null);
  if (!bytes || bytes.length < 8 || bytes.toString('latin1', 0, 4) !== DECODED_MAGIC) return null;
  try {
    const length = bytes.readUInt32LE(4);
    const header = JSON.parse(bytes.toString('utf8', 8, 8 + length)) as {
      baseUrl: string;
      shardsBaseUrl: string;
      names: string[];
    };
    const start = 8 + length;
    if (bytes.length !== start + 32 * header.names.length) return null;
    const shards = new Map<string, string>();
    header.names.forEach((name, i) => {
      shards.set(name, bytes.toString('hex', start + 32 * i, start + 32 * (i + 1)));
    });
    // The credentials of the index's URL (user:password@host, or /t/TOKEN): its origin and
    // its folder are the candidates; a URL they cannot restore means decoding afresh.
    const candidates = [new URL('/', indexUrl).href, indexUrl.replace(/\/[^/]*$/, '')];
    const baseUrl = restoreUrlCredentials(header.baseUrl, candidates);
    const shardsBaseUrl = restoreUrlCredentials(header.shardsBaseUrl, candidates);
    if (baseUrl === undefined || shardsBaseUrl === undefined) return null;
    return { shards, baseUrl, shardsBaseUrl };
  } catch {
    return null;
  }
}

export class ShardedSource implements RepodataSource {
  readonly kind = 'sharded';
  readonly baseUrl: string;

  constructor(
    readonly channel: Channel,
    readonly subdir: string,
    readonly url: string,
    private readonly index: ShardIndex,
    private readonly fetchOptions: ShardFetchOptions,
    private readonly limiter: Limiter,
    private readonly onShard?: (downloaded: boolean) => void,
  ) {
    this.baseUrl = index.baseUrl.replace(/\/+$/, '');
  }

  /**
   * Opens the index at `indexPath`. With `decodedPath`, the decoded index is kept there (a
   * warm solve then skips decoding ~30,000 msgpack entries: hundreds of ms).
   */
  static async open(
    channel: Channel,
    subdir: string,
    url: string,
    indexPath: string,
    fetchOptions: ShardFetchOptions,
    limiter: Limiter,
    onShard?: (downloaded: boolean) => void,
    decodedPath?: string,
  ): Promise<ShardedSource> {
    let index = decodedPath ? await loadDecodedIndex(decodedPath, url) : null;
    if (!index) {
      index = decodeShardIndex(await readFile(indexPath), url);
      if (decodedPath) await saveDecodedIndex(decodedPath, index);
    }
    return new ShardedSource(channel, subdir, url, index, fetchOptions, limiter, onShard);
  }

  has(name: string): boolean {
    return this.index.shards.has(name);
  }

  names(): Iterable<string> {
    return this.index.shards.keys();
  }

  /** Every shard hash this index names (for garbage collection). */
  hashes(): Iterable<string> {
    return this.index.shards.values();
  }

  async load(names: string[]): Promise<Map<string, RecordsByFile>> {
    const result = new Map<string, RecordsByFile>();
    await settleAll(
      names.map(async (name) => {
        const hash = this.index.shards.get(name);
        if (!hash) return;
        const records = await this.limiter.run(() => this.loadOne(hash));
        // A shard listed under one name holding another package's records is a poisoned index.
        for (const [fileName, record] of records) {
          if (record.name !== name)
            throw brokenRepodata(
              this.url,
              `the shard of "${name}" holds ${fileName} of "${record.name}"`,
            );
        }
        result.set(name, records);
      }),
    );
    return result;
  }

  private async loadOne(hash: string): Promise<RecordsByFile> {
    this.fetchOptions.signal?.throwIfAborted();
    const url = `${this.index.shardsBaseUrl}${hash}.msgpack.zst`;
    const { bytes, downloaded } = await loadShard(url, hash, this.fetchOptions);
    this.onShard?.(downloaded);
    try {
      return decodeShard(bytes, url, this.subdir);
    } catch (error) {
      if (downloaded || url.startsWith('file:')) throw error;
      // A cached shard that no longer decodes was damaged on disk: fetch it again once.
      await rm(join(shardsDir(this.fetchOptions.cacheDir), `${hash}.msgpack.zst`), { force: true });
      const again = await loadShard(url, hash, this.fetchOptions);
      this.onShard?.(again.downloaded);
      return decodeShard(again.bytes, url, this.subdir);
    }
  }
}
