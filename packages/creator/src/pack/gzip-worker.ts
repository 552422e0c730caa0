/** Worker thread of gzip-parallel.ts: compresses the blocks it is sent, one at a time. */
import { parentPort } from 'node:worker_threads';
import { type BlockJob, compressBlock } from './gzip-block.js';

if (!parentPort) throw new Error('gzip-worker.js must run in a worker thread');
const port = parentPort;
port.on('message', (job: BlockJob) => {
  const result = compressBlock(job);
  // The member has a buffer of its own (encodeDataMember): transfer it instead of copying it
  // back, and hand the input buffer back for reuse.
  const input = job.data;
  port.postMessage({ ...result, input }, [
    result.member.buffer as ArrayBuffer,
    input.buffer as ArrayBuffer,
  ]);
});
