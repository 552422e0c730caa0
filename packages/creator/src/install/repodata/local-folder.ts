/**
 * Repodata documents of a local channel folder (a path or file:// URL): read in place, never
 * copied, except a repodata.json.zst without a repodata.json, which is decoded once into the
 * cache. Their identity (what the name index is keyed on) is the file's validators: path,
 * size, modification time and inode, so an edited or replaced file is scanned again.
 *
 *   <cacheDir>/local/<path hash>-<validators hash>.names   name index of a local document
 *   <cacheDir>/local/<path hash>-<validators hash>.json    a decoded repodata.json.zst
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { errnoCode, fileError } from '@poncho/core/errors';
import { tempSibling } from '@poncho/core/fs';
import { decoder } from '../decompress.js';
import type { StoredDocument } from './document-cache.js';
import { brokenRepodata } from './record.js';

export function localDir(cacheDir: string): string {
  return join(cacheDir, 'local');
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 24);
}

/** The file at `path` as a document, or 'missing'. */
export async function localDocument(
  path: string,
  url: string,
  cacheDir: string,
  options: { decode?: 'zstd'; signal?: AbortSignal } = {},
): Promise<StoredDocument | 'missing'> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') return 'missing';
    throw fileError(error, path, 'repodata');
  }
  if (!info.isFile()) return 'missing';
  const pathHash = hash(path);
  const identity = `${pathHash}-${hash(`${info.size}\0${info.mtimeMs}\0${info.ino}\0${info.dev}`)}`;
  if (!options.decode) return { url, path, identity, downloaded: false };
  const decoded = join(localDir(cacheDir), `${identity}.json`);
  if (!(await stat(decoded).catch(() => null))) {
    await mkdir(localDir(cacheDir), { recursive: true });
    const temp = tempSibling(decoded);
    const unzstd = decoder('zstd');
    try {
      await pipeline(createReadStream(path), unzstd.stream, createWriteStream(temp), {
        signal: options.signal,
      });
      await unzstd.finished();
      await rename(temp, decoded);
    } catch (error) {
      await rm(temp, { force: true });
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      throw brokenRepodata(url, `cannot decompress: ${(error as Error).message}`, error);
    }
  }
  return { url, path: decoded, identity, downloaded: false };
}

/** Where the name index of a local document goes; older ones of the same file are removed. */
export async function localIndexPath(cacheDir: string, identity: string): Promise<string> {
  const dir = localDir(cacheDir);
  await mkdir(dir, { recursive: true });
  const pathHash = identity.split('-')[0] ?? identity;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.startsWith(`${pathHash}-`) && !name.startsWith(identity))
      await rm(join(dir, name), { force: true });
  }
  return join(dir, `${identity}.names`);
}
