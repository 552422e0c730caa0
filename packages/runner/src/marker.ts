/**
 * How a folder says "an environment was completely unpacked and relocated here".
 *
 * Our marker is `.poncho/unpacked.json`, the last thing written before the folder is moved into
 * place. It records a fingerprint of the tarball, so a folder unpacked from one tarball is not
 * silently used for another. Folders unpacked by the reference runner carry its marker
 * (`.python_package_run_expanded` in Debian's version, `.poncho_package_run_expanded` in later
 * cctools); they are used as they are, since the reference records no tarball identity.
 *
 * Only node built-ins, and synchronous calls: this is on the warm path of every run, where the
 * promise machinery of node:fs/promises costs more than the calls.
 */
import {
  closeSync,
  fstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  statSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileError, PonchoError } from '@poncho/core/errors';

export const MARKER_PATH = '.poncho/unpacked.json';
/** bin/launch.sh's copy of the fingerprint: this, then the tarball's size (see tarballIdentity). */
export const FINGERPRINT_PREFIX = '.poncho/fingerprint-';
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
  markerVersion: 1;
  /** Fingerprint of the tarball the folder was unpacked from (see tarballFingerprint). */
  fingerprint: string;
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
  | { kind: 'reference'; markerFile: string }
  | { kind: 'incomplete' }
  | { kind: 'foreign' };

/** Bytes of the tarball's start and end in its fingerprint. */
const HEAD_BYTES = 512;
const TAIL_BYTES = 64;

/** What identifies a tarball, in the two forms the runner keeps in an unpacked folder. */
export interface TarballIdentity {
  /** Size, head and tail as one string: the marker's `fingerprint`, compared by the Node CLI. */
  fingerprint: string;
  /**
   * The same bytes for bin/launch.sh, which compares them with `cmp` without starting Node:
   * `.poncho/fingerprint-SIZE` holding the first 512 and the last 64 bytes. Undefined for
   * tarballs shorter than both (the launcher leaves those to the Node CLI).
   */
  endsFile?: { path: string; bytes: Buffer };
}

/**
 * A cheap identity for a tarball that survives copies (it does not use the mtime, which a
 * batch system may change when it hands the file to a task): its size and its first 512 and
 * last 64 bytes, as they are. Compressed tarballs end with a checksum of their whole content
 * (gzip's CRC-32 and length, bzip2's stream CRC, xz's index), so a change anywhere changes the
 * fingerprint. (No hashing: on the warm path, loading node:crypto or hashing in JS costs more
 * than everything else the runner does.)
 */
export async function tarballIdentity(path: string): Promise<TarballIdentity> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw fileError(error, path, 'environment tarball');
  }
  try {
    const { size } = fstatSync(fd);
    const head = Buffer.alloc(Math.min(size, HEAD_BYTES));
    readSync(fd, head, 0, head.length, 0);
    const tail = Buffer.alloc(Math.min(size, TAIL_BYTES));
    readSync(fd, tail, 0, tail.length, size - tail.length);
    const fingerprint = `v2:${size}:${head.toString('base64')}:${tail.toString('base64')}`;
    if (size < HEAD_BYTES + TAIL_BYTES) return { fingerprint };
    return {
      fingerprint,
      endsFile: { path: `${FINGERPRINT_PREFIX}${size}`, bytes: Buffer.concat([head, tail]) },
    };
  } finally {
    closeSync(fd);
  }
}

/** The marker's form of tarballIdentity. */
export async function tarballFingerprint(path: string): Promise<string> {
  return (await tarballIdentity(path)).fingerprint;
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
  if (text !== undefined) {
    const marker = parseMarker(text);
    if (marker) return { kind: 'ours', marker };
    return { kind: 'foreign' };
  }
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

function parseMarker(text: string): UnpackedMarker | undefined {
  try {
    const data = JSON.parse(text) as Partial<UnpackedMarker>;
    if (data.markerVersion === 1 && typeof data.fingerprint === 'string')
      return data as UnpackedMarker;
  } catch {
    // A damaged marker: the folder is not one we can trust.
  }
  return undefined;
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
      return state.kind === 'ours' || state.kind === 'reference' ? state : undefined;
    }
    if (Date.now() - mtimeMs > LOCK_STALE_MS || Date.now() >= deadline) return undefined;
    const state = await inspectFolder(dir);
    if (state.kind === 'ours' || state.kind === 'reference') return state;
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, PEER_POLL_MS));
    signal?.throwIfAborted();
  }
}
