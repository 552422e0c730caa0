/**
 * Spreads scans over threads (tree-sitter parsing is CPU-bound and each WebAssembly instance is
 * single-threaded). `threads` counts the calling thread: with 2, one worker thread and this one
 * pull from a shared queue, so this thread (otherwise idle while files are parsed) starts
 * parsing at once while the worker boots, and no core is left idle. With 0 or 1 everything
 * runs on the calling thread, which is faster for a handful of files.
 */
import { Worker } from 'node:worker_threads';
import type { ExtractOptions } from './imports.js';
import { type ScanOutcome, scanBytes } from './scan.js';
import type { ScanReply, ScanRequest } from './scan-worker.js';

interface Job {
  bytes: Uint8Array;
  file: string;
  resolve(outcome: ScanOutcome): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  inFlight: Map<number, Job>;
}

/** Jobs queued in each worker's port, so that it never waits for this thread to send more. */
const WORKER_QUEUE_DEPTH = 8;

export class ScanPool {
  private readonly queue: Job[] = [];
  private readonly workers: PoolWorker[] = [];
  private started = false;
  private mainBusy = false;
  private nextId = 0;

  constructor(
    private readonly threads: number,
    private readonly options: ExtractOptions,
  ) {}

  /** Scans one file's bytes. The bytes may be transferred to another thread: do not reuse them. */
  scan(bytes: Uint8Array, file: string): Promise<ScanOutcome> {
    return new Promise<ScanOutcome>((resolve, reject) => {
      this.queue.push({ bytes, file, resolve, reject });
      this.pump();
    });
  }

  /** Starts the worker threads now (they take a while to load the parser). */
  warmUp(): void {
    if (!this.started && this.threads > 1) {
      this.started = true;
      for (let i = 1; i < this.threads; i++) this.start();
    }
  }

  private pump(): void {
    this.warmUp();
    for (const entry of this.workers) {
      while (entry.inFlight.size < WORKER_QUEUE_DEPTH && this.queue.length > 0) {
        this.send(entry, this.queue.shift() as Job);
      }
    }
    if (!this.mainBusy && this.queue.length > 0) {
      const job = this.queue.shift() as Job;
      this.mainBusy = true;
      // Through the event loop, so workers' replies are handled (and refilled) between parses.
      setImmediate(() => {
        scanBytes(job.bytes, job.file, this.options)
          .then(job.resolve, job.reject)
          .finally(() => {
            this.mainBusy = false;
            this.pump();
          });
      });
    }
  }

  private send(entry: PoolWorker, job: Job): void {
    const id = this.nextId++;
    // Transfer, not copy; a Buffer that shares its memory with others must be copied first.
    const bytes = job.bytes;
    const own =
      bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
        ? bytes
        : bytes.slice();
    entry.inFlight.set(id, job);
    const request: ScanRequest = { id, bytes: own, file: job.file, options: this.options };
    entry.worker.postMessage(request, [own.buffer as ArrayBuffer]);
  }

  private start(): void {
    const worker = new Worker(new URL('./scan-worker.js', import.meta.url));
    const entry: PoolWorker = { worker, inFlight: new Map() };
    worker.on('message', (reply: ScanReply) => {
      const job = entry.inFlight.get(reply.id);
      if (!job) return;
      entry.inFlight.delete(reply.id);
      if ('outcome' in reply) job.resolve(reply.outcome);
      else job.reject(new Error(`scan worker failed: ${reply.crash}`));
      this.pump();
    });
    const failAll = (error: Error) => {
      for (const job of entry.inFlight.values()) job.reject(error);
      entry.inFlight.clear();
      const index = this.workers.indexOf(entry);
      if (index >= 0) this.workers.splice(index, 1);
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => {
      if (entry.inFlight.size > 0) failAll(new Error(`scan worker exited with code ${code}`));
    });
    this.workers.push(entry);
  }

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }
}
