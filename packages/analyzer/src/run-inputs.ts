/**
 * What a run read from the file system, so that a later run can tell, with a `stat` per path,
 * whether its result would be the same (see result-cache.ts). Every folder listed, file read
 * and path looked at is recorded as its stat (type and permissions, size, modification and
 * change times, inode, device), or as missing, taken before it is read: a change made after
 * that shows as a different stat next time.
 *
 * A folder's modification time changes whenever an entry is added, removed or renamed in it,
 * so a folder's stat stands for its listing. As in the stat index (stat-index.ts), a path
 * modified less than RACY_MS before the run started may change again within the file system's
 * timestamp granularity unseen: the inputs are then not reusable, and neither are inputs that
 * cannot be checked by a stat at all (standard input, a file that could not be read).
 */
import { type Stats, statSync } from 'node:fs';

/** [mode, size, mtimeMs, ctimeMs, ino, dev], or null when nothing is at the path. */
export type PathState = [number, number, number, number, number, number] | null;

/** A path and what was there. */
export type RecordedInput = [string, PathState];

/** Recent modifications may hide a later one with the same times (timestamp granularity). */
export const RACY_MS = 2_000;

function stateOf(info: Stats | undefined): PathState {
  return info ? [info.mode, info.size, info.mtimeMs, info.ctimeMs, info.ino, info.dev] : null;
}

/** The state of `path` now (following links), or undefined when it cannot be told. */
function currentState(path: string): PathState | undefined {
  try {
    return stateOf(statSync(path, { throwIfNoEntry: false }));
  } catch {
    return undefined; // permission denied on a parent, a link loop...
  }
}

function sameState(a: PathState | undefined, b: PathState | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === null || b === null) return a === b;
  return a.every((value, i) => value === b[i]);
}

export class RunInputs {
  private readonly paths = new Map<string, PathState>();
  private reusable = true;
  private readonly racyAfter = Date.now() - RACY_MS;

  /**
   * Records what is at `path` before it is read or listed: `info` when the caller has just
   * stat'ed it (following links), else a stat now. Returns nothing: callers go on as before.
   * `settled`: a file nobody edits while runs read it (the analyzer's own code), so a recent
   * modification (a build just now) does not make the run unreusable.
   */
  path(path: string, info?: Stats | null, settled = false): void {
    const state = info === undefined ? currentState(path) : stateOf(info ?? undefined);
    if (state === undefined) {
      this.reusable = false;
      return;
    }
    if (state !== null && state[2] > this.racyAfter && !settled) this.reusable = false;
    const before = this.paths.get(path);
    // Seen twice, changed in between: this run saw two versions of it.
    if (before !== undefined && !sameState(before, state)) this.reusable = false;
    this.paths.set(path, state);
  }

  /** The run used something a stat cannot check later (standard input, an unreadable file). */
  unverifiable(): void {
    this.reusable = false;
  }

  /** Everything recorded, or undefined when a later run could not rely on it. */
  recorded(): RecordedInput[] | undefined {
    return this.reusable ? [...this.paths] : undefined;
  }
}

/** Whether every recorded path is as it was. */
export function unchanged(inputs: readonly RecordedInput[]): boolean {
  for (const [path, state] of inputs) if (!sameState(currentState(path), state)) return false;
  return true;
}
