/**
 * One repodata record: its shape, the checks every source applies before a record reaches the
 * solver (whatever the source: a monolithic document, a CEP-16 shard, a local folder), and the
 * package names that match specs and file names refer to.
 */
import { PonchoError } from '@poncho/core/errors';

export interface RepodataRecord {
  name: string;
  version: string;
  build: string;
  build_number: number;
  depends?: string[];
  constrains?: string[];
  subdir?: string;
  noarch?: string;
  sha256?: string;
  md5?: string;
  size?: number;
  timestamp?: number;
  license?: string;
  [key: string]: unknown;
}

/** file name -> record, for one package name in one subdir of one channel. */
export type RecordsByFile = Map<string, RepodataRecord>;

const INDEX_HINT =
  'The channel index is corrupt: re-index the channel (conda index) or report it to its owner.';

export function brokenRepodata(url: string, detail: string, cause?: unknown): PonchoError {
  return new PonchoError('ERR_REPODATA_INVALID', `broken repodata at ${url}: ${detail}`, {
    hint: INDEX_HINT,
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * The package name a file name stands for: `<name>-<version>-<build>.<ext>`, where version and
 * build never hold a dash (conda's rule), so the name is all but the last two parts. Null when
 * the file name has not that shape.
 */
export function nameOfFileName(fileName: string): string | null {
  const last = fileName.lastIndexOf('-');
  if (last <= 0) return null;
  const second = fileName.lastIndexOf('-', last - 1);
  if (second <= 0) return null;
  return fileName.slice(0, second);
}

/**
 * The package name of a match spec or a depends entry: `numpy >=1.24`, `python=3.11`,
 * `conda-forge::numpy[version='>=1']`, `pkg 1.0 build`. Lower case, as conda compares names.
 */
export function specName(spec: string): string {
  let text = spec.trim();
  const channelSep = text.lastIndexOf('::');
  if (channelSep >= 0) text = text.slice(channelSep + 2);
  const end = text.search(/[\s=<>!~[(,;|*@]/);
  return (end === -1 ? text : text.slice(0, end)).toLowerCase();
}

/**
 * Checks one record as it comes out of a source and completes it in place (build_number as a
 * number, subdir defaulting to the folder it is listed in). The key must name the record's own
 * package: a key for another name is a poisoned index (conda's rule).
 */
export function checkRecord(
  fileName: string,
  value: unknown,
  url: string,
  subdir: string,
): RepodataRecord {
  const r = value as RepodataRecord;
  if (
    !r ||
    typeof r !== 'object' ||
    Array.isArray(r) ||
    typeof r.name !== 'string' ||
    typeof r.version !== 'string' ||
    typeof r.build !== 'string'
  ) {
    throw brokenRepodata(url, `record "${fileName}" lacks name, version or build`);
  }
  if (!fileName.startsWith(`${r.name}-`) || fileName.includes('/')) {
    throw brokenRepodata(url, `file name "${fileName}" does not match package "${r.name}"`);
  }
  for (const list of ['depends', 'constrains'] as const) {
    const value = r[list];
    if (value !== undefined && (!Array.isArray(value) || value.some((d) => typeof d !== 'string')))
      throw brokenRepodata(url, `record "${fileName}": "${list}" is not a list of strings`);
  }
  if (typeof r.build_number !== 'number') r.build_number = Number(r.build_number ?? 0);
  if (r.subdir === undefined) r.subdir = subdir;
  return r;
}

/**
 * The records of one package name from the JSON text of their `"file": {record}` entries
 * (as json-scan.ts finds them). Each must be that package: a file name listed under one name
 * holding a record of another is a poisoned index.
 */
export function recordsFromEntries(
  entries: string[],
  name: string,
  url: string,
  subdir: string,
): RecordsByFile {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(`{${entries.join(',')}}`) as Record<string, unknown>;
  } catch (error) {
    throw brokenRepodata(
      url,
      `the records of ${name} are not valid JSON: ${(error as Error).message}`,
      error,
    );
  }
  const records: RecordsByFile = new Map();
  for (const [fileName, value] of Object.entries(parsed)) {
    const record = checkRecord(fileName, value, url, subdir);
    if (nameOfFileName(fileName) !== record.name)
      throw brokenRepodata(url, `file name "${fileName}" does not match package "${record.name}"`);
    records.set(fileName, record);
  }
  return records;
}
