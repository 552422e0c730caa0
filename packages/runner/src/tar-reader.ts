/**
 * A tar reader that keeps names as bytes.
 *
 * File names on Linux are bytes; tar archives carry them as bytes (ustar fields, GNU long-name
 * entries, pax records). node-tar decodes them as UTF-8, so `bin/a\xff` and `bin/a\xfe` both
 * became `bin/a\uFFFD`, one file, silently. Here every name and link target is a "byte string":
 * one character per byte (latin1), so that `/`, `.` and `..` (ASCII) are judged as text by the
 * path rules (@poncho/core/archive-paths) and `Buffer.from(name, 'latin1')` gives the exact
 * bytes back for the file system, as GNU tar does.
 *
 * Formats: ustar (with its prefix field), GNU (long names `L`, long link targets `K`, base-256
 * numbers), pax (`x` per entry and `g` global records: path, linkpath, size, mtime). Damage
 * (a bad header checksum, a cut entry, no end-of-archive block) is a TarFormatError.
 *
 * A push parser, fed the decompressed stream chunk by chunk; it calls its sink synchronously
 * (entry, then the file's data in pieces, then end), so the writer needs no stream machinery.
 */

export type TarEntryType =
  | 'File'
  | 'OldFile'
  | 'ContiguousFile'
  | 'Link'
  | 'SymbolicLink'
  | 'CharacterDevice'
  | 'BlockDevice'
  | 'Directory'
  | 'FIFO'
  | 'GNUDumpDir'
  | `Unsupported-${string}`;

export interface TarEntry {
  /** The name, one character per byte (see above). */
  path: string;
  type: TarEntryType;
  /** Link target (hard or symbolic), one character per byte; '' for other entries. */
  linkpath: string;
  mode: number;
  /** Bytes of data that follow (only files have data for the sink). */
  size: number;
  mtime: Date | undefined;
}

export interface TarSink {
  entry(entry: TarEntry): void;
  /** A piece of the current file's data (a view: copy it to keep it). */
  data(chunk: Buffer): void;
  /** The current entry is complete. */
  end(): void;
}

export class TarFormatError extends Error {}

const BLOCK = 512;
/** 'ustar\0', at byte 257 of a POSIX header. */
const USTAR_MAGIC = [0x75, 0x73, 0x74, 0x61, 0x72, 0x00];

const TYPES: Record<string, TarEntryType> = {
  '0': 'File',
  '\0': 'OldFile',
  '7': 'ContiguousFile',
  '1': 'Link',
  '2': 'SymbolicLink',
  '3': 'CharacterDevice',
  '4': 'BlockDevice',
  '5': 'Directory',
  '6': 'FIFO',
  D: 'GNUDumpDir',
};

/** Fields a pax record (or a GNU long-name entry) overrides. */
interface Overrides {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: number;
}

/** No overrides; never changed (the reader replaces, never mutates, its override records). */
const NONE: Overrides = Object.freeze({});

export class TarReader {
  /** Bytes of a header block received so far (a block may straddle chunks). */
  private readonly pending = Buffer.alloc(BLOCK);
  private pendingLength = 0;
  /** Position in the archive, for messages. */
  private position = 0;
  /** Data bytes of the current entry still to come. */
  private bodyLeft = 0;
  /** Padding to skip after the current entry's data. */
  private skipLeft = 0;
  /** Where the current entry's data goes: the sink, a metadata record, or nowhere. */
  private body: 'sink' | 'meta' | 'skip' = 'skip';
  private metaType = '';
  private meta: Buffer[] = [];
  private local: Overrides = NONE;
  private global: Overrides = NONE;
  private zeroBlocks = 0;
  private ended = false;
  private readonly words: Words = {};

  constructor(private readonly sink: TarSink) {}

  write(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - at);
        const piece = chunk.subarray(at, at + n);
        if (this.body === 'sink') this.sink.data(piece);
        else if (this.body === 'meta') this.meta.push(Buffer.from(piece));
        this.bodyLeft -= n;
        at += n;
        this.position += n;
        if (this.bodyLeft === 0) this.endBody();
        continue;
      }
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, chunk.length - at);
        this.skipLeft -= n;
        at += n;
        this.position += n;
        continue;
      }
      if (this.pendingLength === 0 && chunk.length - at >= BLOCK) {
        this.header(chunk.subarray(at, at + BLOCK));
        at += BLOCK;
        continue;
      }
      const n = Math.min(BLOCK - this.pendingLength, chunk.length - at);
      chunk.copy(this.pending, this.pendingLength, at, at + n);
      this.pendingLength += n;
      at += n;
      if (this.pendingLength === BLOCK) {
        this.pendingLength = 0;
        this.header(this.pending);
      }
    }
  }

  /** The stream ended: throws when the archive was cut short. */
  finish(): void {
    if (this.ended || (this.zeroBlocks > 0 && this.pendingLength === 0)) return;
    if (this.bodyLeft > 0)
      throw new TarFormatError(`truncated: an entry needs ${this.bodyLeft} more bytes`);
    throw new TarFormatError('truncated: the archive has no end-of-archive block');
  }

  private header(block: Buffer): void {
    const at = this.position;
    this.position += BLOCK;
    if (isZero(block)) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.ended = true;
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumMatches(block, this.words))
      throw new TarFormatError(`invalid header (bad checksum) at byte ${at}`);
    const flag = String.fromCharCode(block[156] ?? 0);
    const size = number(block, 124, 12, at);
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      this.startBody('meta', size);
      this.metaType = flag;
      return;
    }
    const ustar = USTAR_MAGIC.every((byte, i) => block[257 + i] === byte);
    let path = field(block, 0, 100);
    if (ustar) {
      const prefix = field(block, 345, 155);
      if (prefix !== '') path = `${prefix}/${path}`;
    }
    // (No merged copy when there is nothing to merge: the common case, once per entry.)
    const over = this.local === NONE ? this.global : { ...this.global, ...this.local };
    this.local = NONE;
    path = over.path ?? path;
    let type: TarEntryType = TYPES[flag] ?? `Unsupported-${flag}`;
    // Old archives mark folders as files with a trailing slash.
    if ((type === 'File' || type === 'OldFile') && path.endsWith('/')) type = 'Directory';
    const entrySize = type === 'Directory' ? 0 : (over.size ?? size);
    const mtime = over.mtime ?? number(block, 136, 12, at);
    const entry: TarEntry = {
      path,
      type,
      linkpath: over.linkpath ?? field(block, 157, 100),
      mode: number(block, 100, 8, at) & 0o7777,
      size: entrySize,
      mtime: Number.isFinite(mtime) ? new Date(mtime * 1000) : undefined,
    };
    const hasData = type === 'File' || type === 'OldFile' || type === 'ContiguousFile';
    this.sink.entry(entry);
    this.startBody(hasData ? 'sink' : 'skip', entrySize);
  }

  private startBody(body: TarReader['body'], size: number): void {
    this.body = body;
    this.bodyLeft = size;
    this.skipLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.endBody();
  }

  private endBody(): void {
    if (this.body === 'meta') {
      const data = Buffer.concat(this.meta);
      this.meta = [];
      if (this.metaType === 'L') this.local = { ...this.local, path: cString(data) };
      else if (this.metaType === 'K') this.local = { ...this.local, linkpath: cString(data) };
      else if (this.metaType === 'x') this.local = { ...this.local, ...parsePax(data) };
      else this.global = { ...this.global, ...parsePax(data) };
    } else {
      this.sink.end();
    }
    this.body = 'skip';
  }
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * The header's checksum: the sum of its bytes with the checksum field read as spaces (unsigned,
 * or signed as some old tars wrote it). Summed four bytes at a time: this runs for every entry,
 * mostly before V8 has optimized it (a cold run parses its archive once), where a loop over 512
 * bytes cost ~30 ms for the 753 entries of the benchmark environment.
 */
function checksumMatches(block: Buffer, seen: Words): boolean {
  const recorded = leadingOctal(block, 148, 156);
  let field = 0;
  for (let i = 148; i < 156; i++) field += block[i] as number;
  const unsigned = byteSum(block, seen) - field + 8 * 0x20;
  if (recorded === unsigned) return true;
  let high = 0;
  for (let i = 0; i < BLOCK; i++) {
    if (!(i >= 148 && i < 156) && (block[i] as number) > 127) high++;
  }
  return recorded === unsigned - 256 * high;
}

/**
 * The octal number at the start of the field [start, end), as parseInt(text, 8) reads the text
 * up to the field's first NUL (leading whitespace skipped, a sign, then digits up to the first
 * other character); NaN when there is no digit. From the bytes: no strings for every entry.
 */
function leadingOctal(block: Buffer, start: number, end: number): number {
  let at = start;
  while (at < end && isSpace(block[at] as number)) at++;
  const sign = block[at] === 0x2d ? -1 : 1; // '-'
  if (block[at] === 0x2d || block[at] === 0x2b) at++; // '-', '+'
  let value = Number.NaN;
  for (; at < end; at++) {
    const digit = (block[at] as number) - 0x30;
    if (digit < 0 || digit > 7) break;
    value = (Number.isNaN(value) ? 0 : value * 8) + digit;
  }
  return sign * value;
}

/**
 * The memory byteSum read last, as 32-bit words: the blocks come from a few reused buffers, and
 * a view per block was a tenth of what a cold start's extraction allocated.
 */
interface Words {
  buffer?: ArrayBufferLike;
  words?: Uint32Array;
}

/** The sum of a block's 512 bytes. */
function byteSum(block: Buffer, seen: Words): number {
  if (block.byteOffset % 4 !== 0) {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += block[i] as number;
    return sum;
  }
  // Two 16-bit lanes per 32-bit word (bytes 0+2 and 1+3): 128 words add up to at most
  // 128 * 510 per lane, which never carries into the next lane.
  if (seen.buffer !== block.buffer) {
    seen.buffer = block.buffer;
    seen.words = new Uint32Array(block.buffer, 0, block.buffer.byteLength >>> 2);
  }
  const words = seen.words as Uint32Array;
  const first = block.byteOffset >>> 2;
  let lanes = 0;
  for (let i = first; i < first + BLOCK / 4; i++) {
    const word = words[i] as number;
    lanes += (word & 0x00ff00ff) + ((word >>> 8) & 0x00ff00ff);
  }
  return (lanes % 0x10000) + Math.floor(lanes / 0x10000);
}

/** A NUL-terminated field, one character per byte. */
function field(block: Buffer, offset: number, length: number): string {
  const end = block.indexOf(0, offset);
  return block.toString('latin1', offset, end < 0 || end > offset + length ? offset + length : end);
}

function cString(data: Buffer): string {
  const end = data.indexOf(0);
  return data.toString('latin1', 0, end < 0 ? data.length : end);
}

/**
 * An octal field, or GNU's base-256 (first byte 0x80 or 0xff). Octal: up to the first NUL,
 * surrounding whitespace ignored, empty is 0. Read from the bytes (no strings): a few fields of
 * every entry.
 */
function number(block: Buffer, offset: number, length: number, at: number): number {
  const first = block[offset] as number;
  if (first & 0x80) {
    let value = first === 0xff ? -1 : first & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[offset + i] as number);
    return value;
  }
  let end = offset;
  while (end < offset + length && block[end] !== 0) end++;
  let start = offset;
  while (start < end && isSpace(block[start] as number)) start++;
  while (end > start && isSpace(block[end - 1] as number)) end--;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = (block[i] as number) - 0x30;
    if (digit < 0 || digit > 7) {
      const text = block.toString('latin1', start, end);
      throw new TarFormatError(`invalid header (number field '${text}') at byte ${at}`);
    }
    value = value * 8 + digit;
  }
  return value;
}

/** What String.prototype.trim removes, among single bytes read as latin1. */
function isSpace(byte: number): boolean {
  return (byte >= 0x09 && byte <= 0x0d) || byte === 0x20 || byte === 0xa0;
}

/** pax records: "LENGTH KEY=VALUE\n", LENGTH counting the whole record in bytes. */
function parsePax(data: Buffer): Overrides {
  const out: Overrides = {};
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number.parseInt(data.toString('latin1', at, space), 10);
    if (!(length > 0) || at + length > data.length)
      throw new TarFormatError('invalid pax extended header');
    const record = data.toString('latin1', space + 1, at + length - 1);
    at += length;
    const equals = record.indexOf('=');
    if (equals < 0) continue;
    const key = record.slice(0, equals);
    const value = record.slice(equals + 1);
    if (key === 'path') out.path = value || undefined;
    else if (key === 'linkpath') out.linkpath = value || undefined;
    else if (key === 'size' && /^\d+$/.test(value)) out.size = Number(value);
    else if (key === 'mtime' && value !== '' && Number.isFinite(Number(value)))
      out.mtime = Number(value);
  }
  return out;
}
