/**
 * Inflating a blocked-gzip tarball (@poncho/core/blocked-gzip, what poncho_package_create
 * writes), one member ahead of the consumer: while the main thread writes the files of one
 * block, the next member inflates on libuv's threadpool (the machine's other core), into memory
 * that is reused (gunzip-into.ts): two input and two output buffers, used in turn.
 *
 * Why reused memory: page faults on fresh memory cost more than inflating here (~12 us per
 * 4 KiB page on the 2-core build VM: ~60-90 ms of a cold run's CPU for the 21 MB benchmark
 * environment, with ~45 ms of inflating), which is what the earlier version, inflating several
 * members at once into new buffers, paid. Why one member ahead, not more: the main thread
 * writing the files is the slower side, and more inflating threads only compete with it.
 *
 * Damage (a member running past the end of the file, a bad member, a missing or mismatching
 * trailer member, bytes after it) is an Error, which the caller reports as a damaged tarball.
 * The trailer member (the CRC-32 and length of the whole content, checked against what the
 * members record; zlib checks each member's content against its own record) is checked before
 * the last block is handed out.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  DEFAULT_BLOCK_SIZE,
  MAX_BLOCK_SIZE,
  MEMBER_HEADER_MAX_LENGTH,
  type MemberHeader,
  memberChecksum,
  readMemberHeader,
} from '@poncho/core/blocked-gzip';
import { crc32Combine } from '@poncho/core/crc32';
import { gunzipInto } from './gunzip-into.js';

/** The file's bytes [at, at + length) into `buffer` (which has room). */
function readExactly(fd: number, buffer: Buffer, length: number, at: number): Buffer {
  for (let done = 0; done < length; ) {
    const read = readSync(fd, buffer, done, length - done, at + done);
    if (read === 0) throw new Error(`the file shrank while it was read (at byte ${at + done})`);
    done += read;
  }
  return buffer.subarray(0, length);
}

/** Buffers used in turn, each grown (once) to what a member needs. */
class Turns {
  private readonly buffers: Buffer[];

  constructor(count: number, size: number) {
    // Allocated, not touched: pages cost a fault only when first written.
    this.buffers = Array.from({ length: count }, () => Buffer.allocUnsafe(size));
  }

  get(turn: number, size: number): Buffer {
    const at = turn % this.buffers.length;
    if ((this.buffers[at] as Buffer).length < size) this.buffers[at] = Buffer.allocUnsafe(size);
    return this.buffers[at] as Buffer;
  }
}

/**
 * The uncompressed content of the blocked-gzip file `path`, in order, one block at a time: each
 * is a view of memory reused two blocks later, so handle it before asking for the next. Yields
 * to the event loop between blocks, so signals and aborts are seen while a large tarball
 * unpacks.
 */
export async function* inflateBlocked(path: string): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  // Started members that nobody awaits any more (a failure) must not be unhandled rejections.
  let inflating: Promise<Buffer> | undefined;
  try {
    const size = fstatSync(fd).size;
    const headerBytes = Buffer.alloc(MEMBER_HEADER_MAX_LENGTH);
    const inputs = new Turns(2, DEFAULT_BLOCK_SIZE / 2);
    const outputs = new Turns(2, DEFAULT_BLOCK_SIZE + 64);
    let crc = 0;
    let total = 0;
    let at = 0;
    // The header of the member at `at`; a trailer is checked at once (against the members'
    // records, summed as they are started).
    const nextHeader = () => {
      if (at === size) {
        throw new Error(`it ends after ${at} bytes without its trailer member (cut short)`);
      }
      const available = Math.min(MEMBER_HEADER_MAX_LENGTH, size - at);
      const header = readMemberHeader(readExactly(fd, headerBytes, available, at));
      checkHeader(header, at, size);
      const found = header as MemberHeader;
      if (found.kind === 'trailer') checkTrailer(found, crc, total, at, size);
      return found;
    };
    let turn = 0;
    let header = nextHeader();
    while (header.kind === 'data') {
      const memberAt = at;
      const member = readExactly(
        fd,
        inputs.get(turn, header.memberLength),
        header.memberLength,
        at,
      );
      const recorded = memberChecksum(member);
      if (recorded.size > MAX_BLOCK_SIZE) {
        throw new Error(`the member at byte ${at} records ${recorded.size} bytes, too many`);
      }
      const started = gunzipInto(
        member,
        recorded.size,
        outputs.get(turn, recorded.size + 64),
      ).catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`the member at byte ${memberAt} is damaged: ${reason}`);
      });
      started.catch(() => {}); // seen when awaited, in order (or not at all after a failure)
      crc = crc32Combine(crc, recorded.crc, recorded.size);
      total += recorded.size;
      at += header.memberLength;
      header = nextHeader();
      // The block before this one, while this one inflates: its buffers are used again for the
      // member after this one, once the consumer is done with it.
      const previous = inflating;
      inflating = started;
      turn++;
      if (previous) {
        yield await previous;
        // A turn of the event loop: signal handlers and aborts run between blocks.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (inflating) {
      const last = inflating;
      inflating = undefined;
      yield await last;
    }
  } finally {
    // A member still inflating reads its input buffer: let it finish before the file goes.
    await inflating?.catch(() => {});
    closeSync(fd);
  }
}

function checkHeader(header: MemberHeader | undefined, at: number, size: number): void {
  if (!header) {
    if (size - at < MEMBER_HEADER_MAX_LENGTH) {
      throw new Error(`it ends inside the member at byte ${at} (cut short)`);
    }
    throw new Error(`no valid member header at byte ${at}`);
  }
  if (at + header.memberLength > size) {
    throw new Error(
      `the member at byte ${at} (${header.memberLength} bytes) runs past the end of the file (${size} bytes)`,
    );
  }
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
