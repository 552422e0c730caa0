/**
 * The package cache, shared by every creator on the machine (conda's layout):
 *   <pkgsDir>/<fileName>                  the verified archive
 *   <pkgsDir>/<name-version-build>/       the extracted package
 *   <pkgsDir>/<name-version-build>/info/repodata_record.json   written last: the completion marker
 * Both are created under a temporary name and renamed into place, under a per-package lock
 * (../file-lock.ts), so concurrent creators download and extract each package once and a killed
 * process never leaves an entry that looks complete.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { errnoCode, fileError, isPonchoError, PonchoError } from '@poncho/core/errors';
import type { LockedPackage } from '@poncho/core/lock';
import { withFileLock } from '../file-lock.js';
import { redactUrlCredentials } from '../url-credentials.js';
import { extractArchive } from './extract.js';
import { httpGet, httpStatusError } from './http.js';
import { verifyExtractedPackage } from './verify.js';

/** `<name>-<version>-<build>`: the archive name without its extension. */
export function packageStem(fileName: string): string {
  return fileName.replace(/\.(conda|tar\.bz2)$/, '');
}

/** Where a package is (or will be) extracted: `<pkgsDir>/<fileName without extension>/`. */
export function extractedPackageDir(pkgsDir: string, pkg: Pick<LockedPackage, 'fileName'>): string {
  return join(pkgsDir, packageStem(pkg.fileName));
}

export function archivePath(pkgsDir: string, pkg: Pick<LockedPackage, 'fileName'>): string {
  return join(pkgsDir, pkg.fileName);
}

const MARKER = join('info', 'repodata_record.json');

/** True when the package is completely extracted (its marker names the same sha256). */
export async function isExtracted(pkgsDir: string, pkg: LockedPackage): Promise<boolean> {
  try {
    const record = JSON.parse(
      await readFile(join(extractedPackageDir(pkgsDir, pkg), MARKER), 'utf8'),
    ) as { sha256?: string };
    return record.sha256 === pkg.sha256;
  } catch {
    return false;
  }
}

/**
 * What is wrong with a package that isExtracted() accepts, if anything: a file of
 * info/paths.json missing or of the wrong size, or (hashed only if changed since extraction,
 * or all with `full`) of the wrong sha256. undefined when it is intact.
 */
export async function extractedPackageDamage(
  pkgsDir: string,
  pkg: LockedPackage,
  full = false,
): Promise<string | undefined> {
  const dir = extractedPackageDir(pkgsDir, pkg);
  try {
    const marker = await stat(join(dir, MARKER));
    await verifyExtractedPackage(
      dir,
      pkg.fileName,
      full ? {} : { hashChangedAfterMs: marker.mtimeMs },
    );
    return undefined;
  } catch (error) {
    if (isPonchoError(error) && error.code === 'ERR_CORRUPT_ARCHIVE') {
      return error.message.replace(/^package \S+: /, '');
    }
    if (errnoCode(error) === 'ENOENT') return `${(error as Error).message}`;
    throw error;
  }
}

/** Holds the package's lock while `work` runs; waits (polling) while another process holds it. */
export async function withPackageLock<T>(
  pkgsDir: string,
  pkg: LockedPackage,
  work: () => Promise<T>,
): Promise<T> {
  const target = extractedPackageDir(pkgsDir, pkg);
  // PONCHO_LOCK_STALE_MS shortens the takeover delay (tests; the minimum is 2 s).
  const staleMs = Number(process.env.PONCHO_LOCK_STALE_MS) || 30_000;
  return withFileLock(
    {
      lockPath: `${target}.lock`,
      what: `${target} in the package cache`,
      code: 'ERR_PKGS_LOCK',
      hint: 'Check that the package cache folder is writable (PONCHO_PKGS_DIR).',
      staleMs,
    },
    async () => {
      await removeLeftovers(pkgsDir, pkg);
      return work();
    },
  );
}

/**
 * Temporary files of a process killed while it held this package's lock (a partial download
 * `<fileName>.part-*`, a partial extraction `.<stem>.extract-*`). Only lock holders create them,
 * so whoever holds the lock now may remove them.
 */
async function removeLeftovers(pkgsDir: string, pkg: LockedPackage): Promise<void> {
  const stem = packageStem(pkg.fileName);
  const names = await readdir(pkgsDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter(
        (name) => name.startsWith(`${pkg.fileName}.part-`) || name.startsWith(`.${stem}.extract-`),
      )
      .map((name) => rm(join(pkgsDir, name), { recursive: true, force: true })),
  );
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

export interface FetchOptions {
  offline?: boolean;
  /** Abort a download that receives nothing for this long (default 60 s). */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  onBytes?: (bytes: number) => void;
}

/** Opens the archive's bytes: from disk for file:// URLs, over HTTP otherwise. */
async function openSource(
  pkg: LockedPackage,
  options: FetchOptions,
): Promise<NodeJS.ReadableStream> {
  if (pkg.url.startsWith('file:')) {
    const path = fileURLToPath(pkg.url);
    try {
      await stat(path);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') {
        throw new PonchoError('ERR_DOWNLOAD', `package file missing from its channel: ${pkg.url}`, {
          hint: 'The channel index lists a file that is not there: re-index the channel.',
          cause: error,
        });
      }
      throw fileError(error, path, 'package archive');
    }
    return createReadStream(path);
  }
  if (options.offline) {
    throw new PonchoError(
      'ERR_OFFLINE_NO_CACHE',
      `offline, and ${pkg.fileName} is not in the package cache (${pkg.url})`,
      {
        hint: 'Run once online to fill the package cache, or drop --offline.',
      },
    );
  }
  const response = await httpGet(pkg.url, {}, options.signal);
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw httpStatusError(pkg.url, response, `package ${pkg.fileName}`);
  }
  const { Readable } = await import('node:stream');
  return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
}

/**
 * Makes sure `<pkgsDir>/<fileName>` holds the verified archive (call under the package lock).
 * Returns the number of bytes downloaded (0 when it was already there).
 */
export async function ensureArchive(
  pkgsDir: string,
  pkg: LockedPackage,
  options: FetchOptions = {},
): Promise<number> {
  const target = archivePath(pkgsDir, pkg);
  const existing = await stat(target).catch(() => null);
  if (
    existing &&
    (pkg.size === undefined || existing.size === pkg.size) &&
    (await sha256File(target)) === pkg.sha256
  ) {
    return 0;
  }
  const temp = `${target}.part-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const hash = createHash('sha256');
  let bytes = 0;
  // A server that stops sending (but keeps the connection) would hang us forever.
  const idleMs = options.idleTimeoutMs ?? idleTimeoutFromEnv();
  const controller = new AbortController();
  const forwardAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', forwardAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const armTimer = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      controller.abort(
        new PonchoError(
          'ERR_DOWNLOAD',
          `downloading ${pkg.url} stalled: no data for ${idleMs / 1000} s (${bytes} bytes received)`,
          {
            hint: 'The server or the network is stuck; try again (PONCHO_DOWNLOAD_IDLE_TIMEOUT sets the limit in seconds).',
          },
        ),
      );
    }, idleMs);
  };
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      armTimer();
      hash.update(chunk);
      bytes += chunk.length;
      options.onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
  try {
    armTimer();
    const source = await openSource(pkg, { ...options, signal: controller.signal });
    await pipeline(source, meter, createWriteStream(temp), { signal: controller.signal });
    clearTimeout(timer);
    const actual = hash.digest('hex');
    if (actual !== pkg.sha256) {
      throw new PonchoError(
        'ERR_SHA256_MISMATCH',
        `sha256 mismatch for ${pkg.url}: expected ${pkg.sha256}, got ${actual} (${bytes} bytes)`,
        {
          hint: 'The download is damaged or the channel changed the file; nothing was cached. Try again, or re-solve if the channel was updated.',
        },
      );
    }
    await rename(temp, target);
    return bytes;
  } catch (error) {
    await rm(temp, { force: true });
    const reason: unknown = controller.signal.reason;
    if (isPonchoError(reason) && !options.signal?.aborted) throw reason;
    if (isPonchoError(error) || options.signal?.aborted) throw error;
    throw new PonchoError(
      'ERR_DOWNLOAD',
      `downloading ${pkg.url} failed: ${(error as Error).message}`,
      {
        hint: 'Check the network connection and try again.',
        cause: error,
      },
    );
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', forwardAbort);
  }
}

function idleTimeoutFromEnv(): number {
  const seconds = Number(process.env.PONCHO_DOWNLOAD_IDLE_TIMEOUT);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000;
}

/** The record conda writes as `info/repodata_record.json`: index.json plus where it came from. */
async function repodataRecord(dir: string, pkg: LockedPackage): Promise<Record<string, unknown>> {
  let index: Record<string, unknown> = {};
  try {
    index = JSON.parse(await readFile(join(dir, 'info', 'index.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  } catch (error) {
    throw new PonchoError(
      'ERR_CORRUPT_ARCHIVE',
      `package ${pkg.url} has no readable info/index.json`,
      {
        hint: 'The package is broken; report it to the channel owner.',
        cause: error,
      },
    );
  }
  return withLockedFields(index, pkg);
}

/**
 * A package record (index.json, or a cached repodata_record.json) with the fields the lock
 * knows better: where this install got the package from and what it verified.
 */
export function withLockedFields(
  index: Record<string, unknown>,
  pkg: LockedPackage,
): Record<string, unknown> {
  return {
    ...index,
    name: pkg.name,
    version: pkg.version,
    build: pkg.build,
    build_number: pkg.buildNumber,
    channel: pkg.channel,
    subdir: pkg.subdir,
    fn: pkg.fileName,
    url: pkg.url,
    sha256: pkg.sha256,
    ...(pkg.md5 ? { md5: pkg.md5 } : {}),
    ...(pkg.size !== undefined ? { size: pkg.size } : {}),
    depends: pkg.depends,
    constrains: pkg.constrains ?? (index.constrains as string[] | undefined) ?? [],
  };
}

/**
 * Makes sure the package is extracted (call under the package lock, after ensureArchive).
 * A broken archive is removed from the cache so the next run downloads it anew.
 */
export async function ensureExtracted(
  pkgsDir: string,
  pkg: LockedPackage,
  options: { force?: boolean } = {},
): Promise<boolean> {
  if (!options.force && (await isExtracted(pkgsDir, pkg))) return false;
  const target = extractedPackageDir(pkgsDir, pkg);
  const temp = await mkdtemp(join(pkgsDir, `.${packageStem(pkg.fileName)}.extract-`));
  try {
    await extractArchive(archivePath(pkgsDir, pkg), temp);
    await verifyExtractedPackage(temp, pkg.url);
    const record = await repodataRecord(temp, pkg);
    // The marker is written last: a folder without it is never taken as complete. It names
    // the channel, so without the credentials of a private channel's URL.
    await writeFile(
      join(temp, MARKER),
      redactUrlCredentials(`${JSON.stringify(record, null, 2)}\n`),
    );
    // mkdtemp made it 0700: a package cache shared by several users needs it readable.
    await chmod(temp, 0o755 & ~process.umask());
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
    return true;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (
      isPonchoError(error) &&
      (error.code === 'ERR_CORRUPT_ARCHIVE' || error.code === 'ERR_UNSAFE_PATH')
    ) {
      await rm(archivePath(pkgsDir, pkg), { force: true });
    }
    throw error;
  }
}
