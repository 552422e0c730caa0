/**
 * `nx release` versions the five packages together (a dry run: nothing is written, committed,
 * tagged or published). It needs a git checkout, which CI's is.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const inGit = spawnSync('git', ['-C', ROOT, 'rev-parse', '--git-dir']).status === 0;

it.runIf(inGit)('nx release --dry-run bumps every package and their references together', () => {
  const before = execFileSync('git', ['-C', ROOT, 'status', '--porcelain']).toString();
  const run = spawnSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/nx/dist/bin/nx.js'),
      'release',
      'patch',
      '--dry-run',
      '--first-release',
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        NX_DAEMON: 'false',
        NX_NO_CLOUD: 'true',
        NX_TUI: 'false',
        CI: 'true',
        FORCE_COLOR: '0',
        NO_COLOR: '1',
      },
      maxBuffer: 1 << 26,
    },
  );
  const output = `${run.stdout}${run.stderr}`;
  expect(run.status, output).toBe(0);
  for (const name of ['core', 'analyzer', 'creator', 'runner', 'nx-plugin']) {
    expect(output).toContain(`@poncho/${name}`);
  }
  expect(output).toMatch(/\+\s+"version": "\d+\.\d+\.\d+"/);
  expect(output).toContain('"dryRun" flag means no changes were made');
  expect(execFileSync('git', ['-C', ROOT, 'status', '--porcelain']).toString()).toBe(before);
});
