/**
 * The claim bin/launch.sh makes before it starts the Node CLI for a missing --unpack-to folder.
 *
 * When 16 runs start at once on a worker where the folder is missing, the launcher that first
 * takes an exclusive flock on the folder's wake file (`.DIR.poncho-wake`, beside it) starts
 * Node, passing the descriptor on (PONCHO_RUN_WAKE_FD) and naming the folder's lock directory
 * (PONCHO_RUN_CLAIMED_LOCK); the others find the flock held and sleep on it in sh, without
 * starting Node. This run then makes the lock directory itself (an atomic mkdir, the directory
 * proper-lockfile uses, without loading proper-lockfile) once its signal handlers are in place,
 * and closes the descriptor when the environment is ready or the run failed, which wakes the
 * sleepers. A flock dies with its holder: a run stopped at any moment leaves no claim behind.
 * The variables are taken out of the environment at once (the command must never inherit them).
 */
import { closeSync, mkdirSync, rmdirSync, utimesSync } from 'node:fs';
import type { Logger } from '@poncho/core/log';

export const CLAIM_VARIABLE = 'PONCHO_RUN_CLAIMED_LOCK';
/** The descriptor on which the launcher took the wake file's flock. */
export const WAKE_FD_VARIABLE = 'PONCHO_RUN_WAKE_FD';

export class LauncherClaim {
  private settled = false;

  private constructor(
    readonly lockPath: string,
    private wakeFd: number | undefined,
  ) {}

  /** The claim named in `env`, removed from it; undefined when there is none. */
  static take(env: NodeJS.ProcessEnv = process.env): LauncherClaim | undefined {
    const lockPath = env[CLAIM_VARIABLE];
    const wakeFd = Number(env[WAKE_FD_VARIABLE]);
    delete env[CLAIM_VARIABLE];
    delete env[WAKE_FD_VARIABLE];
    return lockPath
      ? new LauncherClaim(lockPath, Number.isInteger(wakeFd) && wakeFd > 2 ? wakeFd : undefined)
      : undefined;
  }

  /**
   * Makes the lock directory for the run that unpacks (once): true when it made it, and then
   * owns it (keepLockFresh); false when it exists (a run started without the launcher took the
   * lock meanwhile): the caller contends for it as any run does.
   */
  handOver(): boolean {
    if (this.settled) return false;
    this.settled = true;
    try {
      mkdirSync(this.lockPath);
      return true;
    } catch {
      return false;
    }
  }

  /** The run does not unpack: nothing to make any more (idempotent). */
  release(): void {
    this.settled = true;
  }

  /**
   * Lets go of the wake file: the runs sleeping on it wake and find the environment ready (or
   * not, and decide). Before the command starts, which must not inherit the descriptor.
   */
  wakeWaiters(): void {
    if (this.wakeFd === undefined) return;
    try {
      closeSync(this.wakeFd);
    } catch {
      // Not open: nothing to let go of.
    }
    this.wakeFd = undefined;
  }
}

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
    // Synchronous: this runs between the environment being ready and the command's start.
    try {
      rmdirSync(lockPath);
    } catch {
      // Already gone (taken over as stale, or removed by hand).
    }
  };
}

/** bin/launch.sh's other messages to the Node CLI it starts, taken out of the environment. */
export interface LauncherNotes {
  /** How long the launcher already waited for another run unpacking: it counts against -w. */
  waitedMs: number;
  /** SIGINT was ignored when the launcher started (`cmd &` in a script): keep it ignored. */
  sigintIgnored: boolean;
}

export const WAITED_VARIABLE = 'PONCHO_RUN_WAITED_MS';
export const SIGINT_IGNORED_VARIABLE = 'PONCHO_RUN_SIGINT_IGNORED';

export function takeLauncherNotes(env: NodeJS.ProcessEnv = process.env): LauncherNotes {
  const waited = Number(env[WAITED_VARIABLE]);
  const sigintIgnored = env[SIGINT_IGNORED_VARIABLE] === '1';
  delete env[WAITED_VARIABLE];
  delete env[SIGINT_IGNORED_VARIABLE];
  return { waitedMs: Number.isFinite(waited) && waited > 0 ? waited : 0, sigintIgnored };
}
