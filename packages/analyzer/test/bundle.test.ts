/**
 * The CLI bundle (bundle.mjs) and how bin/load-cli.js chooses between it and the modules tsc
 * wrote: a bundle older than any file it was made from must not run (stale code after `tsc -b`).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleIsCurrent } from '../bin/load-cli.js';

const dist = join(import.meta.dirname, '..', 'dist');
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-analyzer-bundle-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('CLI bundle', () => {
  it('is current after the build, and lists the modules it was made from', async () => {
    expect(bundleIsCurrent()).toBe(true);
    const { inputs } = JSON.parse(await readFile(join(dist, 'cli.bundle.json'), 'utf8'));
    expect(inputs).toEqual(
      expect.arrayContaining(['cli.js', 'analyze.js', 'result-cache.js', '../../core/dist/fs.js']),
    );
  });

  it('runs the CLI', async () => {
    const script = join(work, 'job.py');
    await writeFile(script, 'import numpy\n');
    const runner = join(work, 'run.mjs');
    await writeFile(
      runner,
      `const { main } = await import(${JSON.stringify(pathToFileURL(join(dist, 'cli.bundle.mjs')).href)});\nawait main('poncho_package_analyze');\n`,
    );
    const result = spawnSync(
      process.execPath,
      [runner, '--no-env', '--no-cache', '--python-version', '3.11', script, '-'],
      { encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout).conda.dependencies).toContain('numpy');
  });

  it('is not used when missing, or older than a file it was made from', async () => {
    const folder = join(work, 'dist');
    const url = pathToFileURL(`${folder}/`);
    await mkdir(folder);
    expect(bundleIsCurrent(url)).toBe(false); // no bundle
    const then = new Date(Date.now() - 60_000);
    await writeFile(join(folder, 'a.js'), '');
    await writeFile(
      join(folder, 'cli.bundle.json'),
      JSON.stringify({ inputs: ['a.js', 'gone.js'] }),
    );
    await writeFile(join(folder, 'cli.bundle.mjs'), '');
    await utimes(join(folder, 'a.js'), then, then);
    expect(bundleIsCurrent(url)).toBe(true); // gone.js: another layout, not a reason
    await utimes(join(folder, 'a.js'), new Date(), new Date(Date.now() + 1000));
    expect(bundleIsCurrent(url)).toBe(false);
  });
});
