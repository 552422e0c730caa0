/**
 * The lock bin/launch.sh claims before it starts the Node CLI.
 *
 * When 16 runs start at once on a worker where the --unpack-to folder is missing, the launcher
 * that first creates the folder's lock directory (an atomic mkdir, the same directory
 * proper-lockfile uses) starts Node; the others see the lock and wait in sh, without starting
 * Node. It names the directory in PONCHO_RUN_CLAIMED_LOCK. The Node CLI takes the variable out
 * of its environment at once (the command must never inherit it), then either takes the lock
 * over for unpacking or, when it turns out not to unpack, removes it, so that a claim never
 * outlives its run.
 */
import { rmdirSync, statSync, utimesSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import type { Logger } from '@poncho/core/log';
import { LOCK_STALE_MS } from './marker.js';

export const CLAIM_VARIABLE = 'PONCHO_RUN_CLAIMED_LOCK';

export class LauncherClaim {
  private settled = false;

  private constructor(readonly lockPath: string) {}

  /** The claim named in `env`, removed from it; undefined when there is none. */
  static take(env: NodeJS.ProcessEnv = process.env): LauncherClaim | undefined {
    const lockPath = env[CLAIM_VARIABLE];
    delete env[CLAIM_VARIABLE];
    return lockPath ? new LauncherClaim(lockPath) : undefined;
  }

  /**
   * Hands the lock directory over to its taker, who removes it and locks it again with
   * proper-lockfile. False when it is no longer the launcher's (see stillHeld).
   */
  handOver(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return this.stillHeld();
  }

  /** Removes the claimed lock unless it was handed over (idempotent). */
  release(): void {
    if (!this.handOver()) return;
    try {
      rmdirSync(this.lockPath);
    } catch {
      // Already gone: nothing to release.
    }
  }

  /**
   * The launcher made the lock directory just before it started this process, so it is older
   * than the process (give or take a file system's timestamp granularity) and younger than the
   * stale time. A younger directory is another run's lock, made after the claim was removed; an
   * older one may have been taken over by another run, which now owns it.
   */
  private stillHeld(): boolean {
    try {
      const { mtimeMs } = statSync(this.lockPath);
      return (
        mtimeMs <= performance.timeOrigin + TIMESTAMP_SLACK_MS &&
        Date.now() - mtimeMs < LOCK_STALE_MS
      );
    } catch {
      return false;
    }
  }
}

/** File systems that keep whole seconds (some NFS servers) may round a timestamp up. */
const TIMESTAMP_SLACK_MS = 1_000;

/**
 * Holds a lock directory this process owns the way proper-lockfile holds its own, so that other
 * runs (which take and judge locks with proper-lockfile) see it alive: its mtime is renewed every
 * `everyMs`, well within the stale time; the returned function stops that and removes it.
 */
export function keepLockFresh(lockPath: string, everyMs: number, log: Logger): () => Promise<void> {
  const touch = () => {
    const now = new Date();
    utimesSync(lockPath, now, now);
  };
  touch();
  const timer = setInterval(() => {
    try {
      touch();
    } catch (error) {
      log.warn(
        `cannot refresh the lock ${lockPath} (${(error as Error).message}); finishing anyway`,
      );
    }
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await rmdir(lockPath).catch(() => {});
  };
}
