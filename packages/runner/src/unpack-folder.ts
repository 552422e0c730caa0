/**
 * Unpacking into a kept `--unpack-to` folder, shared by concurrent runs (and by the machines of
 * a cluster when the folder is on NFS).
 *
 * - One run unpacks, under a lock (proper-lockfile: an atomic mkdir refreshed while held, which
 *   works on NFS; a lock whose owner died goes stale after STALE_MS and is taken over). The
 *   others wait up to `-w` seconds, watching for the folder to become complete. When
 *   bin/launch.sh already made the lock directory for this run (launcher-claim.ts), the run
 *   keeps that one fresh the same way instead of loading proper-lockfile.
 * - Crash safety: the tarball is extracted and relocated in a temporary sibling of the folder,
 *   the marker is written last, and the sibling is renamed into place. A run killed half-way
 *   leaves only the sibling, which the next run removes. (A conda-pack tarball must be
 *   relocated where it lives: it is moved into place with a journal file, and a folder with a
 *   journal but no marker is redone.)
 *
 * The lock and the staging folder live beside the folder, so its parent must be writable.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { uniqueSuffix, writeFileAtomic } from '@poncho/core/fs';
import type { Logger } from '@poncho/core/log';
import { type InflatingTarball, startInflating } from './blocked-gunzip.js';
import { RunnerExitCode } from './exit-codes.js';
import { keepLockFresh } from './launcher-claim.js';
import {
  type FolderState,
  inspectFolder,
  isComplete,
  JOURNAL_PATH,
  KNOWN_TARBALLS_DIR,
  knownTarballPath,
  LOCK_STALE_MS,
  lockPathFor,
  MARKER_PATH,
  PEER_POLL_MS,
  REFERENCE_MARKERS,
  type TarballIdentity,
  type UnpackedMarker,
} from './marker.js';
import { digestTarball } from './tarball-digest.js';

/** A lock not refreshed for this long belongs to a dead run and is taken over. */
export const STALE_MS = LOCK_STALE_MS;
const UPDATE_MS = 2_000;
const RUNNER = '@poncho/runner';

export interface FolderUnpackOptions {
  /** For messages: the -w value. */
  waitForLockSeconds: number;
  /** When to give up waiting for the lock (ms since the epoch); default: now + -w seconds. */
  deadline?: number;
  identity: TarballIdentity;
  /**
   * The lock directory exists and is this run's: bin/launch.sh created it (see
   * launcher-claim.ts). It is kept fresh as proper-lockfile keeps its own, and removed at the
   * end, without loading proper-lockfile (~10 ms of every cold run).
   */
  claimedLock?: boolean;
  /**
   * `tarball`'s inflating, started by the caller (startInflating, with its digest) when it knew
   * this run unpacks; the caller cancels it if it was not read.
   */
  inflating?: InflatingTarball | undefined;
  signal?: AbortSignal;
  log: Logger;
}

/** Makes `dir` hold the environment of `tarball`; returns the folder's final state. */
export async function unpackToFolder(
  tarball: string,
  requestedDir: string,
  options: FolderUnpackOptions,
): Promise<FolderState> {
  // A symbolic link to a folder: work beside the folder itself (a rename would replace the link).
  // (Synchronous calls for these few steps: each asynchronous one costs a threadpool round trip
  // on a cold start's critical path.)
  const dir = realpathOrSelf(requestedDir);
  const parent = dirname(dir);
  const name = basename(dir);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (error) {
    throw fileError(error, parent, 'parent of the --unpack-to folder');
  }
  const lockPath = lockPathFor(dir);
  const release = await acquireLock(dir, lockPath, options);
  if (!release) return inspectFolder(dir); // another run finished it while we waited
  try {
    const state = await inspectFolder(dir);
    if (isComplete(state) || state.kind === 'foreign') return state;
    await removeLeftovers(parent, name, options.log);
    const staging = () => join(parent, `.${name}.poncho-staging-${process.pid}-${uniqueSuffix()}`);
    if (state.kind === 'incomplete') {
      options.log.debug(`${dir} was left half-done by a run that died: unpacking again`);
      // The dead run's conda-unpack may still be running and writing into it (Python's
      // __pycache__ files): move it aside in one step, then remove it as far as it goes; a
      // later run removes what is left, as any staging leftover.
      const aside = staging();
      await rename(dir, aside);
      await rm(aside, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }
    await fill(tarball, dir, staging(), options);
    return inspectFolder(dir);
  } finally {
    await release().catch(() => {}); // already released when compromised
  }
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}

async function fill(tarball: string, dir: string, staging: string, options: FolderUnpackOptions) {
  const { log, signal } = options;
  try {
    mkdirSync(staging);
  } catch (error) {
    throw fileError(error, staging, 'staging folder for unpacking');
  }
  const marker = (relocation: UnpackedMarker['relocation']): UnpackedMarker => ({
    markerVersion: 2,
    digest,
    source: tarball,
    relocation,
    unpackedAt: new Date().toISOString(),
    pid: process.pid,
    hostname: hostname(),
    runner: RUNNER,
  });
  let moved = false;
  let digest = '';
  // A blocked-gzip tarball is hashed as it is read to be inflated; any other is read a second
  // time for its digest, alongside the extraction (tarball-digest.ts).
  const inflating = options.inflating ?? startInflating(tarball, { digest: true });
  const digesting = inflating ? undefined : digestTarball(tarball, signal);
  digesting?.catch(() => {}); // awaited below; a failed extraction must not leave it unhandled
  try {
    log.debug(`unpacking ${tarball} into ${staging}`);
    const { unpackInto } = await import('./unpack.js');
    const result = await unpackInto(tarball, staging, dir, { signal, log, inflating });
    removeCarriedState(staging);
    digest = inflating
      ? inflating.digest()
      : await (digesting as Promise<string>).catch((error: unknown) => {
          throw fileError(error, tarball, 'environment tarball');
        });
    if (result.relocation === 'conda-unpack') {
      await writeJson(join(staging, JOURNAL_PATH), {
        pid: process.pid,
        startedAt: new Date().toISOString(),
      });
      await moveIntoPlace(staging, dir);
      moved = true;
      log.debug(`running ${dir}/bin/conda-unpack`);
      const { runCondaUnpack } = await import('./relocation.js');
      await runCondaUnpack(dir, process.env);
      writeReferenceMarkers(dir);
      writeKnownTarball(dir, options.identity);
      await writeJson(join(dir, MARKER_PATH), marker('conda-unpack'));
      await rm(join(dir, JOURNAL_PATH), { force: true });
    } else {
      writeReferenceMarkers(staging);
      writeKnownTarball(staging, options.identity);
      writeStagedMarker(staging, marker(result.relocation));
      await moveIntoPlace(staging, dir);
      moved = true;
    }
    log.debug(`environment ready in ${dir}`);
  } catch (error) {
    await inflating?.cancel(); // never read when the extraction could not start
    if (!moved) await rm(staging, { recursive: true, force: true, maxRetries: 2 });
    // A folder moved into place but not finished keeps its journal: the next run redoes it.
    throw error;
  }
}

/**
 * The reference runner's markers, so that it uses (instead of unpacking again over) a folder
 * we unpacked; it only tests that they exist.
 *
 * These state files are written with synchronous calls: a handful of small files at the end of
 * a cold start, where each asynchronous call costs a trip through the threadpool.
 */
function writeReferenceMarkers(root: string): void {
  const stamp = `${new Date().toString()}\n`;
  for (const name of REFERENCE_MARKERS) writeStateFile(join(root, name), stamp, 'marker file');
}

/** A small state file of ours; a full disk or a read-only folder is named (125). */
function writeStateFile(path: string, data: string, what: string): void {
  try {
    writeFileSync(path, data);
  } catch (error) {
    throw fileError(error, path, what);
  }
}

/**
 * Removes the runner's own state files that the tarball itself carried (a folder we unpacked,
 * packed again by conda-pack or tar): a marker or a list of known tarball files that no longer
 * describe this folder, which a waiting run or the launcher would otherwise trust before ours
 * are written.
 */
function removeCarriedState(root: string): void {
  for (const carried of [MARKER_PATH, KNOWN_TARBALLS_DIR]) {
    const path = join(root, carried);
    // Looked for first: rmSync's recursive mode loads a module of its own (~1 ms).
    if (existsSync(path) || isLink(path)) rmSync(path, { recursive: true, force: true });
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Records the tarball file this run was given as known to bin/launch.sh (before the marker). */
function writeKnownTarball(root: string, identity: TarballIdentity): void {
  makeStateFolder(root);
  const known = join(root, KNOWN_TARBALLS_DIR);
  try {
    mkdirSync(known);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw fileError(error, known, 'state folder');
  }
  writeStateFile(knownTarballPath(root, identity), '', 'state file');
}

/** `.poncho` in the environment, where the runner keeps its state (named in failures). */
function makeStateFolder(root: string): void {
  const folder = join(root, dirname(MARKER_PATH));
  try {
    mkdirSync(folder);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw fileError(error, folder, 'state folder');
  }
}

/**
 * The marker in the staging folder, which nobody else sees until it is renamed into place: a
 * plain write (the rename of the folder is the atomic step).
 */
function writeStagedMarker(root: string, marker: UnpackedMarker): void {
  makeStateFolder(root);
  writeStateFile(join(root, MARKER_PATH), `${JSON.stringify(marker, null, 2)}\n`, 'marker file');
}

/** The marker (or journal) in a folder others may already read: through a temporary file. */
async function writeJson(path: string, data: unknown): Promise<void> {
  makeStateFolder(dirname(dirname(path)));
  await writeFileAtomic(path, `${JSON.stringify(data, null, 2)}\n`, {
    what: 'marker file',
    mkdirs: true,
  });
}

/** rename(2) replaces a missing or empty folder in one step. */
async function moveIntoPlace(staging: string, dir: string): Promise<void> {
  try {
    renameSync(staging, dir); // (synchronous: the last step before the command starts)
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOTEMPTY' || code === 'EEXIST') {
      // Only when our lock was taken over (we were frozen longer than STALE_MS) and the other
      // run finished first: its result is as good as ours.
      const state = await inspectFolder(dir);
      if (state.kind === 'ours') {
        await rm(staging, { recursive: true, force: true });
        return;
      }
    }
    if (code === 'ENOTDIR') {
      throw new PonchoError('ERR_UNPACK_DIR', `--unpack-to ${dir} exists and is not a folder`, {
        hint: 'Choose another --unpack-to path.',
        exitCode: RunnerExitCode.environment,
      });
    }
    throw fileError(error, dir, '--unpack-to folder');
  }
}

/** Removes staging folders of runs that died (safe: we hold the lock). */
async function removeLeftovers(parent: string, name: string, log: Logger): Promise<void> {
  const prefix = `.${name}.poncho-staging-`;
  for (const entry of readdirSync(parent)) {
    if (entry.startsWith(prefix)) {
      log.debug(`removing ${join(parent, entry)}, left by a run that died`);
      // Not worth failing for: a leftover still being written to is collected by a later run.
      await rm(join(parent, entry), { recursive: true, force: true, maxRetries: 3 }).catch(
        (error: Error) => log.debug(`could not remove it yet (${error.message})`),
      );
    }
  }
}

/**
 * How often a waiting run contends for the lock again while it exists. Between attempts it only
 * polls for the marker (every PEER_POLL_MS), which is what ends nearly every wait; the attempts
 * are for taking over a lock whose owner died (proper-lockfile does that on ELOCKED once the
 * lock is stale) and are made at once when the lock disappears.
 */
const LOCK_RETRY_MS = 250;

/**
 * Takes the lock, waiting up to `-w` seconds. Returns undefined (without the lock) when the
 * folder became complete while waiting: no need to unpack any more.
 */
async function acquireLock(
  dir: string,
  lockPath: string,
  options: FolderUnpackOptions,
): Promise<(() => Promise<void>) | undefined> {
  if (options.claimedLock) {
    try {
      return keepLockFresh(lockPath, UPDATE_MS, options.log);
    } catch {
      // The claimed directory is gone: contend for the lock like any other run.
    }
  }
  const { default: lockfile } = await import('proper-lockfile');
  const deadline = options.deadline ?? Date.now() + options.waitForLockSeconds * 1000;
  let announced = false;
  let nextAttempt = 0;
  for (;;) {
    if (Date.now() >= nextAttempt || !existsSync(lockPath)) {
      try {
        return await lockfile.lock(dir, {
          realpath: false,
          lockfilePath: lockPath,
          stale: STALE_MS,
          update: UPDATE_MS,
          retries: 0,
          onCompromised: (error) => {
            options.log.warn(`the lock on ${dir} was lost (${error.message}); finishing anyway`);
          },
        });
      } catch (error) {
        if (errnoCode(error) !== 'ELOCKED') {
          throw fileError(error, lockPath, 'lock of the --unpack-to folder');
        }
      }
      nextAttempt = Date.now() + LOCK_RETRY_MS;
    }
    const state = await inspectFolder(dir);
    if (isComplete(state)) return undefined;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new PonchoError(
        'ERR_LOCK_TIMEOUT',
        `timed out after ${options.waitForLockSeconds} s waiting for another run to unpack into ${dir} (lock ${lockPath})`,
        {
          hint: `Wait longer with -w SECONDS. If no other run is active, the lock is taken over ${STALE_MS / 1000} s after its owner died.`,
          exitCode: RunnerExitCode.lockTimeout,
        },
      );
    }
    if (!announced) {
      options.log.debug(`waiting for another run unpacking into ${dir}`);
      announced = true;
    }
    await sleep(Math.min(PEER_POLL_MS, left), options.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
