/**
 * Inflating one gzip member, on libuv's threadpool, into a buffer the caller owns and reuses.
 *
 * Why reuse: node's zlib API returns every output in a new buffer, and on a worker every new
 * page is a page fault on first touch. Measured on the 2-core build VM: touching fresh memory
 * costs ~12 us per 4 KiB page, so a cold run that inflated the 21 MB benchmark environment into
 * new buffers (and read the tarball into new ones) took ~7,000 page faults, ~60-90 ms of CPU:
 * more than inflating itself (~45 ms).
 *
 * How: a zlib stream writes its output into its current output buffer (`_outBuffer`, from
 * `_outOffset`, `_chunkSize` bytes) and hands out views of it; this one starts with the
 * caller's buffer there. That is not public API: were it ignored, the output would only come
 * in new memory again (and be copied), never be wrong. The result is a view of `into` when that
 * worked. zlib checks the member's CRC-32 and length (gzip trailer); this checks that the member
 * inflated to exactly the length it records.
 */
import { createGunzip, type Gunzip } from 'node:zlib';

/** What node's zlib streams keep internally (lib/zlib.js). */
interface ZlibOutput {
  _outBuffer?: Buffer;
  _outOffset?: number;
}

/**
 * The content of the gzip member `member`, which records `size` bytes, inflated on the
 * threadpool: a view of `into` (at least `size` + 64 bytes: room to see a member that holds
 * more). Rejects when the member is damaged or does not inflate to exactly `size` bytes.
 */
export function gunzipInto(member: Uint8Array, size: number, into: Buffer): Promise<Buffer> {
  const room = size + 64;
  if (into.length < room) throw new RangeError(`the buffer has ${into.length} bytes, not ${room}`);
  return new Promise((resolve, reject) => {
    const stream: Gunzip & ZlibOutput = createGunzip({ chunkSize: room });
    stream._outBuffer = into;
    stream._outOffset = 0;
    const pieces: Buffer[] = [];
    let produced = 0;
    stream.on('data', (piece: Buffer) => {
      produced += piece.length;
      // A member holding more than it records: stop there, not at out of memory.
      if (produced > size)
        stream.destroy(new Error(`it inflates to more than the ${size} bytes it records`));
      else pieces.push(piece);
    });
    stream.on('error', reject);
    stream.on('end', () => {
      if (produced !== size) {
        reject(new Error(`it inflates to ${produced} bytes, not the ${size} it records`));
        return;
      }
      const [only] = pieces;
      if (pieces.length === 1 && only && only.buffer === into.buffer) resolve(only);
      else {
        // Output that did not land in `into` (zlib's internals differ): copied there.
        const output = into.subarray(0, size);
        let at = 0;
        for (const piece of pieces) at += piece.copy(output, at);
        resolve(output);
      }
    });
    stream.end(member);
  });
}
