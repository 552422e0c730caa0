/**
 * After extraction, every regular file listed in info/paths.json must have the sha256 and size
 * recorded there (conda's "safety checks"): a package whose contents disagree with its own
 * metadata is broken or tampered with, and is refused before it is marked complete.
 *
 * The same check finds a damaged package cache (a file appended to, deleted, edited): sizes
 * always, and, to keep it cheap on every build, sha256 only for files changed after the
 * package was extracted (`hashChangedAfterMs`) unless a full check is asked for.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PonchoError } from '@poncho/core/errors';
import { readPackageMetadata } from './package-metadata.js';
import { mapBounded } from './pool.js';
import { assertSafeRelativePath } from './safe-path.js';

export interface VerifyOptions {
  /** Hash only files whose mtime is later than this (ms since the epoch); default: all. */
  hashChangedAfterMs?: number;
}

export async function verifyExtractedPackage(
  dir: string,
  label: string,
  options: VerifyOptions = {},
): Promise<void> {
  const { paths } = await readPackageMetadata(dir);
  await mapBounded(paths, 8, async (entry) => {
    if (entry.path_type !== 'hardlink' || (!entry.sha256 && entry.size_in_bytes === undefined))
      return;
    const file = join(dir, assertSafeRelativePath(entry._path, `package ${label}`));
    const info = await lstat(file).catch(() => null);
    if (!info) {
      throw new PonchoError(
        'ERR_CORRUPT_ARCHIVE',
        `package ${label}: ${entry._path} is listed in info/paths.json but missing from the archive`,
        {
          hint: 'The package is broken; report it to the channel owner.',
        },
      );
    }
    if (!info.isFile()) return; // a softlink recorded as hardlink: checked when linking
    if (entry.size_in_bytes !== undefined && info.size !== entry.size_in_bytes) {
      throw mismatch(
        label,
        entry._path,
        `size ${info.size} bytes, info/paths.json says ${entry.size_in_bytes}`,
      );
    }
    const changed =
      options.hashChangedAfterMs === undefined || info.mtimeMs > options.hashChangedAfterMs;
    if (entry.sha256 && changed) {
      const hash = createHash('sha256');
      await pipeline(createReadStream(file), hash);
      const actual = hash.digest('hex');
      if (actual !== entry.sha256)
        throw mismatch(
          label,
          entry._path,
          `sha256 ${actual}, info/paths.json says ${entry.sha256}`,
        );
    }
  });
}

function mismatch(label: string, path: string, detail: string): PonchoError {
  return new PonchoError(
    'ERR_CORRUPT_ARCHIVE',
    `package ${label}: ${path} does not match its metadata (${detail})`,
    {
      hint: 'The package is broken or was tampered with; it was removed from the cache. Report it to the channel owner.',
    },
  );
}
