/**
 * Inflating a blocked-gzip tarball (@poncho/core/blocked-gzip, what poncho_package_create
 * writes), member by member, into memory that is reused: the file is read in large pieces into
 * one buffer, each member inflates into one output buffer (gunzip-into.ts), and the consumer
 * handles each block before the next one is inflated over it.
 *
 * Why not in parallel on libuv's threadpool (as before): node's asynchronous zlib returns each
 * block in new memory, and page faults on fresh memory cost more than inflating here (~12 us per
 * 4 KiB page on the 2-core build VM: ~60-90 ms of a cold run's CPU for the 21 MB benchmark
 * environment, with ~45 ms of inflating). Measured in a fresh process on that environment: this
 * path took 110-130 ms of CPU and wall time for inflating and writing its 753 files, the
 * threadpool path 230-320 ms of CPU and 230-300 ms of wall time. The other core is left to the
 * tarball's digest, the kernel's writeback and the rest of the machine.
 *
 * Damage (a member running past the end of the file, a bad member, a missing or mismatching
 * trailer member, bytes after it) is an Error, which the caller reports as a damaged tarball.
 * The trailer member (the CRC-32 and length of the whole content) is checked before the last
 * block is handed out.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  MAX_BLOCK_SIZE,
  MEMBER_HEADER_MAX_LENGTH,
  type MemberHeader,
  memberChecksum,
  readMemberHeader,
} from '@poncho/core/blocked-gzip';
import { crc32Combine } from '@poncho/core/crc32';
import { memberGunzip } from './gunzip-into.js';

/** Bytes read at a time (more for a larger member): one or two members per read call. */
const READ_CHUNK = 512 * 1024;

/** The file, read forward into one buffer; bytes() hands out views of it (until the next call). */
class ForwardReader {
  private buffer = Buffer.allocUnsafe(0);
  /** File offset of buffer[0], and how many bytes of the buffer hold file content. */
  private bufferAt = 0;
  private filled = 0;

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** Bytes [at, at + length) (fewer at the end of the file); `at` never goes back. */
  bytes(at: number, length: number): Buffer {
    const end = Math.min(at + length, this.size);
    if (end > this.bufferAt + this.filled) {
      // Keep what is still ahead at the start of the buffer, read the rest behind it.
      const keptFrom = Math.min(Math.max(0, at - this.bufferAt), this.filled);
      const kept = this.filled - keptFrom;
      const want = Math.max(end - at, READ_CHUNK);
      if (this.buffer.length < want) {
        const larger = Buffer.allocUnsafe(want);
        this.buffer.copy(larger, 0, keptFrom, this.filled);
        this.buffer = larger;
      } else {
        this.buffer.copyWithin(0, keptFrom, this.filled);
      }
      this.bufferAt += keptFrom;
      this.filled = kept;
      const goal = Math.min(this.buffer.length, this.size - this.bufferAt);
      while (this.filled < goal) {
        const read = readSync(
          this.fd,
          this.buffer,
          this.filled,
          goal - this.filled,
          this.bufferAt + this.filled,
        );
        if (read === 0) {
          throw new Error(
            `the file shrank while it was read (at byte ${this.bufferAt + this.filled})`,
          );
        }
        this.filled += read;
      }
    }
    return this.buffer.subarray(at - this.bufferAt, end - this.bufferAt);
  }
}

/**
 * The uncompressed content of the blocked-gzip file `path`, in order, one block at a time: each
 * is a view of memory reused for the next one, so handle it before asking for the next. Yields
 * to the event loop between blocks, so signals and aborts are seen while a large tarball
 * unpacks.
 */
export async function* inflateBlocked(path: string): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  try {
    const file = new ForwardReader(fd, fstatSync(fd).size);
    const gunzip = memberGunzip();
    let crc = 0;
    let total = 0;
    let at = 0;
    // The header of the member at `at`; a trailer is checked at once.
    const nextHeader = () => {
      const header = readHeader(file, at);
      if (header.kind === 'trailer') checkTrailer(header, crc, total, at, file.size);
      return header;
    };
    let header = nextHeader();
    while (header.kind === 'data') {
      const member = file.bytes(at, header.memberLength);
      const recorded = memberChecksum(member);
      if (recorded.size > MAX_BLOCK_SIZE) {
        throw new Error(`the member at byte ${at} records ${recorded.size} bytes, too many`);
      }
      let block: Buffer;
      try {
        block = gunzip.inflate(member, recorded.size);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`the member at byte ${at} is damaged: ${reason}`);
      }
      crc = crc32Combine(crc, recorded.crc, recorded.size);
      total += recorded.size;
      at += header.memberLength;
      // The next header before the block goes out (a refill of the read buffer leaves the
      // block's memory alone): a mismatching trailer stops the last block.
      header = nextHeader();
      yield block;
      // A turn of the event loop: signal handlers and aborts run between blocks.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    closeSync(fd);
  }
}

/** The header of the member at `at`; throws when there is none (damage or a cut file). */
function readHeader(file: ForwardReader, at: number): MemberHeader {
  if (at === file.size) {
    throw new Error(`it ends after ${at} bytes without its trailer member (cut short)`);
  }
  const header = readMemberHeader(file.bytes(at, MEMBER_HEADER_MAX_LENGTH));
  if (!header) {
    if (file.size - at < MEMBER_HEADER_MAX_LENGTH) {
      throw new Error(`it ends inside the member at byte ${at} (cut short)`);
    }
    throw new Error(`no valid member header at byte ${at}`);
  }
  if (at + header.memberLength > file.size) {
    throw new Error(
      `the member at byte ${at} (${header.memberLength} bytes) runs past the end of the file (${file.size} bytes)`,
    );
  }
  return header;
}

/** The trailer member at `at` matches what the data members held, and ends the file. */
function checkTrailer(
  trailer: Extract<MemberHeader, { kind: 'trailer' }>,
  crc: number,
  total: number,
  at: number,
  size: number,
): void {
  const end = at + trailer.memberLength;
  if (end !== size) throw new Error(`${size - end} bytes follow the trailer member`);
  if (crc !== trailer.crc || total !== trailer.totalLength) {
    throw new Error(
      `the content (${total} bytes) does not match the trailer member's checksum and length (${trailer.totalLength} bytes)`,
    );
  }
}
