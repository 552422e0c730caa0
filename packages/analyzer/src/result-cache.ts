/**
 * Whole-run results. When a run has the same options as an earlier one (the key) and every
 * path the earlier run read or listed has the same stat (run-inputs.ts: source files, folders
 * walked or looked into for local modules, the environment's records, the analyzer's own code
 * and data), its spec, report and warnings are this run's result: nothing is read, scanned,
 * followed or classified again. On the standard library (668 files) that leaves a `stat` per
 * file and folder; the per-file caches (cache.ts, stat-index.ts) still serve runs after a
 * change.
 *
 * One file per key in `<cache>/results/`: a first line of JSON (the inputs, spec, warnings and
 * where the target version came from), then the report's JSON, which is only parsed when
 * asked for (1 MB for the standard library, 30 ms to parse). Written atomically; the newest
 * MAX_RESULTS are kept, at most MAX_RESULT_BYTES in all. Like the other caches it accelerates
 * only: unreadable, cut off or damaged means a miss.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Spec } from '@poncho/core/spec-format';
import type { PythonTarget } from './python-version.js';
import type { AnalyzeReport } from './report.js';
import { type RecordedInput, type RunInputs, unchanged } from './run-inputs.js';

/** Bump when what is stored, or what a result depends on, changes. */
const RESULT_FORMAT = 1;
const RESULTS = 'results';
/** Results kept (one per set of options and sources). */
export const MAX_RESULTS = 16;
/** All results together (a tree of 10,000 files has a report of some 20 MB). */
export const MAX_RESULT_BYTES = 128 * 1024 * 1024;
/** Larger reports are not stored: reading them back would cost more than it saves. */
const MAX_REPORT_CHARS = 64 * 1024 * 1024;

export interface StoredResult {
  spec: Spec;
  warnings: string[];
  /** Files analyzed. */
  files: number;
  python: PythonTarget;
  /** The target version came from running an interpreter, which may have changed: ask again. */
  pythonRun: boolean;
}

interface Header extends StoredResult {
  format: number;
  inputs: RecordedInput[];
  /** Bytes of the report after the header line: a cut-off file is a miss. */
  reportBytes: number;
}

/** A stored result, its report still to be parsed. */
export interface FoundResult extends StoredResult {
  report(): AnalyzeReport;
}

export class ResultCache {
  private readonly file: string;

  /** `key`: everything besides the file system the result depends on (JSON-serialisable). */
  constructor(dir: string, key: unknown) {
    const hash = createHash('sha256')
      .update(JSON.stringify([RESULT_FORMAT, key]))
      .digest('hex');
    this.file = join(dir, RESULTS, `${hash}.json`);
  }

  lookup(): FoundResult | undefined {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.file);
    } catch {
      return undefined;
    }
    // Bytes, not text: the report is decoded only when asked for.
    const end = bytes.indexOf(0x0a);
    let header: Header;
    try {
      header = JSON.parse(bytes.toString('utf8', 0, end)) as Header;
    } catch {
      return undefined;
    }
    if (header.format !== RESULT_FORMAT || !Array.isArray(header.inputs)) return undefined;
    if (header.reportBytes !== bytes.length - end - 1) return undefined;
    if (!unchanged(header.inputs)) return undefined;
    const { spec, warnings, files, python, pythonRun } = header;
    const report = () => JSON.parse(bytes.toString('utf8', end + 1)) as AnalyzeReport;
    return { spec, warnings, files, python, pythonRun, report };
  }

  /** Stores a run's result, unless some of what it read cannot be checked later. */
  store(inputs: RunInputs, result: StoredResult & { report: AnalyzeReport }): void {
    const recorded = inputs.recorded();
    if (!recorded) return;
    const reportText = JSON.stringify(result.report);
    if (reportText.length > MAX_REPORT_CHARS) return;
    const reportBytes = Buffer.byteLength(reportText);
    const { spec, warnings, files, python, pythonRun } = result;
    const header: Header = {
      format: RESULT_FORMAT,
      inputs: recorded,
      spec,
      warnings,
      files,
      python,
      pythonRun,
      reportBytes,
    };
    const folder = dirname(this.file);
    const temp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(folder, { recursive: true });
      writeFileSync(temp, `${JSON.stringify(header)}\n${reportText}`);
      renameSync(temp, this.file);
      trim(folder);
    } catch {
      rmSync(temp, { force: true });
    }
  }
}

/**
 * Keeps the newest MAX_RESULTS results within MAX_RESULT_BYTES (the newest always), and no
 * temp file older than a minute.
 */
function trim(folder: string): void {
  const now = Date.now();
  const results: Array<{ path: string; mtime: number; size: number }> = [];
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    const info = statSync(path, { throwIfNoEntry: false });
    const mtime = info?.mtimeMs ?? 0;
    if (name.endsWith('.tmp')) {
      if (now - mtime > 60_000) rmSync(path, { force: true });
    } else results.push({ path, mtime, size: info?.size ?? 0 });
  }
  results.sort((a, b) => b.mtime - a.mtime);
  let bytes = 0;
  for (const [i, { path, size }] of results.entries()) {
    bytes += size;
    if (i > 0 && (i >= MAX_RESULTS || bytes > MAX_RESULT_BYTES)) rmSync(path, { force: true });
  }
}

/**
 * Records the analyzer's own code and data as inputs: a result from another build (same
 * version number, changed code) must not be reused.
 */
export function recordTool(inputs: RunInputs): void {
  const folders = [
    dirname(fileURLToPath(import.meta.url)),
    fileURLToPath(new URL('../data', import.meta.url)),
    dirname(createRequire(import.meta.url).resolve('@poncho/core/spec-format')),
  ];
  for (const folder of folders) {
    inputs.path(folder, undefined, true);
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      inputs.unverifiable();
      continue;
    }
    for (const name of names)
      if (/\.(?:m?js|json)$/.test(name)) inputs.path(join(folder, name), undefined, true);
  }
}
