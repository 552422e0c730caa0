/**
 * Loading a channel subdir's repodata.json: local channels straight from disk, remote ones
 * through an on-disk cache that honours Cache-Control (max-age), ETag and Last-Modified, and is
 * used as it is when offline.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { writeFileAtomic } from '@poncho/core/fs';
import type { Logger } from '@poncho/core/log';
import type { Channel } from './channels.js';
import { httpGet, httpStatusError } from './http.js';

export interface RepodataRecord {
  name: string;
  version: string;
  build: string;
  build_number: number;
  depends?: string[];
  constrains?: string[];
  subdir?: string;
  noarch?: string;
  sha256?: string;
  md5?: string;
  size?: number;
  timestamp?: number;
  license?: string;
  [key: string]: unknown;
}

export interface SubdirRepodata {
  channel: Channel;
  subdir: string;
  url: string;
  /** file name -> record (`.conda` records win over `.tar.bz2` of the same package). */
  packages: Map<string, RepodataRecord>;
  /** The document as loaded, while `packages` still holds all of it (handed to the solver as is). */
  text?: string;
  /** Repodata v2 `info.base_url`, resolved: package URLs are `<baseUrl>/<fileName>`. */
  baseUrl?: string;
}

export interface RepodataOptions {
  cacheDir: string;
  offline?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  /** Freshness when the server sends no Cache-Control and no validators (seconds). */
  defaultTtlSeconds?: number;
}

interface CacheState {
  url: string;
  etag?: string;
  lastModified?: string;
  maxAgeSeconds?: number;
  fetchedAt: number;
}

/** Loads `<channel>/<subdir>/repodata.json`; null when the subdir does not exist (404). */
export async function loadSubdir(
  channel: Channel,
  subdir: string,
  options: RepodataOptions,
): Promise<SubdirRepodata | null> {
  const url = `${channel.url}/${subdir}/repodata.json`;
  const text = channel.localPath
    ? await readLocal(join(channel.localPath, subdir, 'repodata.json'))
    : await fetchCached(url, options);
  if (text === null) return null;
  const info: { baseUrl?: string } = {};
  const packages = parseRepodata(text, url, subdir, info);
  const loaded: SubdirRepodata = { channel, subdir, url, packages, text };
  if (info.baseUrl) loaded.baseUrl = new URL(info.baseUrl, url).href.replace(/\/+$/, '');
  return loaded;
}

async function readLocal(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw fileError(error, path, 'repodata');
  }
}

export function parseRepodata(
  text: string,
  url: string,
  subdir: string,
  info: { baseUrl?: string } = {},
): Map<string, RepodataRecord> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new PonchoError(
      'ERR_REPODATA_INVALID',
      `broken repodata at ${url}: ${(error as Error).message}`,
      {
        hint: 'The channel index is corrupt: re-index the channel (conda index) or report it to its owner.',
        cause: error,
      },
    );
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PonchoError('ERR_REPODATA_INVALID', `broken repodata at ${url}: not a JSON object`, {
      hint: 'The channel index is corrupt: re-index the channel.',
    });
  }
  const packages = new Map<string, RepodataRecord>();
  const {
    packages: tarBz2,
    'packages.conda': conda,
    info: docInfo,
  } = doc as Record<string, unknown>;
  const baseUrl = (docInfo as { base_url?: unknown } | undefined)?.base_url;
  if (typeof baseUrl === 'string' && baseUrl !== '') info.baseUrl = baseUrl;
  for (const [section, entries] of [
    ['packages', tarBz2],
    ['packages.conda', conda],
  ] as const) {
    if (entries === undefined) continue;
    if (!entries || typeof entries !== 'object' || Array.isArray(entries)) {
      throw new PonchoError(
        'ERR_REPODATA_INVALID',
        `broken repodata at ${url}: "${section}" is not an object`,
        {
          hint: 'The channel index is corrupt: re-index the channel.',
        },
      );
    }
    for (const [fileName, record] of Object.entries(entries as Record<string, unknown>)) {
      const r = record as RepodataRecord;
      if (
        !r ||
        typeof r !== 'object' ||
        typeof r.name !== 'string' ||
        typeof r.version !== 'string' ||
        typeof r.build !== 'string'
      ) {
        throw new PonchoError(
          'ERR_REPODATA_INVALID',
          `broken repodata at ${url}: record "${fileName}" lacks name, version or build`,
          {
            hint: 'The channel index is corrupt: re-index the channel.',
          },
        );
      }
      // conda's rule: the key names the package; a key for another name is a poisoned index.
      if (!fileName.startsWith(`${r.name}-`) || fileName.includes('/')) {
        throw new PonchoError(
          'ERR_REPODATA_INVALID',
          `broken repodata at ${url}: file name "${fileName}" does not match package "${r.name}"`,
          {
            hint: 'The channel index is corrupt: re-index the channel.',
          },
        );
      }
      // In place (the parsed document is ours): copying every record of a big index costs
      // seconds and hundreds of MB.
      if (typeof r.build_number !== 'number') r.build_number = Number(r.build_number ?? 0);
      if (r.subdir === undefined) r.subdir = subdir;
      packages.set(fileName, r);
    }
  }
  return packages;
}

function cacheKey(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 24);
}

async function readState(path: string): Promise<CacheState | null> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CacheState;
  } catch {
    return null;
  }
}

function maxAgeOf(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/\bno-(cache|store)\b/i.test(header)) return 0;
  const match = /\bmax-age=(\d+)/i.exec(header);
  return match ? Number(match[1]) : undefined;
}

/** The body of `url`, from the cache when fresh (or offline), else downloaded. */
async function fetchCached(url: string, options: RepodataOptions): Promise<string | null> {
  await mkdir(options.cacheDir, { recursive: true });
  const key = cacheKey(url);
  const bodyPath = join(options.cacheDir, `${key}.json`);
  const statePath = join(options.cacheDir, `${key}.state.json`);
  const state = await readState(statePath);
  const cached =
    state && state.url === url ? await readFile(bodyPath, 'utf8').catch(() => null) : null;
  const log = options.logger;

  if (options.offline) {
    if (cached !== null) return cached;
    throw new PonchoError('ERR_OFFLINE_NO_CACHE', `offline, and no cached repodata for ${url}`, {
      hint: 'Run once online to fill the repodata cache, or drop --offline.',
    });
  }
  if (cached !== null && state) {
    const hasValidators = Boolean(state.etag || state.lastModified);
    const ttl = state.maxAgeSeconds ?? (hasValidators ? 0 : (options.defaultTtlSeconds ?? 300));
    if (Date.now() - state.fetchedAt < ttl * 1000) {
      log?.debug(`repodata cache fresh: ${url}`);
      return cached;
    }
  }
  const headers: Record<string, string> = { 'accept-encoding': 'gzip, br' };
  if (cached !== null && state?.etag) headers['if-none-match'] = state.etag;
  if (cached !== null && state?.lastModified) headers['if-modified-since'] = state.lastModified;
  const response = await httpGet(url, headers, options.signal);
  const newState = (): CacheState => ({
    url,
    etag: response.headers.get('etag') ?? state?.etag,
    lastModified: response.headers.get('last-modified') ?? state?.lastModified,
    maxAgeSeconds: maxAgeOf(response.headers.get('cache-control')),
    fetchedAt: Date.now(),
  });
  if (response.status === 304 && cached !== null) {
    log?.debug(`repodata not modified: ${url}`);
    await response.body?.cancel();
    await writeFileAtomic(statePath, JSON.stringify(newState()), { what: 'repodata cache state' });
    return cached;
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return null;
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw httpStatusError(url, response, 'repodata');
  }
  const text = await response.text();
  log?.debug(`repodata downloaded: ${url} (${text.length} bytes)`);
  // Body first, state last: a state never describes a body that is not there.
  await writeFileAtomic(bodyPath, text, { what: 'repodata cache' });
  await writeFileAtomic(statePath, JSON.stringify(newState()), { what: 'repodata cache state' });
  return text;
}
