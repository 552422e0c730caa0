/**
 * Monolithic repodata (repodata.json, or repodata.json.zst decoded), read "as if it was
 * sharded": one scan of the document finds every record's byte span by package name
 * (json-scan.ts); the spans are kept in a name index beside the document, keyed on the
 * document's identity (its sha256 or its file's validators), so a later solve against the
 * same document skips the scan; only the records of names the walk reaches are parsed.
 */
import { createReadStream } from 'node:fs';
import type { Channel } from '../channels.js';
import { RepodataScanner, scanRepodata } from './json-scan.js';
import { NameIndex } from './name-index.js';
import {
  brokenRepodata,
  type RecordsByFile,
  type RepodataRecord,
  recordsFromEntries,
} from './record.js';
import type { RepodataSource } from './source.js';

export interface MonolithicOpenOptions {
  signal?: AbortSignal;
  /** Bytes scanned, for progress. */
  onScanned?: (bytes: number) => void;
}

const CHUNK = 4 * 1024 * 1024;

/** Scans the document at `path` in chunks (yielding between them: signals stay responsive). */
export async function scanDocument(
  path: string,
  url: string,
  options: MonolithicOpenOptions = {},
): Promise<NameIndex> {
  const scanner = new RepodataScanner(url);
  const stream = createReadStream(path, { highWaterMark: CHUNK });
  try {
    for await (const chunk of stream) {
      options.signal?.throwIfAborted();
      scanner.push(chunk as Buffer);
      options.onScanned?.((chunk as Buffer).length);
    }
  } finally {
    stream.destroy();
  }
  return NameIndex.fromScan(scanner.end());
}

export class MonolithicSource implements RepodataSource {
  readonly kind = 'monolithic';
  readonly baseUrl?: string;

  constructor(
    readonly channel: Channel,
    readonly subdir: string,
    readonly url: string,
    private readonly documentPath: string,
    private readonly index: NameIndex,
  ) {
    const info = index.info;
    if (info !== undefined) {
      let baseUrl: unknown;
      try {
        baseUrl = (JSON.parse(info) as { base_url?: unknown }).base_url;
      } catch (error) {
        throw brokenRepodata(url, `"info" is not valid JSON: ${(error as Error).message}`, error);
      }
      if (typeof baseUrl === 'string' && baseUrl !== '')
        this.baseUrl = new URL(baseUrl, url).href.replace(/\/+$/, '');
    }
  }

  /**
   * Opens the document at `documentPath` with the name index stored at `indexPath`, scanning
   * the document (and storing the index) when there is none yet.
   */
  static async open(
    channel: Channel,
    subdir: string,
    url: string,
    documentPath: string,
    indexPath: string,
    options: MonolithicOpenOptions = {},
  ): Promise<MonolithicSource> {
    let index = await NameIndex.load(indexPath);
    if (!index) {
      index = await scanDocument(documentPath, url, options);
      await index.save(indexPath);
    }
    return new MonolithicSource(channel, subdir, url, documentPath, index);
  }

  get records(): number {
    return this.index.records;
  }

  has(name: string): boolean {
    return this.index.has(name);
  }

  names(): Iterable<string> {
    return this.index.names();
  }

  load(names: string[]): Promise<Map<string, RecordsByFile>> {
    return this.index.readRecords(this.documentPath, names, this.url, this.subdir);
  }
}

/**
 * Every record of a document held in memory, checked as the lazy path checks them (small
 * documents and tests; the solver never needs all of them).
 */
export function parseWholeDocument(
  text: string,
  url: string,
  subdir: string,
): Map<string, RepodataRecord> {
  const bytes = Buffer.from(text);
  const scan = scanRepodata(bytes, url);
  const all = new Map<string, RepodataRecord>();
  for (const [name, spans] of scan.spans) {
    const pieces: string[] = [];
    for (let i = 0; i < spans.length; i += 2)
      pieces.push(bytes.toString('utf8', spans[i], spans[i + 1]));
    for (const [fileName, record] of recordsFromEntries(pieces, name, url, subdir))
      all.set(fileName, record);
  }
  return all;
}
