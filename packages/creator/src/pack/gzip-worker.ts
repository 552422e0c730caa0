/** Worker thread of gzip-parallel.ts: compresses the blocks it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { type BlockJob, compressBlock } from './gzip-block.js';

if (!parentPort) throw new Error('gzip-worker.js must run in a worker thread');
const port = parentPort;
port.on('message', (job: BlockJob) => {
  const result = compressBlock(job);
  // Transfer the output instead of copying it back, and hand the input buffer back for reuse.
  // zlib's output is a view of a buffer of its own (the 64 KiB output chunk or a concatenation)
  // unless it is small enough to come from Node's shared Buffer pool: copy it then, since the
  // pool must not move to another thread. (Uint8Array's slice copies; Buffer's would not.)
  const input = job.data;
  let deflated = result.deflated;
  if (deflated.buffer.byteLength <= Buffer.poolSize || deflated.buffer === input.buffer) {
    deflated = Uint8Array.prototype.slice.call(deflated);
  }
  port.postMessage({ ...result, deflated, input }, [
    deflated.buffer as ArrayBuffer,
    input.buffer as ArrayBuffer,
  ]);
});
