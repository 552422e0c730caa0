/**
 * Skips reading unchanged files on a warm run, as git's index does: for each file path, the
 * size, modification and change times, inode and device seen when its content key was last
 * computed. A file whose `stat` still matches has the same content key, so the scan cache is
 * looked up without reading or hashing the file; any difference means read and hash again.
 *
 * A file modified within the file system's timestamp granularity after it was read could keep
 * the same times ("racy git"): files changed less than RACY_MS before they were read are not
 * recorded, so they are always read. Like the scan cache it accelerates only: one JSON file per
 * cache variant, written atomically (temp + rename) when something changed; unreadable or
 * damaged means empty; concurrent runs at worst drop each other's new entries.
 */
import { randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** [size, mtimeMs, ctimeMs, ino, dev, content key] */
type Entry = [number, number, number, number, number, string];

/** Entries kept (the most recently recorded): a few MB of JSON at most. */
const MAX_ENTRIES = 50_000;
/** A file changed this recently when it was read may change again unseen (timestamp granularity). */
const RACY_MS = 2_000;

export class StatIndex {
  private entries: Map<string, Entry> | undefined;
  private changed = false;

  constructor(
    private readonly dir: string,
    /** Distinguishes cache variants: keys differ between them. */
    private readonly variant: string,
  ) {}

  private get file(): string {
    return join(this.dir, `stat-index-${this.variant}.json`);
  }

  private load(): Map<string, Entry> {
    if (!this.entries) {
      this.entries = new Map();
      try {
        const data = JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, Entry>;
        for (const [path, entry] of Object.entries(data))
          if (Array.isArray(entry) && entry.length === 6) this.entries.set(path, entry);
      } catch {
        // No index yet, or damaged: every file is read.
      }
    }
    return this.entries;
  }

  /** The content key of `path` if its stat is unchanged since it was recorded. */
  lookup(path: string, info: Stats): string | undefined {
    const entry = this.load().get(path);
    if (
      entry &&
      entry[0] === info.size &&
      entry[1] === info.mtimeMs &&
      entry[2] === info.ctimeMs &&
      entry[3] === info.ino &&
      entry[4] === info.dev
    )
      return entry[5];
    return undefined;
  }

  /** Records the content key of `path` as read when its stat was `info`. */
  record(path: string, info: Stats, key: string, readAt: number): void {
    const entries = this.load();
    if (readAt - info.mtimeMs < RACY_MS) {
      if (entries.delete(path)) this.changed = true;
      return;
    }
    entries.delete(path); // re-inserted last: the newest are kept when trimming
    entries.set(path, [info.size, info.mtimeMs, info.ctimeMs, info.ino, info.dev, key]);
    this.changed = true;
  }

  flush(): void {
    if (!this.changed || !this.entries) return;
    const kept = [...this.entries].slice(-MAX_ENTRIES);
    const temp = `${this.file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      mkdirSync(this.dir, { recursive: true });
      writeFileSync(temp, JSON.stringify(Object.fromEntries(kept)));
      renameSync(temp, this.file);
      this.changed = false;
    } catch {
      rmSync(temp, { force: true });
    }
  }
}
