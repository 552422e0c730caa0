/**
 * How a folder says "an environment was completely unpacked and relocated here".
 *
 * Our marker is `.poncho/unpacked.json`, the last thing written before the folder is moved into
 * place. It records a strong digest of the tarball (tarball-digest.ts), so a folder unpacked
 * from one tarball is never used for another. Folders unpacked by the reference runner carry its marker
 * (`.python_package_run_expanded` in Debian's version, `.poncho_package_run_expanded` in later
 * cctools); they are used as they are, since the reference records no tarball identity.
 *
 * Only node built-ins, and synchronous calls: this is on the warm path of every run, where the
 * promise machinery of node:fs/promises costs more than the calls.
 */
import {
  type BigIntStats,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileError, PonchoError } from '@poncho/core/errors';

export const MARKER_PATH = '.poncho/unpacked.json';
/**
 * The tarball files already known to be the one this folder was unpacked from: one empty file
 * per file identity (tarballIdentity's `key`). bin/launch.sh tests for it with one `stat`, so a
 * warm run never reads, let alone hashes, the tarball.
 */
export const KNOWN_TARBALLS_DIR = '.poncho/tarballs';
/**
 * Written before a folder that still needs work (running conda-unpack in place) is moved into
 * place; a folder holding it but no marker was left by a run that died, and is redone.
 */
export const JOURNAL_PATH = '.poncho/unpacking.json';
/** A lock not refreshed for this long belongs to a dead run and is taken over. */
export const LOCK_STALE_MS = 10_000;

/** The lock of an --unpack-to folder: beside it, since the folder itself is renamed into place. */
export function lockPathFor(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.poncho-lock`);
}

export const REFERENCE_MARKERS = ['.poncho_package_run_expanded', '.python_package_run_expanded'];

export interface UnpackedMarker {
  markerVersion: 2;
  /** The strong digest of the tarball the folder was unpacked from (tarball-digest.ts). */
  digest: string;
  /** The tarball's path when it was unpacked (for messages only). */
  source: string;
  /** How the files were relocated. */
  relocation: 'manifest' | 'conda-unpack' | 'none';
  unpackedAt: string;
  /** The process that unpacked it (tests use it to count extractions). */
  pid: number;
  hostname: string;
  runner: string;
}

export type FolderState =
  | { kind: 'missing' }
  | { kind: 'empty' }
  | { kind: 'ours'; marker: UnpackedMarker }
  /** Unpacked by a runner that recorded no strong identity of its tarball (markerVersion 1). */
  | { kind: 'older'; source: string }
  | { kind: 'reference'; markerFile: string }
  | { kind: 'incomplete' }
  | { kind: 'foreign' };

/** Which tarball file a run was given, cheaply: no reading, one fstat. */
export interface TarballIdentity {
  /**
   * Device, inode, size and mtime (to the nanosecond) of the file, as bin/launch.sh spells them
   * with `stat -L -c %d-%i-%s-%.9Y`: the name of its entry in KNOWN_TARBALLS_DIR once the file's
   * digest matched. Not the ctime: hard-linking the file into a task's sandbox (Work Queue)
   * changes it. A copy of the tarball is another file: it is hashed once, then known too.
   */
  key: string;
}

export function tarballIdentity(path: string): TarballIdentity {
  let info: BigIntStats;
  try {
    info = statSync(path, { bigint: true });
  } catch (error) {
    throw fileError(error, path, 'environment tarball');
  }
  const seconds = info.mtimeNs / 1_000_000_000n;
  const nanoseconds = (info.mtimeNs % 1_000_000_000n).toString().padStart(9, '0');
  return { key: `${info.dev}-${info.ino}-${info.size}-${seconds}.${nanoseconds}` };
}

/** The entry of KNOWN_TARBALLS_DIR for `identity`. */
export function knownTarballPath(dir: string, identity: TarballIdentity): string {
  return join(dir, KNOWN_TARBALLS_DIR, identity.key);
}

/**
 * Entries KNOWN_TARBALLS_DIR keeps at most: every copy of a tarball is a file identity of its
 * own, and a batch system that copies the tarball into each task's sandbox would otherwise add
 * an entry per task, forever, to a folder shared by all of them. A file whose entry was pruned
 * is only hashed again.
 */
export const MAX_KNOWN_TARBALLS = 256;

/**
 * Records in the environment folder `dir` that the tarball file `identity` matched its marker's
 * digest; beyond MAX_KNOWN_TARBALLS entries, the oldest go (down to half the cap, so that the
 * entries' ages are read once per MAX_KNOWN_TARBALLS / 2 new files, not at every one). Best
 * effort: a read-only folder only means the file is hashed again next time.
 */
export function recordKnownTarball(dir: string, identity: TarballIdentity): void {
  const folder = join(dir, KNOWN_TARBALLS_DIR);
  try {
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, identity.key), '');
    const names = readdirSync(folder);
    if (names.length <= MAX_KNOWN_TARBALLS) return;
    const byAge = names
      .filter((name) => name !== identity.key)
      .map((name) => ({ name, made: entryTime(join(folder, name)) }))
      .sort((a, b) => a.made - b.made);
    for (const { name } of byAge.slice(0, names.length - MAX_KNOWN_TARBALLS / 2)) {
      rmSync(join(folder, name), { force: true });
    }
  } catch {
    // Read-only, full or changed meanwhile by another run: the next run hashes again.
  }
}

/** When an entry was made (0 when another run removed it meanwhile: it goes first). */
function entryTime(path: string): number {
  try {
    return lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** A folder some runner finished unpacking (whether it may serve this tarball is another matter). */
export function isComplete(state: FolderState): boolean {
  return state.kind === 'ours' || state.kind === 'older' || state.kind === 'reference';
}

/** What a would-be `--unpack-to` folder holds. */
export async function inspectFolder(dir: string): Promise<FolderState> {
  let text: string | undefined;
  try {
    text = readFileSync(join(dir, MARKER_PATH), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fileError(error, dir, 'unpack folder');
  }
  if (text !== undefined) return parseMarker(text);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    if (code === 'ENOTDIR') {
      throw new PonchoError('ERR_UNPACK_DIR', `--unpack-to ${dir} exists and is not a folder`, {
        hint: 'Choose another --unpack-to path.',
      });
    }
    throw fileError(error, dir, 'unpack folder');
  }
  if (names.length === 0) return { kind: 'empty' };
  if (names.includes('.poncho')) {
    try {
      readFileSync(join(dir, JOURNAL_PATH));
      return { kind: 'incomplete' };
    } catch {
      // no journal: not a folder we were filling
    }
  }
  const reference = REFERENCE_MARKERS.find((name) => names.includes(name));
  if (reference) return { kind: 'reference', markerFile: reference };
  return { kind: 'foreign' };
}

function parseMarker(text: string): FolderState {
  try {
    const data = JSON.parse(text) as Omit<Partial<UnpackedMarker>, 'markerVersion'> & {
      markerVersion?: number;
    };
    if (data.markerVersion === 2 && typeof data.digest === 'string')
      return { kind: 'ours', marker: data as UnpackedMarker };
    if (data.markerVersion === 1) return { kind: 'older', source: String(data.source) };
  } catch {
    // A damaged marker: the folder is not one we can trust.
  }
  return { kind: 'foreign' };
}

/**
 * How often a waiting run looks for the marker. A look is one failed open(2), so 16 runs
 * polling cost next to nothing, while a waiter starts its command at most this long after the
 * unpacker finishes (a backoff growing to 100-200 ms used to add that much to every waiter).
 */
export const PEER_POLL_MS = 10;

/**
 * While another live run holds the folder's lock, waits for the folder to become complete,
 * polling with plain stat calls, without loading the locking code: with many runs starting at
 * once on a worker, all but one only wait. Returns the complete folder's state, or undefined
 * when the caller must go the full way (no lock, a stale lock, the deadline passed).
 */
export async function waitForPeer(
  dir: string,
  deadline: number,
  signal?: AbortSignal,
): Promise<FolderState | undefined> {
  const lock = lockPathFor(dir);
  for (;;) {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(lock).mtimeMs;
    } catch {
      // No lock: either nobody started, or the unpacker just finished and released it.
      const state = await inspectFolder(dir);
      return isComplete(state) ? state : undefined;
    }
    if (Date.now() - mtimeMs > LOCK_STALE_MS || Date.now() >= deadline) return undefined;
    const state = await inspectFolder(dir);
    if (isComplete(state)) return state;
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, PEER_POLL_MS));
    signal?.throwIfAborted();
  }
}
