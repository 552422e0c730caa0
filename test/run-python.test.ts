/**
 * Python environments (Debian's CPython in conda's layout): relocated natively from the
 * manifest, or by the environment's own `bin/conda-unpack` (conda-pack and reference tarballs,
 * no manifest); and folders shared with the reference runner (/usr/bin/python_package_run).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRunner } from './support/runner-cli.js';
import { FIXTURE_PLACEHOLDER, pythonEnvTarball } from './support/tarballs.js';

const execFileAsync = promisify(execFile);
const REFERENCE = '/usr/bin/python_package_run';

let work: string;
let runTmp: string;
let env: NodeJS.ProcessEnv;
let manifestTarball: string;
let condaUnpackTarball: string;

beforeAll(async () => {
  manifestTarball = await pythonEnvTarball('manifest');
  condaUnpackTarball = await pythonEnvTarball('conda-unpack');
  work = await mkdtemp(join(tmpdir(), 'poncho-py-'));
  runTmp = join(work, 'tmp');
  await execFileAsync('mkdir', [runTmp]);
  env = { ...process.env, TMPDIR: runTmp, PYTHONPATH: '/broken' };
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const CHECK = [
  'python3',
  '-c',
  'import sys, json, ssl, sqlite3, hashlib; print(sys.prefix); print(sys.executable); print(hashlib.sha256(b"x").hexdigest()[:8])',
];

for (const variant of ['manifest', 'conda-unpack'] as const) {
  describe(`a python environment relocated by ${variant === 'manifest' ? 'its manifest' : 'bin/conda-unpack'}`, () => {
    const tarball = () => (variant === 'manifest' ? manifestTarball : condaUnpackTarball);

    it('runs python from the temporary folder, then removes it', async () => {
      const result = await runRunner(['-e', tarball(), ...CHECK], { env });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const [prefix, executable, digest] = result.stdout.trim().split('\n');
      expect(prefix).toMatch(new RegExp(`^${runTmp}/poncho-env-\\w+$`));
      expect(executable).toBe(`${prefix}/bin/python3`);
      expect(digest).toBe('2d711642');
      expect(await readdir(runTmp)).toEqual([]);
    });

    it('relocates a python script whose #! held the placeholder, and a binary', async () => {
      const dir = join(work, `kept-${variant}`);
      const result = await runRunner(
        ['-e', tarball(), '-d', dir, 'sh', '-c', 'whereami && prefix-c'],
        { env },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(
        `prefix=${dir}\nexecutable=${dir}/bin/python3.11\nprefix=${dir}\nlength=${dir.length}\ndata=data-ok\n`,
      );
      const marker = JSON.parse(await readFile(join(dir, '.poncho', 'unpacked.json'), 'utf8'));
      expect(marker.relocation).toBe(variant);
      expect(await readFile(join(dir, 'bin', 'activate'), 'utf8')).not.toContain(
        FIXTURE_PLACEHOLDER,
      );
    });
  });
}

describe('bin/conda-unpack', () => {
  it('changes only what it relocates: no __pycache__ written into the environment', async () => {
    // (A conda-unpack left running by a killed run would keep creating those folders while the
    // next run removes the half-done environment.)
    const dir = join(work, 'no-pycache');
    const withBytecode = { ...env };
    delete withBytecode.PYTHONDONTWRITEBYTECODE;
    const result = await runRunner(['-e', condaUnpackTarball, '-d', dir, 'true'], {
      env: withBytecode,
    });
    expect(result.code, result.stderr).toBe(0);
    const found = execFileSync('find', [dir, '-name', '__pycache__'], { encoding: 'utf8' });
    expect(found).toBe('');
  });
});

describe.skipIf(!existsSync(REFERENCE))('folders shared with the reference runner', () => {
  it('uses a folder the reference unpacked, without unpacking again', async () => {
    const dir = join(work, 'by-reference');
    const reference = await execFileAsync(
      REFERENCE,
      ['-e', condaUnpackTarball, '-u', dir, 'whereami'],
      { env },
    );
    expect(reference.stdout).toContain(`prefix=${dir}\n`);
    const ours = await runRunner(['--debug', '-e', condaUnpackTarball, '-d', dir, 'whereami'], {
      env,
    });
    expect(ours.code, ours.stderr).toBe(0);
    expect(ours.stdout).toBe(`prefix=${dir}\nexecutable=${dir}/bin/python3.11\n`);
    expect(ours.stderr).toContain('unpacked by the reference');
    expect(ours.stderr).not.toContain('debug: unpacking');
  });

  it('leaves the reference a folder it uses without unpacking again', async () => {
    const dir = join(work, 'by-us');
    const ours = await runRunner(['-e', manifestTarball, '-d', dir, 'true'], { env });
    expect(ours.code, ours.stderr).toBe(0);
    const before = await stat(join(dir, 'bin', 'activate'));
    const reference = await execFileAsync(
      REFERENCE,
      ['--debug', '-e', manifestTarball, '-u', dir, 'whereami'],
      // The reference logs from a script that flock starts with $SHELL; under /bin/sh (CI runs
      // with SHELL unset) bash's exported log function is lost and the message never shows.
      { env: { ...env, SHELL: '/bin/bash' } },
    );
    expect(reference.stdout).toContain(`prefix=${dir}\n`);
    expect(reference.stdout).toContain('Not expanding environment file again');
    // Unpacking again would have rewritten the files tar extracts (ctime cannot be set back).
    const after = await stat(join(dir, 'bin', 'activate'));
    expect(after.ctimeMs).toBe(before.ctimeMs);
  });
});
