/**
 * "Blocked gzip": the framing of the environment tarballs poncho_package_create writes, the one
 * place that describes it (the creator writes it, the runner reads it). The idea is samtools'
 * BGZF, with a subfield of our own and larger blocks: the file is a sequence of standard gzip
 * members (RFC 1952), so every gzip reader (gzip, pigz, tar -xz, python, zlib) reads it as the
 * concatenation of their contents, while a reader that knows the framing can cut the file into
 * members without inflating anything and inflate them in parallel.
 *
 * Data member (one per block of input, in order):
 *   1f 8b 08 04 | MTIME 00 00 00 00 | XFL | OS 03 | XLEN 08 00
 *   'P' 'K' | LEN 04 00 | member length (uint32 LE: these 20 header bytes + deflate + 8)
 *   raw deflate of the block, compressed independently (no dictionary) and finished
 *   CRC32 of the block (uint32 LE) | ISIZE = block length (uint32 LE)
 * Trailer member (exactly one, last, 38 bytes):
 *   1f 8b 08 04 | MTIME 00 00 00 00 | XFL | OS 03 | XLEN 10 00
 *   'P' 'T' | LEN 0c 00 | CRC32 of the WHOLE content (uint32 LE) | its length (uint64 LE)
 *   03 00 (an empty final deflate block) | CRC32 00 00 00 00 | ISIZE 00 00 00 00
 *
 * The trailer member keeps what a single-member gzip had: the last bytes of the file check the
 * whole content (the runner fingerprints a tarball by its size and its first and last bytes),
 * and a file cut exactly between two members is seen as truncated. MTIME is 0 and there is no
 * name, so the same input and block size always give the same bytes. A reader accepts exactly
 * this layout (only FEXTRA set, one subfield); anything else is not blocked gzip.
 */

import { deflateRawSync } from 'node:zlib';
import { crc32, crc32Combine } from './crc32.js';

/** Subfield IDs of a data member ('P','K': poncho block) and of the trailer ('P','T'). */
export const DATA_SUBFIELD_ID = Uint8Array.of(0x50, 0x4b);
export const TRAILER_SUBFIELD_ID = Uint8Array.of(0x50, 0x54);

/**
 * Input bytes per data member. Measured (2026-11-22, level 6, against single-stream gzip of the
 * same tar): compressed size +1.5 % at 128 KiB, +0.35-0.42 % at 512 KiB, +0.16-0.21 % at 1 MiB,
 * +0.08-0.11 % at 2 MiB (a 53 MB copy of Debian's python3.11 library, and the 21 MB python
 * environment of the runner's benchmark); packing speed is the same within noise. Inflating
 * the 21 MB environment's members 3-4 at a time on 2 cores took 45-56 ms at any of the three
 * sizes (single-stream: 68 ms). 1 MiB: within 0.2 % of single-stream gzip, and a 20 MB
 * environment still has ~20 members to spread over the cores; 2 MiB would gain 0.1 % but
 * doubles the memory per member in flight and the wait before the first block reaches tar.
 */
export const DEFAULT_BLOCK_SIZE = 1024 * 1024;

/** Largest block a writer may use and a reader accepts (bounds the reader's memory). */
export const MAX_BLOCK_SIZE = 16 * 1024 * 1024;

/**
 * Largest data member a reader accepts: deflate expands incompressible input by a few bytes
 * per 16 KiB at most, far less than this margin.
 */
export const MAX_MEMBER_LENGTH = MAX_BLOCK_SIZE + MAX_BLOCK_SIZE / 16;

export const DATA_HEADER_LENGTH = 20;
const TRAILER_HEADER_LENGTH = 28;
export const TRAILER_MEMBER_LENGTH = TRAILER_HEADER_LENGTH + 2 + 8;
/** The gzip member trailer: CRC32 and ISIZE. */
const MEMBER_TRAILER_LENGTH = 8;
/** Bytes a reader needs to tell a member's kind and length (and to check a whole trailer). */
export const MEMBER_HEADER_MAX_LENGTH = TRAILER_MEMBER_LENGTH;
/** What follows the trailer member's header: an empty deflate stream, CRC32 0, ISIZE 0. */
const TRAILER_BODY = Uint8Array.of(0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0);

const FEXTRA = 4;
const OS_UNIX = 3;

/** XFL byte of the gzip header: 2 = slowest (level 9), 4 = fastest (level 1), as gzip writes it. */
export function extraFlags(level: number): number {
  if (level >= 9) return 2;
  if (level === 1) return 4;
  return 0;
}

function writeHeader(target: Uint8Array, level: number, subfield: Uint8Array, payload: number) {
  target.set([0x1f, 0x8b, 8, FEXTRA, 0, 0, 0, 0, extraFlags(level), OS_UNIX]);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint16(10, 4 + payload, true); // XLEN: one subfield (SI1 SI2 LEN) and its payload
  target.set(subfield, 12);
  view.setUint16(14, payload, true);
  return view;
}

/**
 * One data member, in a buffer of its own (transferable to another thread): `deflated` is the
 * finished raw deflate stream of a block of `inputLength` bytes whose CRC32 is `crc`.
 */
export function encodeDataMember(
  deflated: Uint8Array,
  crc: number,
  inputLength: number,
  level: number,
): Uint8Array {
  if (inputLength > MAX_BLOCK_SIZE) {
    throw new RangeError(`a block holds at most ${MAX_BLOCK_SIZE} bytes, got ${inputLength}`);
  }
  const length = DATA_HEADER_LENGTH + deflated.length + MEMBER_TRAILER_LENGTH;
  const member = new Uint8Array(length);
  const view = writeHeader(member, level, DATA_SUBFIELD_ID, 4);
  view.setUint32(16, length, true);
  member.set(deflated, DATA_HEADER_LENGTH);
  view.setUint32(length - 8, crc, true);
  view.setUint32(length - 4, inputLength, true);
  return member;
}

/** The trailer member: CRC32 and length of everything the data members hold. */
export function encodeTrailerMember(crc: number, totalLength: number, level: number): Uint8Array {
  const member = new Uint8Array(TRAILER_MEMBER_LENGTH);
  const view = writeHeader(member, level, TRAILER_SUBFIELD_ID, 12);
  view.setUint32(16, crc, true);
  view.setBigUint64(20, BigInt(totalLength), true);
  // An empty deflate stream (one final fixed-Huffman block holding only its end code); CRC32
  // and ISIZE of nothing are 0.
  member.set(TRAILER_BODY, TRAILER_HEADER_LENGTH);
  return member;
}

/**
 * A whole blocked-gzip file from blocks already cut, deflated on the calling thread: for small
 * inputs (the runner's build makes its code-cache tarball with it) and tests. Tarballs are
 * written by the creator's parallel writer, which gives the same bytes for the same blocks.
 */
export function encodeBlockedGzipSync(blocks: Iterable<Uint8Array>, level = 6): Buffer {
  const members: Uint8Array[] = [];
  let crc = 0;
  let total = 0;
  for (const block of blocks) {
    const blockCrc = crc32(block);
    members.push(encodeDataMember(deflateRawSync(block, { level }), blockCrc, block.length, level));
    crc = crc32Combine(crc, blockCrc, block.length);
    total += block.length;
  }
  members.push(encodeTrailerMember(crc, total, level));
  return Buffer.concat(members);
}

export type MemberHeader =
  | { kind: 'data'; memberLength: number }
  | { kind: 'trailer'; memberLength: number; crc: number; totalLength: number };

function sameId(bytes: Uint8Array, at: number, id: Uint8Array): boolean {
  return bytes[at] === id[0] && bytes[at + 1] === id[1];
}

/**
 * Reads the header of the member starting at `bytes[offset]` (at least
 * MEMBER_HEADER_MAX_LENGTH bytes, or up to the end of the file). Undefined when it is not a
 * blocked-gzip member: another gzip, or damage. A data member's recorded length is checked to
 * be plausible (room for header, deflate data and trailer; at most MAX_MEMBER_LENGTH), not
 * that the file holds it; a trailer member is checked whole (it has a fixed body).
 */
export function readMemberHeader(bytes: Uint8Array, offset = 0): MemberHeader | undefined {
  const available = bytes.length - offset;
  if (available < DATA_HEADER_LENGTH) return undefined;
  const at = (i: number) => bytes[offset + i] as number;
  if (at(0) !== 0x1f || at(1) !== 0x8b || at(2) !== 8 || at(3) !== FEXTRA) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, available);
  const xlen = view.getUint16(10, true);
  const payload = view.getUint16(14, true);
  if (xlen === 8 && payload === 4 && sameId(bytes, offset + 12, DATA_SUBFIELD_ID)) {
    const memberLength = view.getUint32(16, true);
    // The shortest deflate stream is 2 bytes.
    if (memberLength < DATA_HEADER_LENGTH + 2 + MEMBER_TRAILER_LENGTH) return undefined;
    if (memberLength > MAX_MEMBER_LENGTH) return undefined;
    return { kind: 'data', memberLength };
  }
  if (
    xlen === 16 &&
    payload === 12 &&
    available >= TRAILER_MEMBER_LENGTH &&
    sameId(bytes, offset + 12, TRAILER_SUBFIELD_ID) &&
    TRAILER_BODY.every((byte, i) => bytes[offset + TRAILER_HEADER_LENGTH + i] === byte)
  ) {
    const totalLength = view.getBigUint64(20, true);
    if (totalLength > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    return {
      kind: 'trailer',
      memberLength: TRAILER_MEMBER_LENGTH,
      crc: view.getUint32(16, true),
      totalLength: Number(totalLength),
    };
  }
  return undefined;
}

/** True when `head` (the first bytes of a file) starts with a blocked-gzip member. */
export function isBlockedGzip(head: Uint8Array): boolean {
  return readMemberHeader(head) !== undefined;
}

/** CRC32 and ISIZE a whole member records in its last 8 bytes. */
export function memberChecksum(member: Uint8Array): { crc: number; size: number } {
  const view = new DataView(member.buffer, member.byteOffset, member.byteLength);
  return {
    crc: view.getUint32(member.length - 8, true),
    size: view.getUint32(member.length - 4, true),
  };
}
