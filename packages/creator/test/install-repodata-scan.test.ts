/**
 * Monolithic repodata without parsing all of it: the one-pass scanner (any chunking gives the
 * same spans; strings with brackets, quotes and escapes; broken documents refused with the URL),
 * the name index (stored, loaded, keyed on the document: an edited local file is scanned
 * again, an unchanged one is not), and records read from spans equal to a full parse.
 */
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RepodataScanner, scanRepodata } from '../dist/install/repodata/json-scan.js';
import { localDocument, localIndexPath } from '../dist/install/repodata/local-folder.js';
import { MonolithicSource, parseWholeDocument } from '../dist/install/repodata/monolithic.js';
import { NameIndex } from '../dist/install/repodata/name-index.js';
import { specName } from '../dist/install/repodata/record.js';
import { record as fixture } from './repodata-fixture.js';

const URL_ = 'http://example.test/chan/noarch/repodata.json';
let work: string;

function record(name: string, version: string, extra: Record<string, unknown> = {}) {
  return fixture(name, version, { subdir: 'noarch', ...extra });
}

const DOC = {
  info: { subdir: 'noarch', base_url: '../pkgs/', note: 'braces { [ " in info' },
  packages: {
    'py-lib-1.0-h0_0.tar.bz2': record('py-lib', '1.0', {
      depends: ['python >=3.8', 'weird "quoted} {name"'],
      summary: 'back\\slash \\" and \u00e9 and {[',
    }),
    'zlib-1.2-h0_0.tar.bz2': record('zlib', '1.2'),
  },
  'packages.conda': {
    'py-lib-2.0-h0_0.conda': record('py-lib', '2.0', { constrains: ['zlib <2'] }),
    'python-3.11.0-h0_0.conda': record('python', '3.11.0', { depends: ['zlib'] }),
  },
  removed: ['old-1.0-0.tar.bz2'],
  repodata_version: 2,
};
const TEXT = JSON.stringify(DOC, null, 1);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-scan-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('scanner', () => {
  it('finds every record by name, whatever the chunk boundaries', () => {
    const bytes = Buffer.from(TEXT);
    const whole = scanRepodata(bytes, URL_);
    expect([...whole.spans.keys()].sort()).toEqual(['py-lib', 'python', 'zlib']);
    expect(whole.records).toBe(4);
    expect(JSON.parse(whole.info as string)).toEqual(DOC.info);
    for (const size of [1, 2, 3, 7, 64]) {
      const scanner = new RepodataScanner(URL_);
      for (let i = 0; i < bytes.length; i += size) scanner.push(bytes.subarray(i, i + size));
      const chunked = scanner.end();
      expect(chunked.spans).toEqual(whole.spans);
      expect(chunked.info).toBe(whole.info);
    }
  });

  it('gives the same records as parsing the whole document', () => {
    const all = parseWholeDocument(TEXT, URL_, 'noarch');
    expect(Object.fromEntries(all)).toEqual({ ...DOC.packages, ...DOC['packages.conda'] });
  });

  it('refuses broken documents, naming the URL and what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['{"packages": {', /ends early/],
      ['[1, 2]', /not a JSON object/],
      ['', /empty document/],
      ['{"packages": []}', /"packages" is not an object/],
      ['{"packages": "x"}', /"packages" is not an object/],
      ['{"packages": {"a-1-0.tar.bz2": 5}}', /record "a-1-0.tar.bz2" is not an object/],
      ['{"packages": {"a-1-0.tar.bz2": [1]}}', /is not an object/],
      ['{"packages": {"noversion.tar.bz2": {}}}', /is not <name>-<version>-<build>/],
      ['{} {}', /text after the document/],
    ];
    for (const [text, message] of cases) {
      expect(() => scanRepodata(Buffer.from(text), URL_), text).toThrow(
        expect.objectContaining({
          code: 'ERR_REPODATA_INVALID',
          message: expect.stringMatching(message),
        }),
      );
      expect(() => scanRepodata(Buffer.from(text), URL_)).toThrow(URL_);
    }
    // A key listed under one name holding another package's record is refused when read.
    expect(() =>
      parseWholeDocument(
        JSON.stringify({ packages: { 'evil-1-0.tar.bz2': record('good', '1') } }),
        URL_,
        'noarch',
      ),
    ).toThrow(/does not match package "good"/);
    expect(() =>
      parseWholeDocument(
        JSON.stringify({ packages: { 'good-extra-1-0.tar.bz2': record('good', '1') } }),
        URL_,
        'noarch',
      ),
    ).toThrow(/does not match package "good"/);
  });

  it('takes package names from match specs and depends entries', () => {
    expect(specName('numpy >=1.24')).toBe('numpy');
    expect(specName('python=3.11')).toBe('python');
    expect(specName('conda-forge::NumPy[version=">=1"]')).toBe('numpy');
    expect(specName('libgcc-ng>=12')).toBe('libgcc-ng');
    expect(specName('  pkg 1.0 build_0')).toBe('pkg');
  });
});

describe('name index', () => {
  it('round-trips through its file and reads the records of a few names', async () => {
    const doc = join(work, 'repodata.json');
    await writeFile(doc, TEXT);
    const index = NameIndex.fromScan(scanRepodata(Buffer.from(TEXT), URL_));
    const path = join(work, 'x.names');
    await index.save(path);
    const loaded = await NameIndex.load(path);
    expect(loaded?.names().sort()).toEqual(['py-lib', 'python', 'zlib']);
    expect(loaded?.info).toBe(index.info);
    const records = await loaded?.readRecords(doc, ['py-lib', 'absent'], URL_, 'noarch');
    expect([...(records?.keys() ?? [])]).toEqual(['py-lib']);
    expect(Object.fromEntries(records?.get('py-lib') ?? [])).toEqual({
      'py-lib-1.0-h0_0.tar.bz2': DOC.packages['py-lib-1.0-h0_0.tar.bz2'],
      'py-lib-2.0-h0_0.conda': DOC['packages.conda']['py-lib-2.0-h0_0.conda'],
    });
    // A damaged index file is not trusted: it is rebuilt.
    await writeFile(path, (await readFile(path)).subarray(0, 20));
    expect(await NameIndex.load(path)).toBeNull();
  });

  it('scans a local document once, and again only when the file changed', async () => {
    const cacheDir = join(work, 'cache');
    const doc = join(work, 'local-repodata.json');
    await writeFile(doc, TEXT);
    const open = async () => {
      let scanned = 0;
      const stored = await localDocument(doc, URL_, cacheDir);
      if (stored === 'missing') throw new Error('missing');
      const source = await MonolithicSource.open(
        { url: 'file:///chan', localPath: '/chan', source: '/chan' },
        'noarch',
        URL_,
        stored.path,
        await localIndexPath(cacheDir, stored.identity),
        { onScanned: (n: number) => (scanned += n) },
      );
      return { source, scanned };
    };
    const first = await open();
    expect(first.scanned).toBe(Buffer.byteLength(TEXT));
    expect(first.source.baseUrl).toBe('http://example.test/chan/pkgs');
    const second = await open();
    expect(second.scanned).toBe(0);
    // The channel publishes another zlib: same size is not enough to keep the old index.
    const edited = TEXT.replace('"1.2"', '"1.3"').replace('zlib-1.2-', 'zlib-1.3-');
    await writeFile(doc, edited);
    const info = await stat(doc);
    await utimes(doc, info.atime, new Date(info.mtimeMs + 5000));
    const third = await open();
    expect(third.scanned).toBe(Buffer.byteLength(edited));
    const zlib = await third.source.load(['zlib']);
    expect([...(zlib.get('zlib')?.keys() ?? [])]).toEqual(['zlib-1.3-h0_0.tar.bz2']);
  });
});
