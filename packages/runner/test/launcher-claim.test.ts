import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@poncho/core/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAIM_VARIABLE, keepLockFresh, LauncherClaim } from '../src/launcher-claim.js';

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
    const env: NodeJS.ProcessEnv = { [CLAIM_VARIABLE]: '/x/.dir.poncho-lock', OTHER: '1' };
    expect(LauncherClaim.take(env)?.lockPath).toBe('/x/.dir.poncho-lock');
    expect(env).toEqual({ OTHER: '1' });
    expect(LauncherClaim.take({})).toBeUndefined();
  });

  it('removes the launcher’s lock when it is released instead of handed over', async () => {
    const lock = await lockMadeBeforeStart('released', 50);
    const claim = LauncherClaim.take({ [CLAIM_VARIABLE]: lock }) as LauncherClaim;
    claim.release();
    expect(existsSync(lock)).toBe(false);
  });

  it('hands the lock over once, and then release leaves it to its taker', async () => {
    const lock = await lockMadeBeforeStart('handed', 50);
    const claim = LauncherClaim.take({ [CLAIM_VARIABLE]: lock }) as LauncherClaim;
    expect(claim.handOver()).toBe(true);
    expect(claim.handOver()).toBe(false);
    claim.release();
    expect(existsSync(lock)).toBe(true);
  });

  it('never touches a lock made after this process started: another run’s', async () => {
    const lock = await lockMadeBeforeStart('newer', -60_000);
    const claim = LauncherClaim.take({ [CLAIM_VARIABLE]: lock }) as LauncherClaim;
    expect(claim.handOver()).toBe(false);
    LauncherClaim.take({ [CLAIM_VARIABLE]: lock })?.release();
    expect(existsSync(lock)).toBe(true);
  });

  it('never touches a stale lock: another run may have taken it over', async () => {
    const lock = await lockMadeBeforeStart('stale', 60_000);
    LauncherClaim.take({ [CLAIM_VARIABLE]: lock })?.release();
    expect(existsSync(lock)).toBe(true);
    expect(LauncherClaim.take({ [CLAIM_VARIABLE]: lock })?.handOver()).toBe(false);
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
