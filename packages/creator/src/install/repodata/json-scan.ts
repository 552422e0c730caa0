/**
 * One pass over a repodata.json document, fed in chunks of any size, that finds where each
 * record is without building any record: for every entry of `packages` and `packages.conda` it
 * notes the byte span of `"<file name>": {...}` under the package name the file name stands
 * for, and it keeps the top-level `info` object's text. conda-forge's linux-64 document is
 * hundreds of MB and ~500k records, of which a solve reaches a few thousand: JSON.parse of the
 * whole costs seconds and GBs, this costs one byte loop and a few MB of offsets. The records
 * of the names a solve reaches are parsed later from their spans (name-index.ts).
 *
 * It checks the structure it walks (an object at the top, balanced brackets, closed strings,
 * objects for the two package tables and for each record); the records themselves are checked
 * when parsed.
 */
import { brokenRepodata, nameOfFileName } from './record.js';

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const COLON = 58;
const COMMA = 44;

export interface ScanResult {
  /** package name -> flat [start, end, start, end, ...] byte spans of `"file": {record}`. */
  spans: Map<string, number[]>;
  /** The top-level `info` object as JSON text (small), if there is one. */
  info?: string;
  records: number;
  bytes: number;
}

/** What the string being read is, when it matters. */
enum StringRole {
  Other = 0,
  TopKey = 1,
  EntryKey = 2,
}

export class RepodataScanner {
  private readonly spans = new Map<string, number[]>();
  private records = 0;
  /** Absolute offset of the current chunk's first byte. */
  private base = 0;
  private depth = 0;
  private started = false;
  private inString = false;
  /** The chunk ended right after a backslash inside a string: skip the next byte. */
  private skipNext = false;
  private expectKey = false;
  private role = StringRole.Other;
  /** Bytes of the key being read, from chunks before the current one. */
  private keyParts: Buffer[] = [];
  private keyStart = 0;
  /** The top-level key whose value is being read. */
  private topKey = '';
  /** Inside `packages` or `packages.conda` (the value at depth 1 of those keys). */
  private inTable = false;
  /** The entry being read in a table: its name and where its key's quote is. */
  private entryName: string | null = null;
  private entryStart = 0;
  private entryKey = '';
  private entryIsObject = false;
  private infoParts: Buffer[] | null = null;
  private infoStart = 0;
  private info: string | undefined;

  constructor(private readonly url: string) {}

  push(chunk: Buffer): void {
    const n = chunk.length;
    let i = 0;
    if (this.skipNext && n > 0) {
      this.skipNext = false;
      i = 1;
    }
    let depth = this.depth;
    let inString = this.inString;
    while (i < n) {
      if (inString) {
        // The tight loop: most bytes of a repodata document are inside strings.
        let c = chunk[i] as number;
        while (c !== QUOTE && c !== BACKSLASH) {
          i += 1;
          if (i >= n) break;
          c = chunk[i] as number;
        }
        if (i >= n) break;
        if (c === BACKSLASH) {
          i += 2;
          if (i > n) this.skipNext = true;
          continue;
        }
        inString = false;
        if (this.role !== StringRole.Other) {
          const key = this.takeKey(chunk, i);
          if (this.role === StringRole.TopKey) this.topKey = key;
          else this.startEntry(key);
          this.role = StringRole.Other;
        }
        i += 1;
        continue;
      }
      const c = chunk[i] as number;
      if (c === QUOTE) {
        inString = true;
        if (this.expectKey && depth === 1) {
          this.role = StringRole.TopKey;
          this.keyParts = [];
          this.keyStart = i + 1;
        } else if (this.expectKey && depth === 2 && this.inTable) {
          this.role = StringRole.EntryKey;
          this.keyParts = [];
          this.keyStart = i + 1;
          this.entryStart = this.base + i;
        } else if (depth === 1) {
          this.topValue('a string');
        } else if (depth === 2 && this.inTable) {
          this.entryIsObject = false;
        }
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (depth === 0) {
          if (this.started) this.fail('text after the document');
          if (c !== OPEN_BRACE) this.fail('not a JSON object');
          this.started = true;
          this.expectKey = true;
        } else if (depth === 1) {
          if (c === OPEN_BRACKET) this.topValue('an array');
          else if (this.topKey === 'packages' || this.topKey === 'packages.conda') {
            this.inTable = true;
            this.expectKey = true;
          } else if (this.topKey === 'info') {
            this.infoParts = [];
            this.infoStart = i;
          }
        } else if (depth === 2 && this.inTable) {
          this.entryIsObject = c === OPEN_BRACE;
        }
        depth += 1;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        depth -= 1;
        if (depth < 0) this.fail('unbalanced brackets');
        if (depth === 2 && this.inTable && this.entryName !== null) {
          if (!this.entryIsObject) this.fail(`record "${this.entryKey}" is not an object`);
          this.endEntry(this.base + i + 1);
        } else if (depth === 1) {
          if (this.inTable) {
            this.closeEntry();
            this.inTable = false;
          } else if (this.infoParts) {
            this.infoParts.push(Buffer.from(chunk.subarray(this.infoStart, i + 1)));
            this.info = Buffer.concat(this.infoParts).toString('utf8');
            this.infoParts = null;
          }
        } else if (depth === 0) {
          this.expectKey = false;
        }
      } else if (c === COLON) {
        if (depth === 1 || (depth === 2 && this.inTable)) this.expectKey = false;
      } else if (c === COMMA) {
        if (depth === 1) this.expectKey = true;
        else if (depth === 2 && this.inTable) {
          this.closeEntry();
          this.expectKey = true;
        }
      } else if (depth === 1 && c > 32) {
        this.topValue('a number or literal');
      } else if (depth === 0 && c > 32) {
        this.fail(this.started ? 'text after the document' : 'not a JSON object');
      }
      i += 1;
    }
    // Carry what spans the chunk boundary.
    if (inString && this.role !== StringRole.Other) {
      this.keyParts.push(Buffer.from(chunk.subarray(this.keyStart)));
      this.keyStart = 0;
    }
    if (this.infoParts) {
      this.infoParts.push(Buffer.from(chunk.subarray(this.infoStart)));
      this.infoStart = 0;
    }
    this.depth = depth;
    this.inString = inString;
    this.base += n;
  }

  end(): ScanResult {
    if (!this.started) this.fail('empty document');
    if (this.inString || this.depth !== 0) this.fail('the document ends early (truncated?)');
    return {
      spans: this.spans,
      ...(this.info === undefined ? {} : { info: this.info }),
      records: this.records,
      bytes: this.base,
    };
  }

  private takeKey(chunk: Buffer, end: number): string {
    const tail = chunk.subarray(this.keyStart, end);
    const bytes = this.keyParts.length > 0 ? Buffer.concat([...this.keyParts, tail]) : tail;
    this.keyParts = [];
    const raw = bytes.toString('utf8');
    if (!raw.includes('\\')) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch (error) {
      this.fail(`bad string escape in key "${raw}"`, error);
    }
  }

  private topValue(kind: string): void {
    if (this.topKey === 'packages' || this.topKey === 'packages.conda')
      this.fail(`"${this.topKey}" is not an object (it is ${kind})`);
  }

  private startEntry(key: string): void {
    const name = nameOfFileName(key);
    if (name === null || key.includes('/'))
      this.fail(`file name "${key}" is not <name>-<version>-<build>.<extension>`);
    this.entryName = name;
    this.entryKey = key;
    this.entryIsObject = false;
  }

  private endEntry(end: number): void {
    const name = this.entryName as string;
    let list = this.spans.get(name);
    if (!list) {
      list = [];
      this.spans.set(name, list);
    }
    list.push(this.entryStart, end);
    this.records += 1;
    this.entryName = null;
  }

  /** An entry ended (`,` or `}`) without an object value. */
  private closeEntry(): void {
    if (this.entryName !== null) {
      this.fail(`record "${this.entryKey}" is not an object`);
    }
  }

  private fail(detail: string, cause?: unknown): never {
    throw brokenRepodata(this.url, detail, cause);
  }
}

/** Scans a whole document held in memory (small documents, tests). */
export function scanRepodata(bytes: Buffer, url: string): ScanResult {
  const scanner = new RepodataScanner(url);
  scanner.push(bytes);
  return scanner.end();
}
