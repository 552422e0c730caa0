import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { analyze, type ScanOutcome } from '@poncho/analyzer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PACKS, ScanCache } from '../dist/cache.js';
import { grammarVersions } from '../dist/parse.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-scan-cache-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const outcome = (name: string): ScanOutcome => ({
  ok: true,
  scan: { imports: [], syntaxErrors: [], encoding: `utf-8 ${name}`, lines: 1 },
});
const packs = async (dir: string) => (await readdir(join(dir, 'packs'))).sort();

describe('scan cache packs', () => {
  it('is keyed on the versions of the grammar packages Node resolves', () => {
    const require = createRequire(import.meta.url);
    const version = (entry: string) =>
      JSON.parse(readFileSync(join(dirname(require.resolve(entry)), 'package.json'), 'utf8'))
        .version;
    expect(grammarVersions()).toBe(
      `web-tree-sitter@${version('web-tree-sitter')},tree-sitter-python@${version('tree-sitter-python/tree-sitter-python.wasm')}`,
    );
  });

  it('writes nothing until flush, then one pack per shard, read back by a later run', async () => {
    const dir = join(work, 'basic');
    const cache = new ScanCache(dir, 'imports');
    const keys = ['a', 'b', 'c', 'd'].map((s) => cache.key(Buffer.from(`import ${s}\n`)));
    for (const key of keys) cache.put(key, outcome(key));
    expect(cache.get(keys[0] as string)).toEqual(outcome(keys[0] as string));
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    cache.flush();
    const shards = new Set(keys.map((key) => key.charAt(0)));
    const written = await packs(dir);
    expect(written).toHaveLength(shards.size);
    expect(new Set(written.map((name) => name.charAt(0)))).toEqual(shards);

    const later = new ScanCache(dir, 'imports');
    for (const key of keys) expect(later.get(key)).toEqual(outcome(key));
    // Another variant (scan options) never sees these entries.
    const other = new ScanCache(dir, 'functions');
    expect(other.get(other.key(Buffer.from('import a\n')))).toBeUndefined();
  });

  it('merges a shard into one pack once it has more than MAX_PACKS, keeping every entry', async () => {
    const dir = join(work, 'merge');
    const key = (i: number) => `e${String(i).padStart(63, '0')}`; // all in shard "e"
    for (let run = 0; run <= MAX_PACKS; run++) {
      const cache = new ScanCache(dir, 'imports');
      cache.put(key(run), outcome(String(run)));
      cache.flush();
      expect((await packs(dir)).length).toBe(run + 1 > MAX_PACKS ? 1 : run + 1);
    }
    const cache = new ScanCache(dir, 'imports');
    for (let run = 0; run <= MAX_PACKS; run++)
      expect(cache.get(key(run))).toEqual(outcome(String(run)));
  });

  it('ignores a damaged pack (a miss, not an error)', async () => {
    const dir = join(work, 'damaged');
    const cache = new ScanCache(dir, 'imports');
    const good = `f${'1'.repeat(63)}`;
    cache.put(good, outcome('good'));
    cache.flush();
    await writeFile(join(dir, 'packs', 'f-0-0-broken.json'), '{"f2": {"ok": tr');
    const later = new ScanCache(dir, 'imports');
    expect(later.get(good)).toEqual(outcome('good'));
    expect(later.get(`f${'2'.repeat(63)}`)).toBeUndefined();
  });

  it('removes the one-file-per-entry folders of earlier versions once it writes a pack', async () => {
    const dir = join(work, 'old-layout');
    await mkdir(join(dir, 'ab'), { recursive: true });
    await writeFile(join(dir, 'ab', `ab${'0'.repeat(62)}.json`), '{"ok":true}');
    await writeFile(join(dir, 'notes.txt'), 'not ours to remove');
    const cache = new ScanCache(dir, 'imports');
    cache.put(cache.key(Buffer.from('import x\n')), outcome('x'));
    cache.flush();
    expect((await readdir(dir)).sort()).toEqual(['notes.txt', 'packs']);
  });

  it('skips reading files whose stat is unchanged, re-reads changed and just-written ones', async () => {
    const root = join(work, 'stat-index');
    await mkdir(root, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    const write = async (name: string, text: string, time = old) => {
      await writeFile(join(root, name), text);
      await utimes(join(root, name), time, time);
    };
    await write('a.py', 'import numpy\n');
    await write('b.py', 'import scipy\n');
    const run = () =>
      analyze(['a.py', 'b.py'], {
        cwd: root,
        cache: join(root, '.cache'),
        prefix: null,
        pythonVersion: '3.11',
        threads: 0,
      });
    const first = await run();
    expect(first.stats).toMatchObject({ read: 2, parsed: 2 });
    const warm = await run();
    expect(warm.stats).toMatchObject({ files: 2, read: 0, cacheHits: 2, parsed: 0 });
    expect(warm.spec).toEqual(first.spec);
    // Same size, same modification time, other content: the change time still differs.
    const before = await stat(join(root, 'a.py'));
    await writeFile(
      join(root, 'a.py'),
      'import pandas\n'.padEnd(before.size).slice(0, before.size),
    );
    await utimes(join(root, 'a.py'), before.atime, before.mtime);
    const changed = await run();
    expect(changed.stats.read).toBe(1);
    expect(changed.spec.conda.dependencies).toContain('pandas');
    // A file written just now may change again within the timestamp granularity: always read.
    await write('b.py', 'import sympy\n', new Date());
    await run();
    expect((await run()).stats.read).toBe(1);
  });
});
