/**
 * Where a packed stream goes: an open file (core's openOutput decides which: a temporary file
 * renamed at the end, or a device or FIFO written in place) written through large buffered
 * writes, with the size and sha256 of what was written computed on the way (the CLI reports
 * both). The sink writes; whoever opened the descriptor syncs and closes it.
 */
import { createHash } from 'node:crypto';
import { writevSync } from 'node:fs';

export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Optional: takes `length` bytes that `fill` puts straight into the sink's own buffer (called
   * with pieces of it, in order, each to be filled completely). Saves a buffer and a copy per
   * piece for file content read from disk; sinks without it get write() calls instead.
   */
  writeFilled?(length: number, fill: (target: Uint8Array) => void): Promise<void>;
}

/**
 * Collects writes into ~1 MiB batches so the file sees few, large write calls. The writes are
 * synchronous on purpose: a thread-pool round trip per batch costs more than the copy into the
 * page cache, and on a busy machine every such wait lets other processes take the CPU.
 */
export class HashingFileSink implements ByteSink {
  private readonly hash = createHash('sha256');
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private written = 0;

  private constructor(
    private readonly fd: number,
    private readonly flushAt: number,
  ) {}

  /** A sink writing to the open descriptor `fd`. */
  static onDescriptor(fd: number, flushAt = 1 << 20): HashingFileSink {
    return new HashingFileSink(fd, flushAt);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length === 0) return;
    this.hash.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.flushAt) this.flush();
  }

  private flush(): void {
    if (this.pendingBytes === 0) return;
    const chunks = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // writev keeps the chunks where they are instead of concatenating them.
    let remaining = chunks.reduce((sum, c) => sum + c.length, 0);
    let buffers: Uint8Array[] = chunks;
    while (remaining > 0) {
      const bytesWritten = writevSync(this.fd, buffers);
      this.written += bytesWritten;
      remaining -= bytesWritten;
      if (remaining > 0) buffers = dropBytes(buffers, bytesWritten);
    }
  }

  /** Writes what is still buffered; returns the size and sha256 (hex) of everything written. */
  async finish(): Promise<{ size: number; sha256: string }> {
    this.flush();
    return { size: this.written, sha256: this.hash.digest('hex') };
  }
}

function dropBytes(buffers: Uint8Array[], count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let skip = count;
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
