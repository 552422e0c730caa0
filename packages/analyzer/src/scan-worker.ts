/**
 * Worker-thread entry: scans files sent by pool.ts (each thread loads its own parser).
 */
import { parentPort } from 'node:worker_threads';
import type { ExtractOptions } from './imports.js';
import { scanBytes } from './scan.js';

export interface ScanRequest {
  id: number;
  bytes: Uint8Array;
  file: string;
  options: ExtractOptions;
}

export type ScanReply =
  | { id: number; outcome: import('./scan.js').ScanOutcome }
  | { id: number; crash: string };

const port = parentPort;
if (!port) throw new Error('scan-worker.js must run in a worker thread');

port.on('message', (request: ScanRequest) => {
  scanBytes(request.bytes, request.file, request.options).then(
    (outcome) => port.postMessage({ id: request.id, outcome } satisfies ScanReply),
    (error: unknown) =>
      port.postMessage({
        id: request.id,
        crash: error instanceof Error ? (error.stack ?? error.message) : String(error),
      } satisfies ScanReply),
  );
});
