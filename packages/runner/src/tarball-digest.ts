/**
 * The strong identity of a tarball: a SHA-256 of its bytes, so that a folder unpacked from one
 * tarball is never taken for another one of the same size (two plain `.tar` files of one size
 * differ only in the middle: their ends are zeros).
 *
 * The file is hashed in pieces of PIECE_BYTES, and the result is the SHA-256 of the pieces'
 * digests (the format markers record: keep it). The file is read 256 KiB at a time into one
 * buffer and hashed on the main thread with node:crypto (~1 ms per MiB), between asynchronous
 * reads, so a cold run's extraction goes on in between. WebCrypto's asynchronous digest, used before, hashes on the threadpool
 * but spent 12-37 ms of the main thread per 4 MiB piece before handing it over (Node 20,
 * measured), more than hashing it here. This runs once per tarball file on a worker
 * (bin/launch.sh and marker.ts remember the files already checked by device, inode, size and
 * mtime), alongside the extraction on a cold run.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const PIECE_BYTES = 4 * 1024 * 1024;
/** Bytes read at a time, into one buffer: fresh memory costs a page fault per 4 KiB. */
const READ_BYTES = 256 * 1024;
const LABEL = 'sha256-pieces-4m';

export async function digestTarball(path: string, signal?: AbortSignal): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const top = createHash('sha256').update(`${LABEL} ${size}\n`);
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, size));
    let piece = createHash('sha256');
    for (let at = 0; at < size; ) {
      signal?.throwIfAborted();
      // Never across a piece's end.
      const length = Math.min(READ_BYTES, size - at, PIECE_BYTES - (at % PIECE_BYTES));
      const { bytesRead } = await handle.read(buffer, 0, length, at);
      if (bytesRead === 0) throw new Error(`${path} became shorter while it was read`);
      piece.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
      if (at % PIECE_BYTES === 0 || at === size) {
        top.update(piece.digest());
        piece = createHash('sha256');
      }
    }
    return `${LABEL}:${top.digest('hex')}`;
  } finally {
    await handle.close();
  }
}
