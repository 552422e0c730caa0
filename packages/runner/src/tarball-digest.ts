/**
 * The strong identity of a tarball: a SHA-256 of its bytes, so that a folder unpacked from one
 * tarball is never taken for another one of the same size (two plain `.tar` files of one size
 * differ only in the middle: their ends are zeros).
 *
 * The file is hashed in pieces of PIECE_BYTES, and the result is the SHA-256 of the pieces'
 * digests (the format markers record: keep it). Two ways to feed it:
 *
 * - TarballDigest, given the file's bytes in order by whoever reads them anyway: a cold run
 *   that unpacks a blocked-gzip tarball hashes each member as it reads it to inflate it
 *   (blocked-gunzip.ts), so the file is read once, with no second pass over it.
 * - digestTarball, which reads the file itself: 256 KiB at a time into one buffer, hashed on
 *   the main thread with node:crypto (~1 ms per MiB) between asynchronous reads, so an
 *   extraction can go on in between. WebCrypto's asynchronous digest, used before, hashes on
 *   the threadpool but spent 12-37 ms of the main thread per 4 MiB piece before handing it over
 *   (Node 20, measured), more than hashing it here.
 *
 * This runs once per tarball file on a worker (bin/launch.sh and marker.ts remember the files
 * already checked by device, inode, size and mtime).
 */
import { createHash, type Hash } from 'node:crypto';
import { open } from 'node:fs/promises';

const PIECE_BYTES = 4 * 1024 * 1024;
/** Bytes read at a time, into one buffer: fresh memory costs a page fault per 4 KiB. */
const READ_BYTES = 256 * 1024;
const LABEL = 'sha256-pieces-4m';

/** The digest of a file of `size` bytes, fed its bytes in order, in pieces of any length. */
export class TarballDigest {
  private readonly top: Hash;
  private piece = createHash('sha256');
  private fed = 0;

  constructor(readonly size: number) {
    this.top = createHash('sha256').update(`${LABEL} ${size}\n`);
  }

  update(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      // Never across a piece's end.
      const length = Math.min(bytes.length - at, PIECE_BYTES - (this.fed % PIECE_BYTES));
      this.piece.update(bytes.subarray(at, at + length));
      at += length;
      this.fed += length;
      if (this.fed % PIECE_BYTES === 0 || this.fed === this.size) {
        this.top.update(this.piece.digest());
        this.piece = createHash('sha256');
      }
    }
  }

  /** The digest, once all `size` bytes were fed. */
  digest(): string {
    if (this.fed !== this.size) {
      throw new Error(`the digest was fed ${this.fed} of the file's ${this.size} bytes`);
    }
    return `${LABEL}:${this.top.digest('hex')}`;
  }
}

/** Reads and hashes the file `path`. */
export async function digestTarball(path: string, signal?: AbortSignal): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const digest = new TarballDigest(size);
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, size));
    for (let at = 0; at < size; ) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, Math.min(READ_BYTES, size - at), at);
      if (bytesRead === 0) throw new Error(`${path} became shorter while it was read`);
      digest.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    return digest.digest();
  } finally {
    await handle.close();
  }
}
