/**
 * One block of a parallel gzip stream: raw deflate of the block alone (no dictionary), finished,
 * framed as one blocked-gzip data member (@poncho/core/blocked-gzip) so that a reader can inflate
 * the members in parallel. Shared by the worker threads and the in-thread path used with
 * --threads 1.
 */

import { deflateRawSync } from 'node:zlib';
import { encodeDataMember } from '@poncho/core/blocked-gzip';
import { crc32 } from '@poncho/core/crc32';

export interface BlockJob {
  index: number;
  data: Uint8Array;
  level: number;
}

export interface BlockResult {
  index: number;
  /** The whole gzip member, in a buffer of its own. */
  member: Uint8Array;
  crc: number;
  length: number;
  /** The job's input buffer, handed back so the caller can reuse it for a later block. */
  input?: Uint8Array;
}

/** Output buffer of zlib: a typical compressed block fits in one, no concatenation of pieces. */
const OUTPUT_CHUNK = 512 * 1024;

export function compressBlock(job: BlockJob): BlockResult {
  const deflated = deflateRawSync(job.data, {
    level: job.level,
    memLevel: 8,
    chunkSize: OUTPUT_CHUNK,
  });
  const crc = crc32(job.data);
  return {
    index: job.index,
    member: encodeDataMember(deflated, crc, job.data.length, job.level),
    crc,
    length: job.data.length,
  };
}
