/**
 * Where each package name's records are in a repodata.json document (from json-scan.ts), kept
 * in a small binary file beside the document so that a later solve against the same document
 * reads neither the whole document nor the scan: it opens the index, then reads and parses
 * only the byte spans of the names it reaches.
 *
 * File layout (little endian): "PNIX" | u32 header length | header JSON {version, info, names,
 * counts} | zero padding to 8 | f64 pairs [start, end) in the order of `names`.
 */
import { open, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@poncho/core/fs';
import type { ScanResult } from './json-scan.js';
import { brokenRepodata, type RecordsByFile, recordsFromEntries } from './record.js';

const MAGIC = 'PNIX';
const FORMAT = 1;
/** Spans closer than this are read in one go (conda index sorts keys: a name's records touch). */
const MERGE_GAP = 64 * 1024;

interface Header {
  version: number;
  info?: string;
  names: string[];
  counts: number[];
}

export class NameIndex {
  private readonly where = new Map<string, [first: number, count: number]>();

  private constructor(
    private readonly header: Header,
    private readonly data: Float64Array,
  ) {
    let first = 0;
    header.names.forEach((name, i) => {
      const count = header.counts[i] ?? 0;
      this.where.set(name, [first, count]);
      first += count;
    });
  }

  static fromScan(scan: ScanResult): NameIndex {
    const names = [...scan.spans.keys()];
    const counts = names.map((name) => (scan.spans.get(name)?.length ?? 0) / 2);
    const data = new Float64Array(scan.records * 2);
    let at = 0;
    for (const name of names) {
      const spans = scan.spans.get(name) as number[];
      data.set(spans, at);
      at += spans.length;
    }
    const header: Header = { version: FORMAT, names, counts };
    if (scan.info !== undefined) header.info = scan.info;
    return new NameIndex(header, data);
  }

  /** The index stored at `path`, or null when it is missing or not one of ours. */
  static async load(path: string): Promise<NameIndex | null> {
    const bytes = await readFile(path).catch(() => null);
    if (!bytes || bytes.length < 8 || bytes.toString('latin1', 0, 4) !== MAGIC) return null;
    try {
      const headerLength = bytes.readUInt32LE(4);
      const header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength)) as Header;
      if (header.version !== FORMAT) return null;
      const dataStart = align8(8 + headerLength);
      const total = header.counts.reduce((sum, n) => sum + n, 0);
      if (bytes.length !== dataStart + total * 16) return null;
      // Copied out: the file's Buffer may sit at an offset not aligned for a Float64Array.
      const data = new Float64Array(total * 2);
      Buffer.from(data.buffer).set(bytes.subarray(dataStart));
      return new NameIndex(header, data);
    } catch {
      return null;
    }
  }

  async save(path: string): Promise<void> {
    const header = Buffer.from(JSON.stringify(this.header));
    const dataStart = align8(8 + header.length);
    const out = Buffer.alloc(dataStart + this.data.byteLength);
    out.write(MAGIC, 0, 'latin1');
    out.writeUInt32LE(header.length, 4);
    header.copy(out, 8);
    Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength).copy(out, dataStart);
    await writeFileAtomic(path, out, { what: 'repodata name index' });
  }

  get info(): string | undefined {
    return this.header.info;
  }

  get records(): number {
    return this.data.length / 2;
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  names(): string[] {
    return this.header.names;
  }

  /**
   * The records of `names` read from the document at `documentPath` (the one this index was
   * made from). Each record is checked; `url` names the document in errors.
   */
  async readRecords(
    documentPath: string,
    names: Iterable<string>,
    url: string,
    subdir: string,
  ): Promise<Map<string, RecordsByFile>> {
    const result = new Map<string, RecordsByFile>();
    const wanted = [...names].filter((name) => this.where.has(name));
    if (wanted.length === 0) return result;
    const file = await open(documentPath, 'r');
    try {
      for (const name of wanted) {
        const [first, count] = this.where.get(name) as [number, number];
        const pieces: string[] = [];
        // Spans in file order, read in runs so that neighbouring records cost one read.
        let i = 0;
        while (i < count) {
          const runStart = this.data[2 * (first + i)] as number;
          let j = i;
          while (
            j + 1 < count &&
            (this.data[2 * (first + j + 1)] as number) -
              (this.data[2 * (first + j) + 1] as number) <=
              MERGE_GAP &&
            (this.data[2 * (first + j + 1)] as number) >= (this.data[2 * (first + j) + 1] as number)
          ) {
            j += 1;
          }
          const runEnd = this.data[2 * (first + j) + 1] as number;
          const buffer = Buffer.allocUnsafe(runEnd - runStart);
          const { bytesRead } = await file.read(buffer, 0, buffer.length, runStart);
          if (bytesRead !== buffer.length)
            throw brokenRepodata(url, 'the cached document is short');
          for (let k = i; k <= j; k += 1) {
            const start = (this.data[2 * (first + k)] as number) - runStart;
            const end = (this.data[2 * (first + k) + 1] as number) - runStart;
            pieces.push(buffer.toString('utf8', start, end));
          }
          i = j + 1;
        }
        const records = recordsFromEntries(pieces, name, url, subdir);
        result.set(name, records);
      }
    } finally {
      await file.close();
    }
    return result;
  }
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
