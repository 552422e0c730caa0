/**
 * Safe extraction of an untrusted environment tarball into an empty folder.
 *
 * Refused (the whole extraction fails, naming the entry): paths with `..` or absolute paths,
 * symbolic links whose target leaves the folder (absolute, or `..` past the root, also through
 * other links), hard links to anything but a file extracted before, entries below a symbolic
 * link, and devices or FIFOs. setuid and setgid bits are dropped. A damaged or truncated
 * archive is an error too. The caller extracts into a folder it removes on failure, so nothing
 * is left behind.
 *
 * Tarballs poncho_package_create made (blocked gzip) inflate on the threadpool one member ahead
 * of the writing, into reused memory (blocked-gunzip.ts);
 * any other gzip (conda-pack's, a single member) inflates as one stream, on one thread.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  createReadStream,
  futimesSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ArchiveEntryGuard, normalizeArchivePath } from '@poncho/core/archive-paths';
import { isBlockedGzip } from '@poncho/core/blocked-gzip';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { type InflatingTarball, inflateBlocked } from './blocked-gunzip.js';
import { RunnerExitCode } from './exit-codes.js';
import { type TarEntry, TarReader, type TarSink } from './tar-reader.js';

/** 'blocked-gzip': the framing poncho_package_create writes (@poncho/core/blocked-gzip). */
export type Compression = 'blocked-gzip' | 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

/** Identifies the compression from the first bytes of the file. */
export async function detectCompression(path: string): Promise<Compression> {
  let head: Buffer;
  try {
    // Synchronous: 512 bytes, on a cold start's critical path.
    const fd = openSync(path, 'r');
    try {
      head = Buffer.alloc(512);
      head = head.subarray(0, readSync(fd, head, 0, 512, 0));
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    const failure = fileError(error, path, 'environment tarball');
    throw unusable(failure.message, { hint: failure.hint, cause: error });
  }
  if (isBlockedGzip(head)) return 'blocked-gzip';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  if (head.length === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'none';
  throw unusable(`${path} is not a tar archive (gzip, bzip2, xz, zstd or plain tar)`, {
    hint: 'Give -e an environment tarball made by poncho_package_create or conda-pack, or an unpacked environment folder.',
  });
}

/** External decompressors for what node's zlib cannot read (on Node 20). */
const DECOMPRESSORS: Record<'bzip2' | 'xz' | 'zstd', string[]> = {
  bzip2: ['bzip2', '-dc'],
  xz: ['xz', '-dc'],
  zstd: ['zstd', '-dcq'],
};

function unusable(message: string, options: { hint?: string; cause?: unknown } = {}): PonchoError {
  return new PonchoError('ERR_ENV_ARCHIVE', message, {
    ...options,
    exitCode: RunnerExitCode.environment,
  });
}

export interface ExtractOptions {
  signal?: AbortSignal;
  /** `tarball`'s inflating, started before (startInflating); read here, in place of the file. */
  inflating?: InflatingTarball | undefined;
  /** Rewrites some files before they are written (relocate-while-extracting.ts). */
  rewriter?: ContentRewriter | undefined;
}

/** Rewrites whole files as they are extracted, before they are written. */
export interface ContentRewriter {
  /** Whether the regular file `path` (a byte string, see tar-reader.ts) goes through rewrite(). */
  wantsWhole(path: string): boolean;
  /** What to write for the file `path`, given its whole content in the archive. */
  rewrite(path: string, content: Buffer): Buffer;
}

/**
 * Extracts `tarball` into the existing empty folder `dest`, which no one else writes to.
 *
 * tar-reader.ts parses the archive (ustar, GNU and pax headers, names kept as bytes, damage
 * detection); the files are written here with synchronous calls, which on a worker is about
 * three times less CPU than node-tar's asynchronous writer (measured: 753 files, 20 MB), and
 * the checks of EntryGuard decide before anything is written.
 */
export async function extractTarball(
  tarball: string,
  dest: string,
  options: ExtractOptions = {},
): Promise<void> {
  const { inflating } = options;
  if (inflating && inflating.path !== tarball) {
    throw new Error(`extracting ${tarball} from the inflating of ${inflating.path}`);
  }
  const compression = inflating ? 'blocked-gzip' : await detectCompression(tarball);
  const writer = new EntryWriter(dest, tarball, options.rewriter);
  const reader = new TarReader(writer);
  let decompressorError: Error | undefined;
  try {
    if (compression === 'blocked-gzip') {
      const blocks = inflating?.blocks() ?? inflateBlocked(tarball);
      await readBlocks(blocks, reader, writer, options.signal);
    } else {
      await readStream(tarball, compression, reader, writer, options.signal, (error) => {
        decompressorError = error;
      });
    }
  } catch (error) {
    writer.abort();
    if (writer.failure !== undefined) throw writeError(writer.failure, tarball, dest);
    if (options.signal?.aborted) throw options.signal.reason;
    if (decompressorError) {
      const tool = DECOMPRESSORS[compression as 'xz'][0];
      throw unusable(`cannot decompress ${tarball}: ${tool} is not installed`, {
        hint: `Install ${tool}, or pack the environment as .tar.gz.`,
        cause: decompressorError,
      });
    }
    throw damaged(tarball, error);
  }
  if (writer.failure !== undefined) throw writeError(writer.failure, tarball, dest);
  try {
    writer.finish();
  } catch (error) {
    throw writeError(error, tarball, dest);
  }
  await writer.guard.checkLinksOnDisk(dest);
}

/**
 * Feeds the blocks of a blocked-gzip tarball to the tar reader; each block's files are written
 * before its memory is used again (blocked-gunzip.ts).
 */
async function readBlocks(
  blocks: AsyncGenerator<Buffer>,
  reader: TarReader,
  writer: EntryWriter,
  signal: AbortSignal | undefined,
): Promise<void> {
  signal?.throwIfAborted();
  for await (const block of blocks) {
    signal?.throwIfAborted();
    reader.write(block);
    if (writer.failure !== undefined) throw writer.failure;
  }
  signal?.throwIfAborted();
  reader.finish();
}

/** Feeds any other tarball to the tar reader as a stream: from the file, through a decompressor. */
async function readStream(
  tarball: string,
  compression: Exclude<Compression, 'blocked-gzip'>,
  reader: TarReader,
  writer: EntryWriter,
  signal: AbortSignal | undefined,
  onDecompressorError: (error: Error) => void,
): Promise<void> {
  const source = createReadStream(tarball, { highWaterMark: 1024 * 1024 });
  const streams: Readable[] = [source];
  let decompressor: ReturnType<typeof spawn> | undefined;
  if (compression === 'gzip') {
    streams.push(source.pipe(createGunzip({ chunkSize: 256 * 1024 })));
  } else if (compression !== 'none') {
    const [command, ...args] = DECOMPRESSORS[compression];
    decompressor = spawn(command as string, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    decompressor.on('error', onDecompressorError);
    source.pipe(decompressor.stdin as NodeJS.WritableStream);
    decompressor.stdin?.on('error', () => {}); // EPIPE when the decompressor fails; reported below
    streams.push(decompressor.stdout as Readable);
  }
  const data = streams[streams.length - 1] as Readable;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      for (const stream of streams) stream.destroy();
      decompressor?.kill();
      reject(error);
    };
    writer.onError = fail;
    for (const stream of streams) stream.on('error', fail);
    data.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        reader.write(chunk);
      } catch (error) {
        fail(error);
      }
    });
    data.on('end', () => {
      if (settled) return;
      try {
        reader.finish();
      } catch (error) {
        fail(error);
        return;
      }
      settled = true;
      resolve();
    });
    if (signal) {
      if (signal.aborted) fail(signal.reason);
      signal.addEventListener('abort', () => fail(signal.reason), { once: true });
    }
  });
  if (decompressor) await decompressorExit(decompressor, compression);
}

/**
 * Writes accepted entries with synchronous file-system calls. Paths are byte strings (see
 * tar-reader.ts) and reach the file system as Buffers, so no name is ever re-encoded.
 */
class EntryWriter implements TarSink {
  readonly guard: EntryGuard;
  failure: unknown;
  onError: (error: unknown) => void = () => {};
  private readonly madeDirs = new Set<string>(['']);
  /** Folder mtimes, set at the end (creating files inside changes them). */
  private readonly dirTimes: Array<[Buffer, Date]> = [];
  private openFd: number | undefined;
  private openMtime: Date | undefined;
  /** The open file's path and content so far, when the rewriter takes it whole. */
  private wholePath: string | undefined;
  private wholeContent: Buffer[] = [];
  /** What mkdir and open take away from the modes; applied by hand where chmod is used. */
  private readonly umask = process.umask();
  private readonly rootBytes: Buffer;

  constructor(
    root: string,
    tarball: string,
    private readonly rewriter?: ContentRewriter,
  ) {
    this.guard = new EntryGuard(tarball);
    this.rootBytes = Buffer.from(root);
  }

  entry(entry: TarEntry): void {
    if (this.failure !== undefined) return;
    if (!this.guard.accept(entry)) {
      if (this.guard.violation) this.fail(this.guard.violation);
      return;
    }
    try {
      this.create(entry);
    } catch (error) {
      this.fail(error);
    }
  }

  data(chunk: Buffer): void {
    const fd = this.openFd;
    if (fd === undefined) return;
    if (this.wholePath !== undefined) {
      this.wholeContent.push(Buffer.from(chunk)); // a copy: the chunk's memory is reused
      return;
    }
    try {
      writeAll(fd, chunk);
    } catch (error) {
      this.fail(error);
    }
  }

  end(): void {
    const fd = this.openFd;
    if (fd === undefined) return;
    try {
      const path = this.wholePath;
      if (path !== undefined) {
        this.wholePath = undefined;
        const content = Buffer.concat(this.wholeContent);
        this.wholeContent = [];
        writeAll(fd, (this.rewriter as ContentRewriter).rewrite(path, content));
      }
      // The mtime matters: python checks it against the .pyc files next to the sources.
      if (this.openMtime) futimesSync(fd, this.openMtime, this.openMtime);
      this.openFd = undefined;
      closeSync(fd);
    } catch (error) {
      this.fail(error); // closes the file when it is still open
    }
  }

  /** Gives the folders their archived mtimes. */
  finish(): void {
    for (const [abs, mtime] of this.dirTimes.reverse()) utimesSync(abs, mtime, mtime);
  }

  abort(): void {
    if (this.openFd !== undefined) closeSync(this.openFd);
    this.openFd = undefined;
    this.wholePath = undefined;
    this.wholeContent = [];
  }

  private fail(error: unknown): void {
    this.failure ??= error;
    this.abort();
    this.onError(error);
  }

  /** The absolute path of an entry (a byte string, '' for the root) as bytes. */
  private bytes(path: string): Buffer {
    if (path === '') return this.rootBytes;
    return Buffer.concat([this.rootBytes, SLASH, Buffer.from(path, 'latin1')]);
  }

  private create(entry: TarEntry): void {
    const path = normalizeArchivePath(entry.path) ?? '';
    const abs = this.bytes(path);
    const mode = entry.mode & 0o1777; // setuid and setgid dropped
    switch (entry.type) {
      case 'Directory':
      case 'GNUDumpDir':
        this.makeDir(path, mode | 0o700);
        if (entry.mtime) this.dirTimes.push([abs, entry.mtime]);
        return;
      case 'SymbolicLink':
        this.makeParent(path);
        symlinkSync(Buffer.from(entry.linkpath, 'latin1'), abs);
        return;
      case 'Link': {
        this.makeParent(path);
        this.removeFile(abs);
        linkSync(this.bytes(normalizeArchivePath(entry.linkpath) ?? ''), abs);
        return;
      }
      default: {
        // Regular files (the guard let nothing else through).
        this.makeParent(path);
        this.openFd = this.createFile(abs, mode);
        this.openMtime = entry.mtime;
        if (this.rewriter?.wantsWhole(path)) this.wholePath = path;
      }
    }
  }

  /**
   * O_EXCL: never writes through a link. A later entry for the same file replaces it, as with
   * tar (the unlink only then: trying it first for every file costs a failed syscall each).
   */
  private createFile(abs: Buffer, mode: number): number {
    try {
      return openSync(abs, 'wx', mode);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    }
    unlinkSync(abs);
    return openSync(abs, 'wx', mode);
  }

  /** A later entry for the same path replaces it, as with tar. */
  private removeFile(abs: Buffer): void {
    try {
      unlinkSync(abs);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
    }
  }

  private makeParent(path: string): void {
    const slash = path.lastIndexOf('/');
    if (slash > 0) this.makeDir(path.slice(0, slash), 0o755);
  }

  private makeDir(path: string, mode: number): void {
    if (this.madeDirs.has(path)) {
      // The root (a `./` entry) and folders made before their own entry exist already: chmod,
      // unlike mkdir, ignores the umask, and an archive's 0777 would leave the environment
      // (a temporary folder too) writable by everyone. Masked as tar does.
      const masked = mode & ~this.umask;
      if (masked !== 0o755 || path === '') chmodSync(this.bytes(path), masked);
      return;
    }
    mkdirSync(this.bytes(path), { recursive: true, mode });
    let at = path.length;
    while (at > 0 && !this.madeDirs.has(path.slice(0, at))) {
      this.madeDirs.add(path.slice(0, at));
      at = path.lastIndexOf('/', at - 1);
    }
  }
}

const SLASH = Buffer.from('/');

/** writeSync may write less than asked (a full disk, a signal): loops until all is written. */
function writeAll(fd: number, data: Buffer): void {
  for (let at = 0; at < data.length; ) at += writeSync(fd, data, at);
}

function writeError(error: unknown, tarball: string, dest: string): PonchoError {
  if (error instanceof PonchoError) return error;
  const code = errnoCode(error);
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
    return unusable(
      `the environment tarball ${tarball} has conflicting entries (${(error as Error).message})`,
      {
        hint: 'The tarball is damaged; build it again.',
        cause: error,
      },
    );
  }
  return damaged(tarball, error, dest);
}

function damaged(tarball: string, error: unknown, dest?: string): PonchoError {
  const detail = error instanceof Error ? error.message : String(error);
  const code = errnoCode(error);
  if (code === 'ENOSPC' || code === 'EACCES' || code === 'EDQUOT' || code === 'EROFS') {
    const failure = fileError(error, dest ?? tarball, 'folder the environment is unpacked into');
    return new PonchoError(failure.code, failure.message, {
      hint: failure.hint,
      cause: error,
      exitCode: RunnerExitCode.environment,
    });
  }
  return unusable(`the environment tarball ${tarball} is damaged or truncated (${detail})`, {
    hint: 'Copy or build the tarball again; check that the transfer to this machine completed.',
    cause: error,
  });
}

function decompressorExit(
  child: ReturnType<typeof spawn>,
  compression: Compression,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (code: number | null) =>
      code === 0
        ? resolve()
        : reject(new Error(`${compression} decompression failed (exit ${code})`));
    if (child.exitCode !== null) check(child.exitCode);
    else child.once('exit', check);
  });
}

/**
 * Checks each entry before it is written, by the rules shared with the creator's package
 * extraction (@poncho/core/archive-paths); the first refusal stops the whole archive.
 */
class EntryGuard {
  violation: PonchoError | undefined;
  private readonly rules = new ArchiveEntryGuard();

  constructor(private readonly tarball: string) {}

  accept(entry: TarEntry): boolean {
    if (this.violation) return false;
    const reason = this.rules.check(entry);
    if (reason) {
      this.violation = unsafe(
        `refusing to unpack ${this.tarball}: entry '${shown(entry.path)}' ${reason}`,
      );
      return false;
    }
    return true;
  }

  /** After extraction: every symbolic link must resolve inside `root` on disk. */
  async checkLinksOnDisk(root: string): Promise<void> {
    const escaping = findEscapingSymlink(root, this.rules.symlinks);
    if (escaping) {
      throw unsafe(
        `refusing to unpack ${this.tarball}: symbolic link '${shown(escaping.path)}' -> '${shown(escaping.target)}' resolves outside the environment`,
      );
    }
  }
}

/** A byte-string name as a message shows it (bytes that are not UTF-8 shown as U+FFFD). */
function shown(name: string): string {
  return Buffer.from(name, 'latin1').toString('utf8');
}

/**
 * The first of `links` (byte-string path relative to `root` -> target) that, on disk, is still
 * a symbolic link and resolves outside `root`: @poncho/core/archive-paths' rule, on byte paths
 * (its own version joins text paths, which would miss a link whose name is not UTF-8). A
 * dangling link (or a loop) counts as escaping only when its target has a `..` part.
 */
function findEscapingSymlink(
  root: string,
  links: Iterable<[string, string]>,
): { path: string; target: string } | undefined {
  const rootBytes = Buffer.from(root);
  let realRoot: Buffer | undefined;
  for (const [path, target] of links) {
    const abs = Buffer.concat([rootBytes, SLASH, Buffer.from(path, 'latin1')]);
    try {
      if (!lstatSync(abs).isSymbolicLink()) continue; // replaced by a later entry
    } catch {
      continue;
    }
    realRoot ??= realpathSync.native(rootBytes, { encoding: 'buffer' });
    let resolved: Buffer | undefined;
    try {
      resolved = realpathSync.native(abs, { encoding: 'buffer' }); // realpath(3): the JS version resolves `..` in link targets as text
    } catch {
      resolved = undefined;
    }
    const inside =
      resolved === undefined
        ? !target.split('/').includes('..')
        : resolved.equals(realRoot) ||
          (resolved.length > realRoot.length &&
            resolved[realRoot.length] === 0x2f &&
            resolved.subarray(0, realRoot.length).equals(realRoot));
    if (!inside) return { path, target };
  }
  return undefined;
}

function unsafe(message: string): PonchoError {
  return new PonchoError('ERR_ENV_UNSAFE', message, {
    hint: 'The tarball is damaged or malicious; only use environments made by poncho_package_create or conda-pack.',
    exitCode: RunnerExitCode.environment,
  });
}
