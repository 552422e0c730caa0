/**
 * One block of a parallel gzip stream: raw deflate primed with the 32 KiB of input before the
 * block (as pigz does, so the ratio stays close to a single-threaded gzip), ended with a sync
 * flush (byte-aligned, not final) unless it is the last block. Blocks made this way and
 * concatenated are one valid deflate stream. Shared by the worker threads and the in-thread
 * path used with --threads 1.
 */
import { constants, deflateRawSync } from 'node:zlib';
import { crc32 } from './crc32.js';

export interface BlockJob {
  index: number;
  data: Uint8Array;
  /** Up to 32 KiB of input that precedes `data` (empty for the first block). */
  dictionary: Uint8Array;
  last: boolean;
  level: number;
}

export interface BlockResult {
  index: number;
  deflated: Uint8Array;
  crc: number;
  length: number;
  /** The job's input buffer, handed back so the caller can reuse it for a later block. */
  input?: Uint8Array;
}

/** The deflate window: a dictionary longer than this is useless. */
export const DICTIONARY_SIZE = 32 * 1024;

const OUTPUT_CHUNK = 64 * 1024;

export function compressBlock(job: BlockJob): BlockResult {
  const options: Parameters<typeof deflateRawSync>[1] = {
    level: job.level,
    memLevel: 8,
    finishFlush: job.last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    // One output buffer large enough for a typical block: no concatenation of 16 KiB pieces.
    chunkSize: OUTPUT_CHUNK,
  };
  if (job.dictionary.length > 0) options.dictionary = job.dictionary;
  const deflated = deflateRawSync(job.data, options);
  return { index: job.index, deflated, crc: crc32(job.data), length: job.data.length };
}
