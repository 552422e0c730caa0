/**
 * What scanning one file yields, as plain data: it crosses threads and is cached. Kept apart
 * from scan.ts so that a run served from the cache never loads the parser's modules.
 */
import { PonchoError } from '@poncho/core/errors';
import type { ExtractedImports } from './imports.js';

/** Bump when the shape or meaning of a FileScan changes (invalidates cached scans). */
export const SCAN_FORMAT = 4;

export interface FileScan extends ExtractedImports {
  encoding: string;
  lines: number;
}

/** A scan, or the reason the file cannot be scanned. */
export type ScanOutcome =
  | { ok: true; scan: FileScan }
  | { ok: false; error: { code: string; message: string; hint?: string } };

/** Turns a failed outcome back into the error it stands for. */
export function outcomeError(outcome: Extract<ScanOutcome, { ok: false }>): PonchoError {
  return new PonchoError(outcome.error.code, outcome.error.message, { hint: outcome.error.hint });
}
