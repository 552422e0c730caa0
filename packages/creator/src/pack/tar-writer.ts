/**
 * A deterministic tar writer: POSIX ustar headers (PAX records only for what ustar cannot hold:
 * long names, long link targets, sizes of 8 GiB and more), with fixed mtime, uid/gid 0, empty
 * user/group names and normalised modes. The caller decides the entry order (the packer sorts).
 * Writing headers here instead of through the `tar` package keeps every byte under our
 * control, which is what makes two builds of one environment byte-identical.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { ByteSink } from './sink.js';

const BLOCK = 512;
const ZERO_BLOCKS = new Uint8Array(BLOCK * 2);
const READ_CHUNK = 1 << 20;

export type TarEntryType = 'file' | 'directory' | 'symlink';

export interface TarWriterOptions {
  /** Modification time of every entry, in seconds since the epoch (default 0). */
  mtime?: number;
}

/** 0755 for anything executable by someone, 0644 otherwise (directories: 0755). */
export function normalizeMode(type: TarEntryType, mode: number): number {
  if (type === 'directory') return 0o755;
  if (type === 'symlink') return 0o777;
  return mode & 0o111 ? 0o755 : 0o644;
}

export class TarWriter {
  private readonly mtime: number;
  private readonly probe = new Uint8Array(1);

  constructor(
    private readonly sink: ByteSink,
    options: TarWriterOptions = {},
  ) {
    this.mtime = options.mtime ?? 0;
  }

  async addDirectory(path: string): Promise<void> {
    const name = path.endsWith('/') ? path : `${path}/`;
    await this.writeHeader(name, 'directory', 0o755, 0, '');
  }

  async addSymlink(path: string, target: string): Promise<void> {
    await this.writeHeader(path, 'symlink', 0o777, 0, target);
  }

  /** A file whose content is in memory. `mode` is normalised (executable or not). */
  async addFile(path: string, mode: number, data: Uint8Array): Promise<void> {
    await this.writeHeader(path, 'file', normalizeMode('file', mode), data.length, '');
    await this.sink.write(data);
    await this.pad(data.length);
  }

  /**
   * A file read from disk in 1 MiB pieces. `size` is what the caller saw when listing; a file
   * that changes size while it is packed is an error, never a corrupt archive.
   */
  async addFileFromDisk(path: string, mode: number, source: string, size: number): Promise<void> {
    await this.writeHeader(path, 'file', normalizeMode('file', mode), size, '');
    // Synchronous reads on purpose: packing reads thousands of small files, and a thread-pool
    // round trip per open/read/close costs more than the read itself (worse on a busy machine).
    // The compression runs on worker threads meanwhile.
    const fd = openSync(source, 'r');
    try {
      let done = 0;
      const readFully = (target: Uint8Array): void => {
        let filled = 0;
        while (filled < target.length) {
          const n = readSync(fd, target, filled, target.length - filled, done + filled);
          if (n === 0) throw new Error(`${source} shrank while it was being packed`);
          filled += n;
        }
        done += filled;
      };
      if (this.sink.writeFilled) {
        // Read straight into the compressor's block buffer: no chunk to allocate and copy.
        await this.sink.writeFilled(size, readFully);
      } else {
        while (done < size) {
          const chunk = new Uint8Array(Math.min(READ_CHUNK, size - done));
          readFully(chunk);
          await this.sink.write(chunk);
        }
      }
      if (readSync(fd, this.probe, 0, 1, size) !== 0)
        throw new Error(`${source} grew while it was being packed`);
    } finally {
      closeSync(fd);
    }
    await this.pad(size);
  }

  /** The end-of-archive marker (two zero blocks). */
  async end(): Promise<void> {
    await this.sink.write(ZERO_BLOCKS);
  }

  private async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest) await this.sink.write(new Uint8Array(BLOCK - rest));
  }

  private async writeHeader(
    path: string,
    type: TarEntryType,
    mode: number,
    size: number,
    linkTarget: string,
  ): Promise<void> {
    const pax: Array<[string, string]> = [];
    const split = splitName(path);
    if (!split) pax.push(['path', path]);
    if (Buffer.byteLength(linkTarget) > 100) pax.push(['linkpath', linkTarget]);
    if (size >= 8 ** 11) pax.push(['size', String(size)]);
    if (pax.length > 0) {
      const body = Buffer.from(pax.map(([key, value]) => paxRecord(key, value)).join(''));
      const paxName = `PaxHeaders/${lastSegment(path)}`.slice(0, 100);
      await this.sink.write(this.header(paxName, '', 'x', 0o644, body.length, ''));
      await this.sink.write(body);
      await this.pad(body.length);
    }
    const [prefix, name] = split ?? ['', truncateBytes(path, 100)];
    const typeFlag = type === 'file' ? '0' : type === 'directory' ? '5' : '2';
    const shownSize = size >= 8 ** 11 ? 0 : size;
    await this.sink.write(
      this.header(name, prefix, typeFlag, mode, shownSize, truncateBytes(linkTarget, 100)),
    );
  }

  private header(
    name: string,
    prefix: string,
    typeFlag: string,
    mode: number,
    size: number,
    link: string,
  ): Uint8Array {
    const block = Buffer.alloc(BLOCK);
    block.write(name, 0, 100, 'utf8');
    writeOctal(block, 100, 8, mode);
    writeOctal(block, 108, 8, 0); // uid
    writeOctal(block, 116, 8, 0); // gid
    writeOctal(block, 124, 12, size);
    writeOctal(block, 136, 12, this.mtime);
    block.fill(0x20, 148, 156); // checksum field counts as spaces
    block.write(typeFlag, 156, 1, 'latin1');
    block.write(link, 157, 100, 'utf8');
    block.write('ustar\u000000', 257, 8, 'latin1');
    // uname (265) and gname (297) stay empty.
    writeOctal(block, 329, 8, 0); // devmajor
    writeOctal(block, 337, 8, 0); // devminor
    block.write(prefix, 345, 155, 'utf8');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += block[i] as number;
    block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
    return block;
  }
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'latin1');
}

/** ustar's name/prefix split: name <= 100 bytes, prefix <= 155 bytes, cut at a '/'. */
function splitName(path: string): [string, string] | undefined {
  if (Buffer.byteLength(path) <= 100) return ['', path];
  // A directory's trailing '/' belongs to the name part.
  const body = path.endsWith('/') ? path.slice(0, -1) : path;
  for (let cut = body.indexOf('/'); cut > 0; cut = body.indexOf('/', cut + 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return [prefix, name];
    if (Buffer.byteLength(prefix) > 155) break;
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const content = ` ${key}=${value}\n`;
  const contentLength = Buffer.byteLength(content);
  // The record's length counts its own digits.
  let length = contentLength + String(contentLength).length;
  if (String(length).length > String(contentLength).length) length++;
  return `${length}${content}`;
}

function lastSegment(path: string): string {
  const trimmed = path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Cuts a string to at most `max` UTF-8 bytes (used only where a PAX record holds the truth). */
function truncateBytes(text: string, max: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= max) return text;
  return bytes
    .subarray(0, max)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}
