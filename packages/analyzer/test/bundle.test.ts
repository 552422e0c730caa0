/**
 * The CLI bundle (bundle.mjs) and how bin/load-cli.js chooses between it and the modules tsc
 * wrote: a bundle older than any file it was made from must not run (stale code after `tsc -b`).
 */
import { spawnSync } from 'node:child_process';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundleIsCurrent } from '../bin/load-cli.js';
import { tempProjects } from './temp-projects.js';

const dist = join(import.meta.dirname, '..', 'dist');
const project = tempProjects('poncho-analyzer-bundle-');

describe('CLI bundle', () => {
  it('is current after the build, and lists the modules it was made from', async () => {
    expect(bundleIsCurrent()).toBe(true);
    const { inputs } = JSON.parse(await readFile(join(dist, 'cli.bundle.json'), 'utf8'));
    expect(inputs).toEqual(
      expect.arrayContaining(['cli.js', 'analyze.js', 'result-cache.js', '../../core/dist/fs.js']),
    );
  });

  it('runs the CLI', async () => {
    const bundle = JSON.stringify(pathToFileURL(join(dist, 'cli.bundle.mjs')).href);
    const work = await project('run', {
      'job.py': 'import numpy\n',
      'run.mjs': `const { main } = await import(${bundle});\nawait main('poncho_package_analyze');\n`,
    });
    const [script, runner] = [join(work, 'job.py'), join(work, 'run.mjs')];
    const result = spawnSync(
      process.execPath,
      [runner, '--no-env', '--no-cache', '--python-version', '3.11', script, '-'],
      { encoding: 'utf8' },
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout).conda.dependencies).toContain('numpy');
  });

  it('is not used when missing, or older than a file it was made from', async () => {
    const folder = await project('dist', { 'a.js': '' });
    const url = pathToFileURL(`${folder}/`);
    expect(bundleIsCurrent(url)).toBe(false); // no bundle
    const then = new Date(Date.now() - 60_000);
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
