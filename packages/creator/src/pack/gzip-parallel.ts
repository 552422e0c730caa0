/**
 * Parallel gzip in the blocked-gzip framing (@poncho/core/blocked-gzip): the input is cut into
 * fixed-size blocks, each deflated independently on a worker thread into a gzip member of its
 * own, and the members are written in order, followed by a trailer member holding the CRC
 * (combined from the blocks' CRCs) and length of the whole input. Unlike pigz's single member,
 * the runner can inflate such a file in parallel; any gzip reader still reads it.
 * The block boundaries depend only on the input and the block size, never on the number of
 * threads, so the output is byte-identical whatever --threads says.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DEFAULT_BLOCK_SIZE, encodeTrailerMember, MAX_BLOCK_SIZE } from '@poncho/core/blocked-gzip';
import { crc32Combine } from '@poncho/core/crc32';
import { type BlockJob, type BlockResult, compressBlock } from './gzip-block.js';
import type { ByteSink } from './sink.js';

export interface ParallelGzipOptions {
  /** zlib level 0-9 (default 6, as gzip). */
  level?: number;
  /** Compression threads (default: every core). 1 compresses on the calling thread. */
  threads?: number;
  /** Input bytes per block (default: blocked-gzip's DEFAULT_BLOCK_SIZE, 1 MiB). */
  blockSize?: number;
  /**
   * Input bytes of the first block (default: FIRST_BLOCK_SIZE, or blockSize when that is
   * smaller). Small, so that a runner has its first block sooner: it starts writing files once
   * the first block is inflated, and in a fresh process a 1 MiB member takes ~8 ms to inflate,
   * a 64 KiB one ~3 ms.
   */
  firstBlockSize?: number;
  /**
   * Worker threads started earlier (GzipWorkerPool.start), so that their start-up overlaps
   * other work; `threads` is then ignored. The ParallelGzip takes them over and stops them.
   */
  pool?: GzipWorkerPool;
}

/**
 * Compression worker threads, started ahead of the ParallelGzip that uses them: a thread takes
 * tens of milliseconds to load, which the packer spends listing and scanning the prefix.
 */
export class GzipWorkerPool {
  /** The first error a worker raised before a ParallelGzip listened to it. */
  failure: unknown;

  private constructor(readonly workers: Worker[]) {}

  /** Starts `threads` workers (none for 1 thread: that compresses on the calling thread). */
  static start(threads = defaultThreads()): GzipWorkerPool {
    const count = Math.max(1, Math.floor(threads));
    const workers: Worker[] = [];
    const pool = new GzipWorkerPool(workers);
    if (count > 1) {
      for (let i = 0; i < count; i++) {
        const worker = new Worker(new URL('./gzip-worker.js', import.meta.url));
        worker.on('error', (error) => {
          pool.failure ??= error;
        });
        workers.push(worker);
      }
    }
    return pool;
  }

  /** Stops the workers (idempotent). */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export function defaultThreads(): number {
  return availableParallelism();
}

/** The default first block: see ParallelGzipOptions.firstBlockSize. */
export const FIRST_BLOCK_SIZE = 64 * 1024;

export class ParallelGzip {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly firstBlockSize: number;
  private readonly workers: Worker[] = [];
  private readonly maxInFlight: number;
  private block: Uint8Array;
  /** Full-size block buffers the workers handed back: reused instead of allocated. */
  private readonly spareBlocks: Uint8Array[] = [];
  private fill = 0;
  private nextIndex = 0;
  private nextToWrite = 0;
  private readonly results = new Map<number, BlockResult>();
  private inFlight = 0;
  private crc = 0;
  private inputBytes = 0;
  private outputBytes = 0;
  private failure: unknown;
  private waiters: Array<() => void> = [];
  private writing: Promise<void> = Promise.resolve();
  private roundRobin = 0;

  constructor(
    private readonly sink: ByteSink,
    options: ParallelGzipOptions = {},
  ) {
    this.level = options.level ?? 6;
    if (!Number.isInteger(this.level) || this.level < 0 || this.level > 9) {
      throw new RangeError(
        `compression level must be an integer from 0 to 9, got ${options.level}`,
      );
    }
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (
      !Number.isInteger(this.blockSize) ||
      this.blockSize < 1 ||
      this.blockSize > MAX_BLOCK_SIZE
    ) {
      throw new RangeError(
        `block size must be an integer from 1 to ${MAX_BLOCK_SIZE}, got ${options.blockSize}`,
      );
    }
    this.firstBlockSize = options.firstBlockSize ?? Math.min(FIRST_BLOCK_SIZE, this.blockSize);
    if (
      !Number.isInteger(this.firstBlockSize) ||
      this.firstBlockSize < 1 ||
      this.firstBlockSize > this.blockSize
    ) {
      throw new RangeError(
        `first block size must be an integer from 1 to the block size ${this.blockSize}, got ${options.firstBlockSize}`,
      );
    }
    const pool = options.pool ?? GzipWorkerPool.start(options.threads ?? defaultThreads());
    if (pool.failure) this.fail(pool.failure);
    for (const worker of pool.workers.splice(0)) {
      worker.on('message', (result: BlockResult) => this.onResult(result));
      worker.on('error', (error) => this.fail(error));
      this.workers.push(worker);
    }
    const threads = Math.max(1, this.workers.length);
    // Enough blocks in flight that a descheduled thread does not stall the others at once,
    // few enough that memory stays a few MiB per thread.
    this.maxInFlight = Math.max(4, threads * 3);
    this.block = new Uint8Array(this.blockSize);
  }

  /** Compresses `data`; resolves when the caller may send more (bounded memory). */
  async write(data: Uint8Array): Promise<void> {
    this.throwIfFailed();
    this.inputBytes += data.length;
    let offset = 0;
    while (offset < data.length) {
      const n = Math.min(data.length - offset, this.blockLimit() - this.fill);
      this.block.set(data.subarray(offset, offset + n), this.fill);
      this.fill += n;
      offset += n;
      if (this.fill === this.blockLimit()) {
        await this.dispatch();
      }
    }
  }

  /** ByteSink.writeFilled: `fill` writes straight into the block buffer (no copy). */
  async writeFilled(length: number, fill: (target: Uint8Array) => void): Promise<void> {
    this.throwIfFailed();
    let remaining = length;
    while (remaining > 0) {
      const n = Math.min(remaining, this.blockLimit() - this.fill);
      fill(this.block.subarray(this.fill, this.fill + n));
      this.fill += n;
      this.inputBytes += n;
      remaining -= n;
      if (this.fill === this.blockLimit()) {
        await this.dispatch();
      }
    }
  }

  /** Flushes the last block and the trailer member; resolves once everything reached the sink. */
  async end(): Promise<{ inputBytes: number; outputBytes: number; crc: number }> {
    this.throwIfFailed();
    if (this.fill > 0) await this.dispatch();
    while (this.inFlight > 0) {
      this.throwIfFailed();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.throwIfFailed();
    this.queueOutput(encodeTrailerMember(this.crc, this.inputBytes, this.level));
    await this.writing;
    this.throwIfFailed();
    await this.close();
    return { inputBytes: this.inputBytes, outputBytes: this.outputBytes, crc: this.crc };
  }

  /** Stops the worker threads (always call it, also on failure). */
  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }

  /** The input bytes of the block being filled. */
  private blockLimit(): number {
    return this.nextIndex === 0 ? this.firstBlockSize : this.blockSize;
  }

  private async dispatch(): Promise<void> {
    const full = this.fill === this.blockSize;
    const data = full ? this.block : this.block.slice(0, this.fill);
    if (full) this.block = this.spareBlocks.pop() ?? new Uint8Array(this.blockSize);
    this.fill = 0;
    const job: BlockJob = { index: this.nextIndex++, data, level: this.level };
    this.inFlight++;
    if (this.workers.length === 0) {
      try {
        const result = compressBlock(job);
        // Compressed synchronously: the input buffer is free again.
        this.onResult({ ...result, input: job.data });
      } catch (error) {
        this.fail(error);
      }
    } else {
      const worker = this.workers[this.roundRobin++ % this.workers.length] as Worker;
      // The buffer belongs to this job alone: transfer it instead of copying.
      worker.postMessage(job, [data.buffer as ArrayBuffer]);
    }
    while (this.inFlight >= this.maxInFlight && !this.failure) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.throwIfFailed();
  }

  private onResult(result: BlockResult): void {
    if (result.input?.byteLength === this.blockSize && this.spareBlocks.length < 4) {
      this.spareBlocks.push(result.input);
      result.input = undefined;
    }
    this.results.set(result.index, result);
    for (;;) {
      const next = this.results.get(this.nextToWrite);
      if (!next) break;
      this.results.delete(this.nextToWrite);
      this.nextToWrite++;
      this.crc = this.nextToWrite === 1 ? next.crc : crc32Combine(this.crc, next.crc, next.length);
      this.queueOutput(next.member, true);
    }
  }

  /** Chains sink writes so they happen in order; a block counts as in flight until written. */
  private queueOutput(chunk: Uint8Array, isBlock = false): void {
    this.writing = this.writing.then(async () => {
      if (this.failure) return;
      try {
        await this.sink.write(chunk);
        this.outputBytes += chunk.length;
      } catch (error) {
        this.fail(error);
      }
      if (isBlock) {
        this.inFlight--;
        this.wake();
      }
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private fail(error: unknown): void {
    if (!this.failure) this.failure = error ?? new Error('parallel gzip failed');
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
