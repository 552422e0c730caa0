/**
 * Extracting conda archives into a folder: `.conda` (a stored zip holding `pkg-*.tar.zst` and
 * `info-*.tar.zst`) and `.tar.bz2`, decompressed as decompress.ts decides (the zstd/bzip2 tools,
 * else JavaScript decoders: Node 20's zlib has no zstd). Every tar entry is checked before it is
 * written by the rules shared with the runner (@poncho/core/archive-paths): no absolute or `..`
 * path, no link leading out, nothing below or over a link, no device files; setuid and setgid
 * bits are dropped. Any failure is ERR_UNSAFE_PATH or ERR_CORRUPT_ARCHIVE.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveEntryGuard, findEscapingSymlink } from '@poncho/core/archive-paths';
import { isPonchoError, PonchoError } from '@poncho/core/errors';
import { type ReadEntry, x as tarExtract } from 'tar';
import yauzl from 'yauzl';
import { type Compression, decoder } from './decompress.js';

function unsafeEntry(archive: string, what: string): PonchoError {
  return new PonchoError('ERR_UNSAFE_PATH', `refusing archive ${archive}: ${what}`, {
    hint: 'The package is malformed or malicious; do not use it (report it to the channel owner).',
  });
}

function corrupt(archive: string, error: unknown, format?: Compression): PonchoError {
  if (isPonchoError(error)) return error;
  const raw = error instanceof Error ? error.message : String(error);
  // unbzip2-stream reports damage as TypeErrors about its internals.
  const message =
    format && (error instanceof TypeError || !/bzip|zstd|tar/i.test(raw))
      ? `the ${format} data is truncated or damaged (${raw})`
      : raw;
  return new PonchoError('ERR_CORRUPT_ARCHIVE', `corrupt package archive ${archive}: ${message}`, {
    hint: 'The download is damaged or the package is broken; it was removed from the cache, so run again to download it anew.',
    cause: error,
  });
}

/** A tar extractor into `dest` that refuses unsafe entries (the first refusal is thrown at the end). */
async function extractTarStream(
  source: Readable,
  compression: Compression,
  dest: string,
  archive: string,
  guard: ArchiveEntryGuard,
): Promise<void> {
  const decode = decoder(compression);
  let refusal: PonchoError | undefined;
  const check = (entry: ReadEntry): boolean => {
    if (refusal) return false;
    const reason = guard.check(entry);
    if (reason === undefined) {
      if (typeof entry.mode === 'number') entry.mode &= ~0o6000;
      return true;
    }
    refusal = unsafeEntry(archive, `entry "${entry.path}" ${reason}`);
    return false;
  };
  const unpack = tarExtract({
    cwd: dest,
    strict: true,
    preserveOwner: false,
    filter: (_path, entry) => check(entry as ReadEntry),
  });
  try {
    await pipeline([source, decode.stream, unpack]);
  } catch (error) {
    if (refusal) throw refusal;
    // The decompressor's own message ("file ends unexpectedly") says more than tar's EOF.
    await decode.finished().catch((decodeError: unknown) => {
      throw corrupt(archive, decodeError, compression);
    });
    throw corrupt(archive, error, compression);
  }
  if (refusal) throw refusal;
  await decode.finished().catch((decodeError: unknown) => {
    throw corrupt(archive, decodeError, compression);
  });
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.open(
      path,
      { lazyEntries: true, autoClose: true, strictFileNames: true },
      (error, zip) => {
        if (error || !zip) reject(error ?? new Error('cannot open zip'));
        else resolve(zip);
      },
    );
  });
}

async function extractConda(
  archive: string,
  dest: string,
  guard: ArchiveEntryGuard,
): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(archive);
  } catch (error) {
    throw corrupt(archive, error);
  }
  const inner: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const fail = (error: unknown) => {
      zip.close();
      reject(corrupt(archive, error));
    };
    zip.on('error', fail);
    zip.on('end', () => resolve());
    zip.on('entry', (entry: yauzl.Entry) => {
      if (!/^(pkg|info)-.+\.tar\.zst$/.test(entry.fileName)) {
        zip.readEntry();
        return;
      }
      inner.push(entry.fileName);
      zip.openReadStream(entry, (error, stream) => {
        if (error || !stream) {
          fail(error);
          return;
        }
        extractTarStream(stream, 'zstd', dest, `${archive} (${entry.fileName})`, guard).then(
          () => zip.readEntry(),
          (extractError) => {
            zip.close();
            reject(extractError);
          },
        );
      });
    });
    zip.readEntry();
  });
  if (
    !inner.some((name) => name.startsWith('info-')) ||
    !inner.some((name) => name.startsWith('pkg-'))
  ) {
    throw corrupt(
      archive,
      new Error(`missing ${inner.some((n) => n.startsWith('info-')) ? 'pkg' : 'info'}-*.tar.zst`),
    );
  }
}

/**
 * Extracts a `.conda` or `.tar.bz2` archive into the existing folder `dest`. The entry checks run
 * as the tar streams are read; the symbolic links are checked again on disk at the end (a link
 * can leave the folder through another link, which its text alone does not show).
 */
export async function extractArchive(archive: string, dest: string): Promise<void> {
  const guard = new ArchiveEntryGuard();
  if (archive.endsWith('.conda')) await extractConda(archive, dest, guard);
  else if (archive.endsWith('.tar.bz2'))
    await extractTarStream(createReadStream(archive), 'bzip2', dest, archive, guard);
  else {
    throw new PonchoError('ERR_CORRUPT_ARCHIVE', `unknown package archive format: ${archive}`, {
      hint: 'Conda packages end in .conda or .tar.bz2.',
    });
  }
  const escaping = await findEscapingSymlink(dest, guard.symlinks);
  if (escaping) {
    throw unsafeEntry(
      archive,
      `symlink "${escaping.path}" -> "${escaping.target}" resolves outside the destination`,
    );
  }
}
