/**
 * One way to take a cross-process lock in the creator (the tarball cache, the build folders,
 * the package cache): proper-lockfile's mkdir lock, refreshed while held, plus an owner note so
 * that a lock left by a killed process on this machine is taken over at once instead of after
 * the stale time.
 *
 *   <lockPath>          the lock (a folder, made by mkdir: atomic)
 *   <lockPath>.owner    {pid, host, id}: who made that lock folder; id (inode and birth time)
 *                       tells it from a newer lock folder made after a takeover
 *
 * The stale time stays as the fallback for owners that cannot be checked (another machine on a
 * shared file system). Losing a lock to a takeover never crashes the process: proper-lockfile's
 * default onCompromised throws from a timer, which kills a process whose event loop was starved
 * on a loaded machine; every user here renames finished work into place, so going on is safe.
 */
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import lockfile from 'proper-lockfile';

export interface FileLockOptions {
  /** The lock folder to create (its parent is created when missing). */
  lockPath: string;
  /** What is locked, for messages ("the tarball cache entry /x/y.tar.gz"). */
  what: string;
  /** Error code when the lock cannot be taken (not: while it is busy, then it waits). */
  code: string;
  hint: string;
  /** A lock not refreshed for this long is taken over (default 60 s, at least 2 s). */
  staleMs?: number;
  /** Give up waiting after this long (default: 6 hours; builds take minutes). */
  timeoutMs?: number;
  /** Called once when the lock is busy and the caller has to wait. */
  onWait?: (message: string) => void;
}

interface Owner {
  pid: number;
  host: string;
  id: string;
}

/** Identifies one lock folder: inode numbers are reused, inode plus birth time is not. */
function folderId(info: { ino: number; birthtimeMs: number }): string | undefined {
  return info.birthtimeMs > 0 ? `${info.ino}:${info.birthtimeMs}` : undefined;
}

function ownerPath(lockPath: string): string {
  return `${lockPath}.owner`;
}

/** True when no process has this pid on this machine (EPERM: it exists, owned by another user). */
export function processIsGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

async function readOwner(lockPath: string): Promise<Owner | undefined> {
  try {
    return JSON.parse(await readFile(ownerPath(lockPath), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** True when the lock's owner note names a process of this machine that no longer exists. */
export async function lockOwnerIsGone(lockPath: string): Promise<boolean> {
  const owner = await readOwner(lockPath);
  return Boolean(owner && owner.host === hostname() && processIsGone(owner.pid));
}

/**
 * Removes the lock when its owner note names a process of this machine that no longer exists
 * and the lock folder is still the one that process made. Returns that owner when it did.
 */
async function breakDeadOwnersLock(lockPath: string): Promise<Owner | undefined> {
  const owner = await readOwner(lockPath);
  if (!owner || owner.host !== hostname() || !processIsGone(owner.pid)) return undefined;
  const current = await stat(lockPath).catch(() => undefined);
  if (!current || folderId(current) === undefined || folderId(current) !== owner.id)
    return undefined;
  try {
    await rmdir(lockPath);
    return owner;
  } catch {
    // Not removable: the caller waits as for any held lock (no tight retry loop).
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `work` holding the lock; waits (polling, with back-off) while another process holds it. */
export async function withFileLock<T>(
  options: FileLockOptions,
  work: () => Promise<T>,
): Promise<T> {
  const { lockPath } = options;
  const staleMs = Math.max(2_000, options.staleMs ?? 60_000);
  const deadline = Date.now() + (options.timeoutMs ?? 6 * 3600_000);
  const fail = (error: unknown) =>
    new PonchoError(
      options.code,
      `cannot lock ${options.what} (${lockPath}): ${(error as Error).message}`,
      { hint: options.hint, cause: error },
    );
  try {
    await mkdir(dirname(lockPath), { recursive: true });
  } catch (error) {
    throw fail(error);
  }
  let release: (() => Promise<void>) | undefined;
  let waited = false;
  for (let attempt = 0; !release; attempt += 1) {
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        lockfilePath: lockPath,
        stale: staleMs,
        update: Math.max(1_000, Math.floor(staleMs / 6)),
        retries: 0,
        onCompromised: () => undefined,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw fail(error);
      if (await breakDeadOwnersLock(lockPath)) continue;
      if (Date.now() > deadline) throw fail(error);
      if (!waited) {
        waited = true;
        const owner = await readOwner(lockPath);
        options.onWait?.(
          `waiting for ${options.what}: locked by ${owner ? `process ${owner.pid} on ${owner.host}` : 'another process'} (taken over if not refreshed for ${staleMs / 1000} s)`,
        );
      }
      await sleep(Math.min(1_000, 50 * 1.3 ** attempt));
    }
  }
  // Written after the lock is ours; a waiter only trusts a note naming this very lock folder.
  const info = await stat(lockPath).catch(() => undefined);
  const id = info && folderId(info);
  if (id) {
    const note: Owner = { pid: process.pid, host: hostname(), id };
    await writeFile(ownerPath(lockPath), JSON.stringify(note)).catch(() => undefined);
  }
  try {
    return await work();
  } finally {
    await rm(ownerPath(lockPath), { force: true }).catch(() => undefined);
    await release().catch(() => undefined);
  }
}
