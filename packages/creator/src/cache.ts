/**
 * The tarball cache: a finished tarball is kept under a key that hashes everything that decides
 * its bytes (the canonical spec or lock, platform, channels and channel alias, pip sources,
 * archive format and compression level). A later create of the same thing copies it (a reflink
 * where the file system can) and says so; --force rebuilds; --no-cache skips it.
 * Creates of one key take a lock (file-lock.ts), so concurrent creates build once and the
 * others are then served from the cache.
 *
 *   <cacheDir>/<key>.tar.gz | .tar   the tarball
 *   <cacheDir>/<key>.json            {sha256, size, packages, createdAt}, written last
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileError } from '@poncho/core/errors';
import { tempSibling, writeFileAtomic } from '@poncho/core/fs';
import { withFileLock } from './file-lock.js';

export interface CacheEntryInfo {
  sha256: string;
  size: number;
  packages: number;
}

export interface CacheEntry extends CacheEntryInfo {
  path: string;
}

/** $PONCHO_CACHE_DIR, else $XDG_CACHE_HOME/poncho/tarballs (XDG: ~/.cache when unset). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PONCHO_CACHE_DIR) return env.PONCHO_CACHE_DIR;
  const xdg = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(xdg, 'poncho', 'tarballs');
}

/** sha256 of a value's canonical JSON (object keys sorted at every level). */
export function hashKey(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v as object)
            .sort()
            .map((k) => [k, (v as Record<string, unknown>)[k]]),
        )
      : v,
  );
}

export class TarballCache {
  constructor(
    readonly dir: string,
    private readonly extension: string,
  ) {}

  tarballPath(key: string): string {
    return join(this.dir, `${key}${this.extension}`);
  }

  private infoPath(key: string): string {
    return join(this.dir, `${key}.json`);
  }

  async ensureDir(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
    } catch (error) {
      throw fileError(error, this.dir, 'tarball cache folder');
    }
  }

  /** Runs `work` holding the key's lock; other processes wait for it (builds take minutes). */
  async withLock<T>(
    key: string,
    work: () => Promise<T>,
    onWait?: (message: string) => void,
  ): Promise<T> {
    await this.ensureDir();
    return withFileLock(
      {
        lockPath: join(this.dir, `${key}.lock`),
        what: `the tarball cache entry ${this.tarballPath(key)}`,
        code: 'ERR_CACHE_LOCK',
        hint: 'Check that the cache folder is writable (--cache-dir), or use --no-cache.',
        onWait,
      },
      async () => {
        await this.removeLeftovers(key);
        return work();
      },
    );
  }

  /**
   * Partial tarballs of a process killed while it built this key (`.<key>.tar.gz.tmp-*`, and
   * the packer's own temporary sibling of that). Only the key's lock holder makes them, so
   * whoever holds the lock may remove them.
   */
  private async removeLeftovers(key: string): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const stem = `.${basename(this.tarballPath(key))}.tmp-`;
    await Promise.all(
      names
        .filter((name) => name.startsWith(stem) || name.startsWith(`.${stem}`))
        .map((name) => rm(join(this.dir, name), { force: true })),
    );
  }

  /** The entry, if complete (its info file exists and the tarball has the recorded size). */
  async lookup(key: string): Promise<CacheEntry | undefined> {
    let info: CacheEntryInfo;
    try {
      info = JSON.parse(await readFile(this.infoPath(key), 'utf8')) as CacheEntryInfo;
    } catch {
      return undefined;
    }
    const path = this.tarballPath(key);
    const found = await stat(path).catch(() => null);
    if (!found?.isFile() || found.size !== info.size) return undefined;
    return { ...info, path };
  }

  /** A temporary path in the cache folder to pack into (same file system as the entry). */
  tempPath(key: string): string {
    return tempSibling(this.tarballPath(key));
  }

  /** Moves a finished tarball into the cache, then writes the info file (the completion mark). */
  async store(key: string, tarball: string, info: CacheEntryInfo): Promise<CacheEntry> {
    const path = this.tarballPath(key);
    await rm(this.infoPath(key), { force: true });
    await rename(tarball, path);
    await writeFileAtomic(this.infoPath(key), `${JSON.stringify(info, null, 2)}\n`, {
      what: 'cache entry',
    });
    return { ...info, path };
  }

  async remove(key: string): Promise<void> {
    await rm(this.infoPath(key), { force: true });
    await rm(this.tarballPath(key), { force: true });
  }
}
