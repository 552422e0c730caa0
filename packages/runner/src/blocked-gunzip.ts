/**
 * Inflating a blocked-gzip tarball (@poncho/core/blocked-gzip, what poncho_package_create
 * writes), up to AHEAD members ahead of the consumer: while the main thread writes the files of
 * one block, the next members inflate on libuv's threadpool (the machine's other core), into
 * memory that is reused (gunzip-into.ts): AHEAD + 1 input and output buffers, used in turn.
 *
 * Why reused memory: page faults on fresh memory cost more than inflating here (~12 us per
 * 4 KiB page on the 2-core build VM: ~60-90 ms of a cold run's CPU for the 21 MB benchmark
 * environment, with ~45 ms of inflating), which is what the earlier version, inflating every
 * member at once into new buffers, paid.
 *
 * Damage (a member running past the end of the file, a bad member, a missing or mismatching
 * trailer member, bytes after it) is an Error, which the caller reports as a damaged tarball.
 * The trailer member (the CRC-32 and length of the whole content, checked against what the
 * members record; zlib checks each member's content against its own record) is checked before
 * the last block is handed out.
 */
import { closeSync, fstatSync, openSync, read, readSync } from 'node:fs';
import {
  DEFAULT_BLOCK_SIZE,
  isBlockedGzip,
  MAX_BLOCK_SIZE,
  MEMBER_HEADER_MAX_LENGTH,
  type MemberHeader,
  memberChecksum,
  readMemberHeader,
} from '@poncho/core/blocked-gzip';
import { crc32Combine } from '@poncho/core/crc32';
import { gunzipInto } from './gunzip-into.js';
import { TarballDigest } from './tarball-digest.js';

/**
 * Members inflating ahead of the one the consumer waits for. Two: with one, the main thread
 * waited for the next block 35 ms of a ~220 ms extraction of the benchmark environment (blocks
 * of large files are written faster than they inflate); with two, 15 ms, and ~2 ms once the
 * members were also read on the threadpool (medians of six to ten cold runs each, 2-core VM).
 * Each costs a reused input and output buffer (~1.5 MiB).
 */
const AHEAD = 2;

/** The file's bytes [at, at + length) into `buffer` (which has room). */
function readExactly(fd: number, buffer: Buffer, length: number, at: number): Buffer {
  for (let done = 0; done < length; ) {
    const count = readSync(fd, buffer, done, length - done, at + done);
    if (count === 0) throw shrank(at + done);
    done += count;
  }
  return buffer.subarray(0, length);
}

/**
 * readExactly on the threadpool, for the members: the copy (and, the first time a buffer is
 * used, its page faults: ~2 ms per member here) is off the main thread, which writes files.
 * Measured: 233 against 242 ms wall for a cold run (medians of 31 interleaved rounds).
 */
function readExactlyLater(fd: number, buffer: Buffer, length: number, at: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const readFrom = (done: number) =>
      read(fd, buffer, done, length - done, at + done, (error, count) => {
        if (error) reject(error);
        else if (count === 0) reject(shrank(at + done));
        else if (done + count < length) readFrom(done + count);
        else resolve(buffer.subarray(0, length));
      });
    readFrom(0);
  });
}

function shrank(at: number): Error {
  return new Error(`the file shrank while it was read (at byte ${at})`);
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
 * is a view of memory reused AHEAD + 1 blocks later, so handle it before asking for the next. Yields
 * to the event loop between blocks, so signals and aborts are seen while a large tarball
 * unpacks. `digest`, when given, is fed every byte of the file, in order, as it is read (the
 * members, then the trailer member): complete once the last block was handed out.
 */
export async function* inflateBlocked(
  path: string,
  digest?: (size: number) => TarballDigest,
): AsyncGenerator<Buffer> {
  const fd = openSync(path, 'r');
  // Members started and not yet handed out, in order: at most AHEAD + 1, each with buffers of
  // its own (the consumer holds the block handed out last).
  const queue: Promise<Buffer>[] = [];
  try {
    const size = fstatSync(fd).size;
    const fileBytes = digest?.(size);
    const headerBytes = Buffer.alloc(MEMBER_HEADER_MAX_LENGTH);
    const inputs = new Turns(AHEAD + 1, DEFAULT_BLOCK_SIZE / 2);
    const outputs = new Turns(AHEAD + 1, DEFAULT_BLOCK_SIZE + 64);
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
      if (found.kind === 'trailer') {
        checkTrailer(found, crc, total, at, size);
        // Read whole above: it ends the file, and no member is longer than its header's room.
        fileBytes?.update(headerBytes.subarray(0, available));
      }
      return found;
    };
    let turn = 0;
    let header = nextHeader();
    while (header.kind === 'data' || queue.length > 0) {
      while (header.kind === 'data' && queue.length <= AHEAD) {
        const memberAt = at;
        const member = await readExactlyLater(
          fd,
          inputs.get(turn, header.memberLength),
          header.memberLength,
          at,
        );
        const recorded = memberChecksum(member);
        if (recorded.size > MAX_BLOCK_SIZE) {
          throw new Error(`the member at byte ${at} records ${recorded.size} bytes, too many`);
        }
        const output = outputs.get(turn, recorded.size + 64);
        const inflated = gunzipInto(member, recorded.size, output).catch((error: unknown) => {
          const reason = error instanceof Error ? error.message : String(error);
          throw new Error(`the member at byte ${memberAt} is damaged: ${reason}`);
        });
        inflated.catch(() => {}); // seen when awaited, in order (or not at all after a failure)
        fileBytes?.update(member); // (after starting it: the inflating need not wait)
        queue.push(inflated);
        crc = crc32Combine(crc, recorded.crc, recorded.size);
        total += recorded.size;
        at += header.memberLength;
        header = nextHeader();
        turn++;
      }
      yield await (queue.shift() as Promise<Buffer>);
      // A turn of the event loop: signal handlers and aborts run between blocks.
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    // A member still inflating reads its input buffer: let it finish before the file goes.
    await Promise.allSettled(queue);
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

/** True when the file `path` starts with a blocked-gzip member (what startInflating takes). */
export function isBlockedGzipFile(path: string): boolean {
  // Synchronous: a few bytes, on a cold start's critical path.
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(MEMBER_HEADER_MAX_LENGTH);
    return isBlockedGzip(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts inflating `tarball` now when it is blocked gzip (what poncho_package_create writes),
 * for an extraction to come (extract.ts, ExtractOptions.inflating); undefined for any other
 * format, or when the file cannot be read (the extraction then says why, as for any file). The
 * caller cancels it when it ends up not extracting.
 */
export function startInflating(
  tarball: string,
  options: { digest: boolean },
): InflatingTarball | undefined {
  let blocked: boolean;
  try {
    blocked = isBlockedGzipFile(tarball);
  } catch {
    return undefined;
  }
  return blocked ? new InflatingTarball(tarball, options) : undefined;
}

/**
 * A blocked-gzip tarball whose first members are already inflating: started as soon as a run
 * knows it will unpack, so that the threadpool inflates the first block while the main thread
 * still prepares the folder (a cold run's main thread otherwise waits ~10 ms for it). With
 * `digest`, the file's digest (tarball-digest.ts) is computed from the bytes read to inflate,
 * so a cold run reads the tarball once.
 */
export class InflatingTarball {
  private readonly source: AsyncGenerator<Buffer>;
  private readonly first: Promise<IteratorResult<Buffer>>;
  private fileDigest: TarballDigest | undefined;
  private consumed = false;

  /**
   * Starts inflating `path`, which must be blocked gzip (isBlockedGzip). A failure (a damaged
   * file) is not thrown here: it comes out of blocks(), where the extraction reports it.
   */
  constructor(
    readonly path: string,
    options: { digest: boolean },
  ) {
    this.source = inflateBlocked(
      path,
      options.digest ? (size) => (this.fileDigest = new TarballDigest(size)) : undefined,
    );
    this.first = this.source.next();
    this.first.catch(() => {}); // seen by blocks(), or dropped by cancel()
  }

  /** The blocks, as inflateBlocked hands them out; once only. */
  async *blocks(): AsyncGenerator<Buffer> {
    if (this.consumed) throw new Error(`the blocks of ${this.path} were already read`);
    this.consumed = true;
    const first = await this.first;
    if (first.done) return;
    yield first.value;
    yield* this.source;
  }

  /** The file's digest, once every block was read (started with `digest`). */
  digest(): string {
    if (!this.fileDigest) throw new Error(`no digest of ${this.path} was asked for`);
    return this.fileDigest.digest();
  }

  /** Stops it when nobody read it: the started members finish, and the file is closed. */
  async cancel(): Promise<void> {
    if (this.consumed) return;
    this.consumed = true;
    await this.first.catch(() => {});
    await this.source.return(undefined);
  }
}
