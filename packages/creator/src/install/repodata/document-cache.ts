/**
 * The on-disk cache of remote repodata documents (repodata.json, repodata.json.zst, and the
 * CEP-16 shard index), with ordinary HTTP caching: fresh for Cache-Control max-age, else
 * revalidated with If-None-Match / If-Modified-Since (a 304 reuses the body); with neither
 * validators nor Cache-Control, fresh for 300 s. Offline, the cache is used as it is.
 *
 *   <cacheDir>/<hash of URL>.state.json   {url, etag, lastModified, maxAgeSeconds, fetchedAt, sha256, size}
 *   <cacheDir>/docs/<sha256>.<ext>        the body (zstd already decoded when asked), by content
 *
 * Bodies are stored under their own sha256 and the state is written last, so a state never
 * names a body that is not complete, and two processes refreshing the same URL at once cannot
 * pair one's state with the other's body. Bodies no state names any more are removed (gc).
 * Large bodies are streamed to disk (conda-forge's linux-64 repodata.json is hundreds of MB).
 *
 * A private channel's URL carries credentials (`https://user:token@host/...`, `/t/TOKEN/`):
 * they never reach the disk. States are keyed and labelled by the URL with its credentials
 * redacted, and a private channel's files are 0600 (readable by their owner only).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isPonchoError, PonchoError } from '@poncho/core/errors';
import { tempSibling, writeFileAtomic } from '@poncho/core/fs';
import type { Logger } from '@poncho/core/log';
import { redactUrlCredentials } from '../../url-credentials.js';
import { decoder } from '../decompress.js';
import { httpGet, httpStatusError } from '../http.js';

export interface DocumentCacheOptions {
  cacheDir: string;
  offline?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  /** Freshness when the server sends no Cache-Control and no validators (seconds). */
  defaultTtlSeconds?: number;
  /** Bytes received, for progress. */
  onBytes?: (bytes: number) => void;
}

export interface StoredDocument {
  url: string;
  /** The (decoded) body on disk. */
  path: string;
  /** Names the body's content: its sha256 (remote) or its file's validators (local). */
  identity: string;
  /** True when the body was downloaded now (not served from the cache or a 304). */
  downloaded: boolean;
}

/** The document does not exist (404), or, offline, it is not in the cache. */
export type DocumentMiss = 'missing' | 'not-cached';

interface CacheState {
  url: string;
  /** The server answered 404: remembered as long as a body would be fresh. */
  missing?: boolean;
  etag?: string;
  lastModified?: string;
  maxAgeSeconds?: number;
  fetchedAt: number;
  sha256: string;
  size: number;
  ext: string;
}

export function documentsDir(cacheDir: string): string {
  return join(cacheDir, 'docs');
}

function stateKey(url: string): string {
  return createHash('sha256').update(redactUrlCredentials(url)).digest('hex').slice(0, 24);
}

/** A URL with credentials names a private channel: its cache files are its owner's only. */
function fileMode(url: string): number {
  return redactUrlCredentials(url) === url ? 0o644 : 0o600;
}

function statePath(cacheDir: string, url: string): string {
  return join(cacheDir, `${stateKey(url)}.state.json`);
}

async function readState(path: string, url: string): Promise<CacheState | null> {
  try {
    const state = JSON.parse(await readFile(path, 'utf8')) as CacheState;
    return state.url === redactUrlCredentials(url) &&
      (typeof state.sha256 === 'string' || state.missing === true)
      ? state
      : null;
  } catch {
    return null;
  }
}

function bodyPath(cacheDir: string, state: Pick<CacheState, 'sha256' | 'ext'>): string {
  return join(documentsDir(cacheDir), `${state.sha256}.${state.ext}`);
}

function maxAgeOf(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/\bno-(cache|store)\b/i.test(header)) return 0;
  const match = /\bmax-age=(\d+)/i.exec(header);
  return match ? Number(match[1]) : undefined;
}

/**
 * The document at `url` on disk: from the cache when fresh (or offline), after a 304, or
 * downloaded now. `decode: 'zstd'` stores the decompressed bytes (`ext` names what is stored).
 */
export async function fetchDocument(
  url: string,
  ext: string,
  options: DocumentCacheOptions & { decode?: 'zstd' },
): Promise<StoredDocument | DocumentMiss> {
  const { cacheDir, logger: log } = options;
  await mkdir(documentsDir(cacheDir), { recursive: true });
  const stateFile = statePath(cacheDir, url);
  const state = await readState(stateFile, url);
  const cached =
    state &&
    !state.missing &&
    (await stat(bodyPath(cacheDir, state)).catch(() => null))?.size === state.size
      ? state
      : null;
  const freshFor = (s: CacheState) => {
    const hasValidators = Boolean(s.etag || s.lastModified);
    const ttl = s.maxAgeSeconds ?? (hasValidators ? 0 : (options.defaultTtlSeconds ?? 300));
    return Date.now() - s.fetchedAt < ttl * 1000;
  };
  // A remembered 404 (e.g. no shard index on this channel) spares a request per solve.
  if (state?.missing && (options.offline || freshFor(state))) return 'missing';
  const hit = (s: CacheState, downloaded = false): StoredDocument => ({
    url,
    path: bodyPath(cacheDir, s),
    identity: s.sha256,
    downloaded,
  });

  if (options.offline) return cached ? hit(cached) : 'not-cached';
  if (cached && freshFor(cached)) {
    log?.debug(`repodata cache fresh: ${url}`);
    return hit(cached);
  }
  const headers: Record<string, string> = { 'accept-encoding': 'gzip, br' };
  if (cached?.etag) headers['if-none-match'] = cached.etag;
  if (cached?.lastModified) headers['if-modified-since'] = cached.lastModified;
  const response = await httpGet(url, headers, options.signal);
  const stateOptions = { what: 'repodata cache state', mode: fileMode(url) };
  const validators = () => ({
    url: redactUrlCredentials(url),
    etag: response.headers.get('etag') ?? undefined,
    lastModified: response.headers.get('last-modified') ?? undefined,
    maxAgeSeconds: maxAgeOf(response.headers.get('cache-control')),
    fetchedAt: Date.now(),
  });
  if (response.status === 304 && cached) {
    log?.debug(`repodata not modified: ${url}`);
    await response.body?.cancel();
    const refreshed: CacheState = {
      ...cached,
      ...validators(),
      etag: response.headers.get('etag') ?? cached.etag,
      lastModified: response.headers.get('last-modified') ?? cached.lastModified,
    };
    await writeFileAtomic(stateFile, JSON.stringify(refreshed), stateOptions);
    return hit(refreshed);
  }
  if (response.status === 404) {
    await response.body?.cancel();
    const missing = { ...validators(), missing: true, sha256: '', size: 0, ext };
    await writeFileAtomic(stateFile, JSON.stringify(missing), stateOptions);
    return 'missing';
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw httpStatusError(url, response, 'repodata');
  }
  const body = Readable.fromWeb(response.body as WebReadableStream);
  const { sha256, size } = await storeBody(cacheDir, body, ext, url, options);
  const fresh: CacheState = { ...validators(), sha256, size, ext };
  log?.debug(`repodata downloaded: ${url} (${size} bytes stored)`);
  await writeFileAtomic(stateFile, JSON.stringify(fresh), stateOptions);
  return hit(fresh, true);
}

/** Streams `body` (decoded if asked) into docs/<sha256>.<ext>; returns its sha256 and size. */
async function storeBody(
  cacheDir: string,
  body: Readable,
  ext: string,
  url: string,
  options: DocumentCacheOptions & { decode?: 'zstd' },
): Promise<{ sha256: string; size: number }> {
  const temp = tempSibling(join(documentsDir(cacheDir), `incoming.${ext}`));
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      options.onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
  const digest = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const unzstd = options.decode === 'zstd' ? decoder('zstd') : undefined;
  try {
    const stages = unzstd
      ? [body, count, unzstd.stream, digest, createWriteStream(temp, { mode: fileMode(url) })]
      : [body, count, digest, createWriteStream(temp, { mode: fileMode(url) })];
    await (pipeline as (...streams: unknown[]) => Promise<void>)(...stages, {
      signal: options.signal,
    });
    await unzstd?.finished();
    const sha256 = hash.digest('hex');
    await rename(temp, bodyPath(cacheDir, { sha256, ext }));
    return { sha256, size };
  } catch (error) {
    await rm(temp, { force: true });
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    if (isPonchoError(error)) throw error;
    throw new PonchoError(
      'ERR_DOWNLOAD',
      `downloading ${url} failed: ${(error as Error).message}`,
      {
        hint: 'Check the network connection and try again.',
        cause: error,
      },
    );
  }
}

/**
 * Removes cached bodies (and the files derived from them, e.g. name indexes) that no state
 * names any more. A body another process is about to read may go too: readers treat a
 * missing body as a cache miss. `keep` lists extra identities still in use (local documents).
 */
export async function collectDocuments(
  cacheDir: string,
  keep: Iterable<string> = [],
): Promise<number> {
  const live = new Set(keep);
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith('.state.json')) continue;
    try {
      const state = JSON.parse(await readFile(join(cacheDir, name), 'utf8')) as CacheState;
      if (typeof state.sha256 === 'string' && !state.missing) live.add(state.sha256);
    } catch {
      // a state being replaced right now: its body is kept by the next gc's look
    }
  }
  const dir = documentsDir(cacheDir);
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const identity = name.split('.')[0] ?? '';
    if (name.startsWith('.') || live.has(identity)) continue;
    await rm(join(dir, name), { force: true });
    removed += 1;
  }
  return removed;
}

/** The cached bodies of a kind (`ext`), with the URL each was fetched from. */
export async function stateBodies(
  cacheDir: string,
  ext: string,
): Promise<Array<{ url: string; path: string }>> {
  const found: Array<{ url: string; path: string }> = [];
  for (const name of await readdir(cacheDir).catch(() => [] as string[])) {
    if (!name.endsWith('.state.json')) continue;
    try {
      const state = JSON.parse(await readFile(join(cacheDir, name), 'utf8')) as CacheState;
      if (state.ext === ext && typeof state.sha256 === 'string' && !state.missing)
        found.push({ url: state.url, path: bodyPath(cacheDir, state) });
    } catch {
      // being replaced: skipped
    }
  }
  return found;
}
