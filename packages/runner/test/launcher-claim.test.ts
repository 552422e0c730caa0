import { existsSync, fstatSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@poncho/core/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLAIM_VARIABLE,
  keepLockFresh,
  LauncherClaim,
  WAKE_FD_VARIABLE,
} from '../src/launcher-claim.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poncho-claim-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A lock directory last modified `ageMs` before this process started (negative: after). */
async function lockMadeBeforeStart(name: string, ageMs: number): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  const when = new Date(performance.timeOrigin - ageMs);
  await utimes(path, when, when);
  return path;
}

describe('LauncherClaim', () => {
  it('is taken out of the environment, so the command never inherits it', () => {
    const env: NodeJS.ProcessEnv = {
      [CLAIM_VARIABLE]: '/x/.dir.poncho-lock',
      [WAKE_FD_VARIABLE]: '8',
      OTHER: '1',
    };
    expect(LauncherClaim.take(env)?.lockPath).toBe('/x/.dir.poncho-lock');
    expect(env).toEqual({ OTHER: '1' });
    expect(LauncherClaim.take({})).toBeUndefined();
  });

  it('makes the lock directory once when handed over, and never when released first', async () => {
    const lock = join(dir, 'handed');
    const claim = LauncherClaim.take({ [CLAIM_VARIABLE]: lock }) as LauncherClaim;
    expect(claim.handOver()).toBe(true);
    expect(existsSync(lock)).toBe(true);
    expect(claim.handOver()).toBe(false);
    const released = LauncherClaim.take({ [CLAIM_VARIABLE]: join(dir, 'released') });
    released?.release();
    expect(released?.handOver()).toBe(false);
    expect(existsSync(join(dir, 'released'))).toBe(false);
  });

  it('leaves a lock another run made to that run (handOver is false)', async () => {
    const lock = join(dir, 'taken');
    await mkdir(lock);
    expect(LauncherClaim.take({ [CLAIM_VARIABLE]: lock })?.handOver()).toBe(false);
    expect(existsSync(lock)).toBe(true);
  });

  it('lets go of the wake descriptor (closes it) once', () => {
    const fd = openSync(join(dir, 'wake'), 'a');
    const claim = LauncherClaim.take({
      [CLAIM_VARIABLE]: join(dir, 'x'),
      [WAKE_FD_VARIABLE]: String(fd),
    }) as LauncherClaim;
    claim.wakeWaiters();
    expect(() => fstatSync(fd)).toThrow(/EBADF/);
    claim.wakeWaiters();
  });
});

describe('keepLockFresh', () => {
  it('renews the lock’s mtime while held, as proper-lockfile does, and removes it at the end', async () => {
    const lock = await lockMadeBeforeStart('kept', 5_000);
    const before = (await stat(lock)).mtimeMs;
    const release = keepLockFresh(lock, 50, createLogger({ prefix: 'test', level: 'warn' }));
    const first = (await stat(lock)).mtimeMs;
    expect(first).toBeGreaterThan(before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await stat(lock)).mtimeMs).toBeGreaterThan(first);
    await release();
    expect(existsSync(lock)).toBe(false);
  });
});
