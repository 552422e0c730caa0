/**
 * The whole-run result cache (result-cache.ts, run-inputs.ts): a run with the same options
 * over unchanged files reuses an earlier run's result; any change to what that run read, or to
 * the options, must give a fresh (and right) result instead.
 */
import {
  lutimes,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type AnalyzeOptions, analyze } from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';
import { MAX_RESULTS } from '../dist/result-cache.js';
import { tempProjects } from './temp-projects.js';

const project = tempProjects('poncho-result-cache-');
const LONG_AGO = new Date(Date.now() - 3_600_000);

/** Sets every modification time below `root` (and its own) to an hour ago: not "racy". */
async function age(root: string): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await age(path);
    else if (entry.isSymbolicLink()) await lutimes(path, LONG_AGO, LONG_AGO);
    else await utimes(path, LONG_AGO, LONG_AGO);
  }
  await utimes(root, LONG_AGO, LONG_AGO);
}

/**
 * Sets the modification time of just these paths to an hour ago. (That changes their change
 * time: touching everything would make any run miss, whatever the cache records.)
 */
async function settle(...paths: string[]): Promise<void> {
  for (const path of paths) await utimes(path, LONG_AGO, LONG_AGO);
}

const FILES = {
  'app/main.py':
    'import numpy\nimport helper\nfrom pkg import mod\nimport yaml\n\ndef main():\n    import zmq\n\ndef other():\n    import lxml\n',
  'app/helper.py': 'import requests\n',
  'app/pkg/__init__.py': '',
  'app/pkg/mod.py': 'import scipy\n',
  'app/tests/test_main.py': 'import pytest\nimport dask_awkward\n',
  'app/tool': '#!/usr/bin/env python3\nimport click\n',
  'app/README': 'not python\n',
  'app/data/notes.txt': 'no Python here\n',
  'lib/.keep': '',
};

async function tree(name: string): Promise<{ root: string; run: typeof analyze }> {
  const root = await project(name, FILES);
  await age(root);
  const base: AnalyzeOptions = {
    cwd: root,
    cache: join(root, '..', `${name}-cache`),
    prefix: null,
    pythonVersion: '3.11',
    threads: 0,
    sourceRoots: ['lib'],
  };
  return { root, run: (sources, options) => analyze(sources, { ...base, ...options }) };
}

const deps = (result: Awaited<ReturnType<typeof analyze>>) =>
  result.spec.conda.dependencies.filter((d): d is string => typeof d === 'string');

/**
 * Writes `folder/yaml.py` (importing toml) where `import yaml` was PyYAML: the next run must
 * not be reused, and must find the user's module instead.
 */
async function addLocalYaml(run: typeof analyze, sources: string[], folder: string) {
  expect(deps(await run(sources))).toContain('pyyaml');
  await writeFile(join(folder, 'yaml.py'), 'import toml\n');
  await settle(join(folder, 'yaml.py'), folder);
  const after = await run(sources);
  expect(after.stats.reused).toBe(false);
  expect(deps(after)).not.toContain('pyyaml');
  expect(deps(after)).toContain('toml');
}

describe('whole-run result cache', () => {
  it('reuses an unchanged run: same spec, report and warnings, nothing read', async () => {
    const { run } = await tree('same');
    const firstWarnings: string[] = [];
    const first = await run(['app'], { onWarning: (m) => firstWarnings.push(m) });
    expect(first.stats.reused).toBe(false);
    expect(firstWarnings.length).toBeGreaterThan(0); // dask_awkward: no known package
    const warnings: string[] = [];
    const again = await run(['app'], { onWarning: (m) => warnings.push(m) });
    expect(again.stats).toMatchObject({ reused: true, read: 0, parsed: 0, files: 6 });
    expect(again.spec).toEqual(first.spec);
    expect(JSON.stringify(again.report)).toBe(JSON.stringify(first.report));
    expect(warnings).toEqual(firstWarnings);
    expect(deps(again)).toEqual(
      expect.arrayContaining(['numpy', 'requests', 'scipy', 'pyyaml', 'click', 'pytest']),
    );
  });

  it('misses when a file changes, even with its size and modification time kept', async () => {
    const { root, run } = await tree('changed');
    await run(['app']);
    const path = join(root, 'app/pkg/mod.py');
    const before = await stat(path);
    await writeFile(path, 'import sympy\n'.padEnd(before.size).slice(0, before.size));
    await utimes(path, before.atime, before.mtime);
    const after = await run(['app']);
    expect(after.stats.reused).toBe(false);
    expect(deps(after)).toContain('sympy');
    expect(deps(after)).not.toContain('scipy');
    expect((await run(['app'])).stats.reused).toBe(true); // the new result, stored
  });

  it('misses when a file is added to a folder, even with the folder time put back', async () => {
    const { root, run } = await tree('added');
    await run(['app']);
    await writeFile(join(root, 'app/pkg/extra.py'), 'import pandas\n');
    await settle(join(root, 'app/pkg/extra.py'), join(root, 'app/pkg'));
    const after = await run(['app']);
    expect(after.stats.reused).toBe(false);
    expect(deps(after)).toContain('pandas');
    // A folder only the walk lists (nothing imports from it).
    await writeFile(join(root, 'app/data/load.py'), 'import h5py\n');
    await settle(join(root, 'app/data/load.py'), join(root, 'app/data'));
    const data = await run(['app']);
    expect(data.stats.reused).toBe(false);
    expect(deps(data)).toContain('h5py');
  });

  it('misses when a file is removed', async () => {
    const { root, run } = await tree('removed');
    await run(['app']);
    await rm(join(root, 'app/helper.py'));
    const after = await run(['app']);
    expect(after.stats.reused).toBe(false);
    expect(deps(after)).not.toContain('requests');
    expect(deps(after)).toContain('helper'); // no longer local: a package by its name
  });

  it('misses when a local module appears in a folder only looked into (--source-root)', async () => {
    const { root, run } = await tree('source-root');
    await addLocalYaml(run, ['app'], join(root, 'lib'));
    expect((await run(['app'])).stats.reused).toBe(true);
  });

  it('misses when a local module appears beside a script named on its own', async () => {
    const { root, run } = await tree('beside');
    await addLocalYaml(run, ['app/main.py'], join(root, 'app'));
  });

  it('misses when the target of a dangling link appears', async () => {
    const { root, run } = await tree('link');
    await mkdir(join(root, 'vendor'));
    await symlink('../vendor/yaml.py', join(root, 'lib/yaml.py'));
    await age(root);
    await addLocalYaml(run, ['app'], join(root, 'vendor'));
  });

  it('misses when an extension-less file becomes a Python script', async () => {
    const { root, run } = await tree('shebang');
    await run(['app']);
    const path = join(root, 'app/README');
    const before = await stat(path);
    await writeFile(path, '#!/usr/bin/python3\nimport attr\n');
    await utimes(path, before.atime, before.mtime);
    const after = await run(['app']);
    expect(after.stats.reused).toBe(false);
    expect(deps(after)).toContain('attrs');
  });

  it('misses when the options differ', async () => {
    const { run } = await tree('options');
    await run(['app']);
    const variants: AnalyzeOptions[] = [
      { toplevel: true },
      { function: 'main' },
      { function: 'other' }, // after 'main': the name is part of the key, not only "a function"
      { pkgMapping: ['numpy=numpy-base'] },
      { exclude: ['numpy'] },
      { pythonVersion: '3.12' },
      { extraPkgs: ['zlib'] },
      { channels: ['bioconda'] },
      { strict: true },
      { sourceRoots: [] },
    ];
    for (const options of variants) {
      const result = await run(['app'], options);
      expect(result.stats.reused, JSON.stringify(options)).toBe(false);
    }
    expect((await run(['app/main.py'])).stats.reused).toBe(false); // other sources
    // The same absolute source from another folder: paths in the report are shown otherwise.
    const other = await tree('cwd');
    const app = join(other.root, 'app');
    const lib = { sourceRoots: [join(other.root, 'lib')] };
    expect((await other.run([app], lib)).report.sources.map((s) => s.file)).toContain(
      'app/main.py',
    );
    expect((await other.run([app], lib)).stats.reused).toBe(true);
    const elsewhere = await other.run([app], { ...lib, cwd: app });
    expect(elsewhere.stats.reused).toBe(false);
    expect(elsewhere.report.sources.map((s) => s.file)).toContain('main.py');
    expect((await run(['app'], { pkgMapping: ['numpy=numpy-base'] })).stats.reused).toBe(true);
    expect(deps(await run(['app'], { pkgMapping: ['numpy=numpy-base'] }))).toContain('numpy-base');
  });

  it('asks the interpreter again when the target version came from it', async () => {
    const { root, run } = await tree('interpreter');
    const python = join(root, 'fake-python');
    // Stands for an interpreter that was upgraded in place: only its answer matters here.
    await writeFile(python, '#!/bin/sh\necho 3.10.4\n', { mode: 0o755 });
    const first = await run(['app'], { pythonVersion: undefined, python });
    expect(first.report.python.version).toBe('3.10.4');
    expect((await run(['app'], { pythonVersion: undefined, python })).stats.reused).toBe(true);
    await writeFile(python, '#!/bin/sh\necho 3.12.1\n', { mode: 0o755 });
    const after = await run(['app'], { pythonVersion: undefined, python });
    expect(after.stats.reused).toBe(false);
    expect(after.report.python.version).toBe('3.12.1');
  });

  it('misses when the conda environment changes', async () => {
    const { root, run } = await tree('prefix');
    const prefix = join(root, 'env');
    const site = 'lib/python3.11/site-packages';
    const record = (name: string, version: string) =>
      JSON.stringify({ name, version, build: 'h0', files: [`${site}/${name}/__init__.py`] });
    await mkdir(join(prefix, 'conda-meta'), { recursive: true });
    await mkdir(join(prefix, site), { recursive: true });
    await writeFile(join(prefix, 'conda-meta/python-3.11.9-h0.json'), record('python', '3.11.9'));
    await writeFile(join(prefix, 'conda-meta/numpy-1.26.4-h0.json'), record('numpy', '1.26.4'));
    await age(root);
    const options = { prefix, pythonVersion: undefined };
    const first = await run(['app'], options);
    expect(deps(first)).toContain('numpy=1.26.4=h0');
    expect((await run(['app'], options)).stats.reused).toBe(true);
    const scipy = join(prefix, 'conda-meta/scipy-1.13.0-h0.json');
    await writeFile(scipy, record('scipy', '1.13.0'));
    await settle(scipy, join(prefix, 'conda-meta'));
    const after = await run(['app'], options);
    expect(after.stats.reused).toBe(false);
    expect(deps(after)).toContain('scipy=1.13.0=h0');
    // A record rewritten in place (the folder's listing unchanged).
    const numpy = join(prefix, 'conda-meta/numpy-1.26.4-h0.json');
    await writeFile(numpy, record('numpy', '1.26.5'));
    await settle(numpy);
    expect(deps(await run(['app'], options))).toContain('numpy=1.26.5=h0');
    // A pip distribution's top_level.txt that was missing: read when it appears.
    const dist = join(prefix, site, 'PyYAML-6.0.dist-info');
    await mkdir(dist);
    await writeFile(join(dist, 'METADATA'), 'Name: PyYAML\nVersion: 6.0\n');
    await settle(join(dist, 'METADATA'), dist, join(prefix, site));
    const noTopLevel = await run(['app'], options); // nothing says it provides "yaml"
    expect(noTopLevel.spec.conda.dependencies).not.toContainEqual({ pip: ['PyYAML==6.0'] });
    expect((await run(['app'], options)).stats.reused).toBe(true);
    await writeFile(join(dist, 'top_level.txt'), 'yaml\n');
    await settle(join(dist, 'top_level.txt'), dist);
    const pip = await run(['app'], options);
    expect(pip.stats.reused).toBe(false);
    expect(pip.spec.conda.dependencies).toContainEqual({ pip: ['PyYAML==6.0'] });
    await writeFile(join(dist, 'METADATA'), 'Name: PyYAML\nVersion: 6.1\n');
    await settle(join(dist, 'METADATA'));
    const upgraded = await run(['app'], options);
    expect(upgraded.stats.reused).toBe(false);
    expect(upgraded.spec.conda.dependencies).toContainEqual({ pip: ['PyYAML==6.1'] });
  });

  it('does not store a run over files written just now, nor one that read standard input', async () => {
    const { root, run } = await tree('racy');
    await writeFile(join(root, 'app/main.py'), 'import numpy\n');
    await run(['app']);
    expect((await run(['app'])).stats.reused).toBe(false);
    await settle(join(root, 'app/main.py'));
    await run(['app']);
    expect((await run(['app'])).stats.reused).toBe(true);
    const stdin = () => Readable.from([Buffer.from('import numpy\n')]);
    await run(['-', 'app'], { stdin: stdin() });
    expect((await run(['-', 'app'], { stdin: stdin() })).stats.reused).toBe(false);
  });

  it(`keeps the newest ${MAX_RESULTS} results`, async () => {
    const { root, run } = await tree('trim');
    const folder = join(root, '..', 'trim-cache', 'results');
    for (let i = 0; i <= MAX_RESULTS; i++) await run(['app'], { exclude: [`m${i}`] });
    expect(await readdir(folder)).toHaveLength(MAX_RESULTS);
    expect((await run(['app'], { exclude: [`m${MAX_RESULTS}`] })).stats.reused).toBe(true);
    expect((await run(['app'], { exclude: ['m0'] })).stats.reused).toBe(false); // the oldest
  });

  it('treats a damaged result file as a miss', async () => {
    const { root, run } = await tree('damaged');
    const first = await run(['app']);
    const folder = join(root, '..', 'damaged-cache', 'results');
    const [name] = await readdir(folder);
    const text = await readFile(join(folder, name as string), 'utf8');
    await writeFile(join(folder, name as string), text.slice(0, text.length / 2));
    const after = await run(['app']); // the header is intact, the report cut off
    expect(after.stats.reused).toBe(false);
    expect(JSON.stringify(after.report)).toBe(JSON.stringify(first.report));
    await writeFile(join(folder, name as string), '{"format": 1, "inputs": [[');
    const again = await run(['app']);
    expect(again.stats.reused).toBe(false);
    expect(again.spec).toEqual(first.spec);
  });
});
