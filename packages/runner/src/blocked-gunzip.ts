/**
 * Parallel inflate of a blocked-gzip tarball (@poncho/core/blocked-gzip, what
 * poncho_package_create writes): the file is read in large chunks and cut into members by their
 * recorded lengths; several members inflate at once on libuv's threadpool (node's async
 * zlib.gunzip, which checks each member's CRC32 and ISIZE natively) while the main thread
 * writes the files of earlier ones, and the outputs come out in order. Single-stream inflate
 * kept the main thread waiting for one core's worth of inflate; this keeps it busy.
 *
 * Damage (a member running past the end of the file, a bad member, a missing or mismatching
 * trailer member, bytes after it) is an Error, which the caller reports as a damaged tarball.
 * The last output is held back until the trailer member has checked the whole content.
 */
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Readable } from 'node:stream';
import { gunzip, type ZlibOptions } from 'node:zlib';
import {
  MAX_BLOCK_SIZE,
  MEMBER_HEADER_MAX_LENGTH,
  type MemberHeader,
  memberChecksum,
  readMemberHeader,
} from '@poncho/core/blocked-gzip';
import { crc32Combine } from '@poncho/core/crc32';

/** Bytes read at a time: a few members per read call. */
const READ_CHUNK = 4 * 1024 * 1024;

function inflateMember(member: Uint8Array, size: number, at: number): Promise<Buffer> {
  const options: ZlibOptions = {
    // One output buffer for the whole block (+ room to see the member's end): the default
    // 16 KiB chunks would cost a round trip to the main thread each.
    chunkSize: Math.max(64, size + 64),
    // A member inflating to more than it records is damaged: stop there, not at out of memory.
    maxOutputLength: Math.max(1, size),
  };
  return new Promise((resolve, reject) => {
    gunzip(member, options, (error, output) => {
      if (error) reject(new Error(`the member at byte ${at} is damaged: ${error.message}`));
      else resolve(output);
    });
  });
}

/** The file, read forward in large chunks; a member is a view of a chunk (no copy). */
class ChunkedFile {
  private chunk = Buffer.alloc(0);
  /** File offset of chunk[0]. */
  private chunkAt = 0;

  private constructor(
    private readonly handle: Awaited<ReturnType<typeof open>>,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<ChunkedFile> {
    const handle = await open(path, 'r');
    try {
      return new ChunkedFile(handle, (await handle.stat()).size);
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  /** Bytes [at, at + length) (fewer at the end of the file). */
  async bytes(at: number, length: number): Promise<Buffer> {
    const end = Math.min(at + length, this.size);
    if (at < this.chunkAt || end > this.chunkAt + this.chunk.length) {
      // Keep what is still ahead, read the rest: a new buffer, since members handed out
      // earlier may still be inflating from the old one.
      const kept = this.chunk.subarray(Math.max(0, at - this.chunkAt));
      const next = Buffer.allocUnsafe(Math.min(Math.max(READ_CHUNK, end - at), this.size - at));
      kept.copy(next, 0);
      let filled = kept.length;
      while (filled < next.length) {
        const { bytesRead } = await this.handle.read(
          next,
          filled,
          next.length - filled,
          at + filled,
        );
        if (bytesRead === 0) {
          throw new Error(`the file shrank while it was read (at byte ${at + filled})`);
        }
        filled += bytesRead;
      }
      this.chunk = next;
      this.chunkAt = at;
    }
    return this.chunk.subarray(at - this.chunkAt, end - this.chunkAt);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

interface Pending {
  output: Promise<Buffer>;
  crc: number;
  size: number;
}

/** The uncompressed content of the blocked-gzip file `path`, in order. */
async function* inflateInOrder(path: string): AsyncGenerator<Buffer> {
  const file = await ChunkedFile.open(path);
  // zlib's async work runs on libuv's threadpool (4 threads unless UV_THREADPOOL_SIZE says
  // otherwise): more members in flight than threads only hold memory.
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const maxInFlight = Math.min(availableParallelism(), threads) + 1;
  const pending: Pending[] = [];
  let crc = 0;
  let total = 0;
  let held: Buffer | undefined;
  /** Takes the oldest member's output; hands out the one before it. */
  const settleOldest = async (): Promise<Buffer | undefined> => {
    const next = pending.shift() as Pending;
    const output = await next.output;
    crc = crc32Combine(crc, next.crc, next.size);
    total += output.length;
    const previous = held;
    held = output;
    return previous;
  };
  try {
    let at = 0;
    let trailer: Extract<MemberHeader, { kind: 'trailer' }>;
    for (;;) {
      if (at === file.size) {
        throw new Error(`it ends after ${at} bytes without its trailer member (cut short)`);
      }
      const header = readMemberHeader(await file.bytes(at, MEMBER_HEADER_MAX_LENGTH));
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
      if (header.kind === 'trailer') {
        trailer = header; // checked whole by readMemberHeader: nothing to inflate
        at += header.memberLength;
        break;
      }
      const member = await file.bytes(at, header.memberLength);
      const recorded = memberChecksum(member);
      if (recorded.size > MAX_BLOCK_SIZE) {
        throw new Error(`the member at byte ${at} records ${recorded.size} bytes, too many`);
      }
      const output = inflateMember(member, recorded.size, at);
      output.catch(() => {}); // rejections are seen when awaited in order (or not at all)
      pending.push({ output, ...recorded });
      at += header.memberLength;
      while (pending.length >= maxInFlight) {
        const ready = await settleOldest();
        if (ready) yield ready;
      }
    }
    if (at !== file.size) throw new Error(`${file.size - at} bytes follow the trailer member`);
    while (pending.length > 0) {
      const ready = await settleOldest();
      if (ready) yield ready;
    }
    if (crc !== trailer.crc || total !== trailer.totalLength) {
      throw new Error(
        `the content (${total} bytes) does not match the trailer member's checksum and length (${trailer.totalLength} bytes)`,
      );
    }
    if (held && held.length > 0) yield held;
  } finally {
    await file.close();
  }
}

/** A byte stream of the uncompressed content of the blocked-gzip file `path`. */
export function blockedGunzipStream(path: string): Readable {
  // One block read ahead of the consumer; the in-flight members are the rest of the pipeline.
  return Readable.from(inflateInOrder(path), { objectMode: false, highWaterMark: 1024 * 1024 });
}
