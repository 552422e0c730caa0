/**
 * The strong identity of a tarball: a SHA-256 of its bytes, so that a folder unpacked from one
 * tarball is never taken for another one of the same size (two plain `.tar` files of one size
 * differ only in the middle: their ends are zeros).
 *
 * The file is hashed in pieces of PIECE_BYTES, each on libuv's threadpool (WebCrypto's digest
 * is asynchronous in Node), and the result is the SHA-256 of the pieces' digests: the main
 * thread, which writes the files of a cold run, only reads. This runs once per tarball file on
 * a worker (bin/launch.sh and marker.ts remember the files already checked by device, inode,
 * size and mtime), in parallel with the extraction on a cold run.
 */
import { open } from 'node:fs/promises';

const PIECE_BYTES = 4 * 1024 * 1024;
/** Pieces read ahead of the digests still running (bounds memory to a few pieces). */
const PIECES_IN_FLIGHT = 4;
const LABEL = 'sha256-pieces-4m';

export async function digestTarball(path: string, signal?: AbortSignal): Promise<string> {
  const { subtle } = globalThis.crypto;
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const digests: Array<Promise<ArrayBuffer>> = [];
    for (let at = 0; at < size; at += PIECE_BYTES) {
      signal?.throwIfAborted();
      const piece = Buffer.allocUnsafe(Math.min(PIECE_BYTES, size - at));
      for (let done = 0; done < piece.length; ) {
        const { bytesRead } = await handle.read(piece, done, piece.length - done, at + done);
        if (bytesRead === 0) throw new Error(`${path} became shorter while it was read`);
        done += bytesRead;
      }
      digests.push(subtle.digest('SHA-256', piece));
      const behind = digests[digests.length - PIECES_IN_FLIGHT];
      if (behind) await behind;
    }
    const list = (await Promise.all(digests)).map((digest) => Buffer.from(digest));
    const head = Buffer.from(`${LABEL} ${size}\n`);
    const top = await subtle.digest('SHA-256', Buffer.concat([head, ...list]));
    return `${LABEL}:${Buffer.from(top).toString('hex')}`;
  } finally {
    await handle.close();
  }
}
