/**
 * --unpack-to under concurrency and crashes, with a real python environment (Debian's CPython
 * in conda's layout, test/support/tarballs.ts): 16 runs at once unpack once; a run killed with
 * SIGKILL half-way (while extracting, or while conda-unpack runs in place) leaves nothing a
 * later run would use, and the next run recovers; lock timeouts and dead owners' locks.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunResult, runRunner, startRunner } from './support/runner-cli.js';
import { pythonEnvTarball } from './support/tarballs.js';

let work: string;
let manifestTarball: string;
let condaUnpackTarball: string;
const env = { ...process.env, PONCHO_DEBUG: undefined };

beforeAll(async () => {
  manifestTarball = await pythonEnvTarball('manifest');
  condaUnpackTarball = await pythonEnvTarball('conda-unpack');
  work = await mkdtemp(join(tmpdir(), 'poncho-conc-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Polls `check` every few ms until it is true (or fails after `timeoutMs`). */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
}

/**
 * Starts a run whose work goes into the empty folder `parent` and sends it `signal` as soon as
 * `halfWay()` holds. On a loaded machine the run may finish before the signal lands: then
 * `parent` is emptied and the run tried again, so the test never passes or fails on timing.
 */
async function stopHalfWay(
  parent: string,
  args: string[],
  halfWay: () => boolean | Promise<boolean>,
  signal: NodeJS.Signals = 'SIGKILL',
  runEnv: NodeJS.ProcessEnv = env,
): Promise<RunResult> {
  for (let attempt = 1; ; attempt++) {
    const victim = startRunner(args, { env: runEnv });
    await until(
      async () => victim.child.exitCode !== null || (await halfWay()),
      'the run to get half-way',
    );
    victim.child.kill(signal);
    const result = await victim.result;
    // A run that finished first exits 0 (the command is `true`); a stopped one never does.
    if (result.signal === signal || result.code !== 0) return result;
    if (attempt === 3)
      throw new Error(`the run always finished before ${signal}: ${result.stderr}`);
    await rm(parent, { recursive: true, force: true });
    await mkdir(parent);
  }
}

/**
 * Makes a dead run's lock look older than the stale time, as it would after waiting (the
 * take-over itself is what the next run proves; the 10 s wait proves nothing more).
 */
async function ageLock(lock: string): Promise<void> {
  expect(existsSync(lock)).toBe(true);
  const old = new Date(Date.now() - 60_000);
  await utimes(lock, old, old);
}

describe('16 runs at once on one cold --unpack-to folder', () => {
  it('unpack exactly once, and all succeed with the right output', async () => {
    const parent = join(work, 'sixteen');
    await mkdir(parent);
    const dir = join(parent, 'env');
    const runs = Array.from({ length: 16 }, (_, i) =>
      runRunner(
        [
          '--debug',
          '-e',
          manifestTarball,
          '--unpack-to',
          dir,
          'python3',
          '-c',
          `import sys; print(${i}, sys.prefix)`,
        ],
        {
          env,
          timeoutMs: 300_000,
        },
      ),
    );
    const results = await Promise.all(runs);
    results.forEach((result, i) => {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(`${i} ${dir}\n`);
    });
    const unpackers = results.filter((r) => /debug: unpacking /.test(r.stderr));
    expect(unpackers).toHaveLength(1);
    const marker = JSON.parse(await readFile(join(dir, '.poncho', 'unpacked.json'), 'utf8'));
    expect(unpackers[0]?.stderr).toContain(`.env.poncho-staging-${marker.pid}-`);
    expect(await readdir(parent)).toEqual(['env']);
  });
});

describe('a run killed half-way', () => {
  it('while extracting: leaves no folder a later run would use, and the next run recovers', async () => {
    const parent = join(work, 'killed-extract');
    await mkdir(parent);
    const dir = join(parent, 'env');
    // Killed once extraction is under way (the stdlib folder is being filled).
    await stopHalfWay(parent, ['-e', manifestTarball, '-d', dir, 'true'], async () => {
      const staging = (await readdir(parent)).find((name) =>
        name.startsWith('.env.poncho-staging-'),
      );
      return staging !== undefined && existsSync(join(parent, staging, 'lib', 'python3.11'));
    });
    expect(existsSync(join(dir, '.poncho', 'unpacked.json'))).toBe(false);
    expect((await readdir(parent)).some((name) => name.startsWith('.env.poncho-staging-'))).toBe(
      true,
    );

    // The dead run's lock goes stale and is taken over (aged here rather than waited for).
    await ageLock(join(parent, '.env.poncho-lock'));
    const next = await runRunner(['--debug', '-e', manifestTarball, '-d', dir, 'whereami'], {
      env,
    });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain(`prefix=${dir}\n`);
    expect(next.stderr).toContain('left by a run that died');
    expect(await readdir(parent)).toEqual(['env']);
  });

  it('while conda-unpack relocates in place: the half-done folder is redone', async () => {
    const parent = join(work, 'killed-conda-unpack');
    await mkdir(parent);
    const dir = join(parent, 'env');
    // Killed while the journal of the in-place step exists.
    await stopHalfWay(parent, ['-e', condaUnpackTarball, '-d', dir, 'true'], () =>
      existsSync(join(dir, '.poncho', 'unpacking.json')),
    );
    expect(existsSync(join(dir, '.poncho', 'unpacked.json'))).toBe(false);

    await ageLock(join(parent, '.env.poncho-lock'));
    const next = await runRunner(['--debug', '-e', condaUnpackTarball, '-d', dir, 'whereami'], {
      env,
    });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain(`prefix=${dir}\n`);
    expect(next.stderr).toContain('half-done');
    expect(existsSync(join(dir, '.poncho', 'unpacking.json'))).toBe(false);
    const marker = JSON.parse(await readFile(join(dir, '.poncho', 'unpacked.json'), 'utf8'));
    expect(marker.relocation).toBe('conda-unpack');
  });
});

describe('a run stopped by a signal while it unpacks', () => {
  it('removes its temporary folder and exits 128+N (SIGTERM)', async () => {
    const runTmp = join(work, 'signal-tmp');
    await mkdir(runTmp);
    const result = await stopHalfWay(
      runTmp,
      ['-e', manifestTarball, 'true'],
      async () => {
        const [temp] = await readdir(runTmp);
        return temp !== undefined && existsSync(join(runTmp, temp, 'lib', 'python3.11'));
      },
      'SIGTERM',
      { ...env, TMPDIR: runTmp },
    );
    expect(result.code).toBe(143);
    expect(result.stderr).toContain('interrupted by SIGTERM');
    expect(await readdir(runTmp)).toEqual([]);
  });

  it('removes its staging folder and lock, leaving no --unpack-to folder (SIGINT)', async () => {
    const parent = join(work, 'signal-kept');
    await mkdir(parent);
    const result = await stopHalfWay(
      parent,
      ['-e', manifestTarball, '-d', join(parent, 'env'), 'true'],
      async () => {
        const staging = (await readdir(parent)).find((name) =>
          name.startsWith('.env.poncho-staging-'),
        );
        return staging !== undefined && existsSync(join(parent, staging, 'lib', 'python3.11'));
      },
      'SIGINT',
    );
    expect(result.code).toBe(130);
    expect(await readdir(parent)).toEqual([]);
  });
});

describe('the lock', () => {
  it('fails with exit 124 after -w seconds when another live run holds it', async () => {
    const parent = join(work, 'held');
    await mkdir(join(parent, '.env.poncho-lock'), { recursive: true }); // fresh: its owner looks alive
    const started = Date.now();
    const result = await runRunner(
      ['-w', '1', '-e', manifestTarball, '-d', join(parent, 'env'), 'true'],
      { env },
    );
    expect(result.code).toBe(124);
    expect(result.stderr).toMatch(/timed out after 1 s waiting for another run/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(existsSync(join(parent, 'env'))).toBe(false);
  });

  it('is taken over when its owner died (not refreshed for longer than the stale time)', async () => {
    const parent = join(work, 'stale');
    const lock = join(parent, '.env.poncho-lock');
    await mkdir(lock, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    const result = await runRunner(
      ['-w', '1', '-e', manifestTarball, '-d', join(parent, 'env'), 'whereami'],
      { env },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(await readdir(parent)).toEqual(['env']);
  });
});
