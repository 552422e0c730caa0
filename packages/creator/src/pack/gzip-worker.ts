/** Worker thread of gzip-parallel.ts: compresses the blocks it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { type BlockJob, compressBlock } from './gzip-block.js';

if (!parentPort) throw new Error('gzip-worker.js must run in a worker thread');
const port = parentPort;
port.on('message', (job: BlockJob) => {
  const result = compressBlock(job);
  // Transfer the output instead of copying it back; copy first if it shares a pool buffer.
  const own =
    result.deflated.byteOffset === 0 &&
    result.deflated.byteLength === result.deflated.buffer.byteLength
      ? result.deflated
      : result.deflated.slice();
  port.postMessage({ ...result, deflated: own }, [own.buffer as ArrayBuffer]);
});
