/**
 * The creator's one cross-process lock (file-lock.ts, used by the tarball cache, the build
 * folders and the package cache): a lock left by a process killed with SIGKILL is taken over at
 * once, a live holder is waited for (and named), and a stolen lock does not crash the holder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFileLock } from '../dist/file-lock.js';

const moduleUrl = new URL('../dist/file-lock.js', import.meta.url).href;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poncho-file-lock-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A node process that takes the lock, prints "locked", and holds it until killed. */
async function holder(lockPath: string): Promise<ChildProcess> {
  const script = `
    const { withFileLock } = await import(${JSON.stringify(moduleUrl)});
    await withFileLock({ lockPath: ${JSON.stringify(lockPath)}, what: 'x', code: 'E', hint: 'h' }, async () => {
      console.log('locked');
      await new Promise(() => setInterval(() => {}, 1000));
    });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (data: Buffer) => {
      if (data.toString().includes('locked')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  return child;
}

const options = (lockPath: string, extra: object = {}) => ({
  lockPath,
  what: 'the test entry',
  code: 'ERR_TEST_LOCK',
  hint: 'h',
  // Far longer than the test's patience: only the dead-owner check can free the lock in time.
  staleMs: 600_000,
  timeoutMs: 15_000,
  ...extra,
});

describe('withFileLock', () => {
  it('takes over at once a lock whose holder was killed with SIGKILL', async () => {
    const lockPath = join(dir, 'killed.lock');
    const child = await holder(lockPath);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(existsSync(lockPath)).toBe(true);
    const result = await withFileLock(options(lockPath), async () => 'ran');
    expect(result).toBe('ran');
    expect(existsSync(lockPath)).toBe(false);
    expect(existsSync(`${lockPath}.owner`)).toBe(false);
  });

  it('waits for a live holder, names it, and gives up with the error code', async () => {
    const lockPath = join(dir, 'live.lock');
    const child = await holder(lockPath);
    const waits: string[] = [];
    try {
      await expect(
        withFileLock(
          options(lockPath, { timeoutMs: 1_500, onWait: (m: string) => waits.push(m) }),
          async () => 'must not run',
        ),
      ).rejects.toMatchObject({ code: 'ERR_TEST_LOCK' });
      expect(waits).toEqual([
        expect.stringContaining(`waiting for the test entry: locked by process ${child.pid}`),
      ]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('serialises holders in one process', async () => {
    const lockPath = join(dir, 'serial.lock');
    const order: string[] = [];
    const task = (name: string) =>
      withFileLock(options(lockPath), async () => {
        order.push(`${name}+`);
        await new Promise((resolve) => setTimeout(resolve, 100));
        order.push(`${name}-`);
      });
    await Promise.all([task('a'), task('b')]);
    expect(order.join(' ')).toMatch(/^(a\+ a- b\+ b-|b\+ b- a\+ a-)$/);
  });
});

describe('removeDeadBuilds', () => {
  it("removes a killed build's folder, scratch and pip scratch folders, and nothing else", async () => {
    const { removeDeadBuilds } = await import('../dist/leftovers.js');
    const root = join(dir, 'builds');
    const dead = join(root, 'poncho-0123456789ab');
    const live = join(root, 'poncho-ba9876543210');
    const killed = await holder(`${dead}.lock`);
    const running = await holder(`${live}.lock`);
    try {
      for (const path of [
        dead,
        `${dead}.scratch`,
        join(root, '.poncho-0123456789ab.pip-Xy12Ab'),
        live,
        join(root, '.poncho-ba9876543210.pip-Qw34Er'),
      ]) {
        await mkdir(path, { recursive: true });
      }
      killed.kill('SIGKILL');
      await new Promise((done) => killed.on('exit', done));
      expect(await removeDeadBuilds(root)).toEqual([dead]);
      expect((await readdir(root)).sort()).toEqual([
        '.poncho-ba9876543210.pip-Qw34Er',
        'poncho-ba9876543210',
        'poncho-ba9876543210.lock',
        'poncho-ba9876543210.lock.owner',
      ]);
    } finally {
      running.kill('SIGKILL');
    }
  });
});
