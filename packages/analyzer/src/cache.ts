/**
 * A scan cache keyed on file content: the sha256 of the bytes plus everything that changes what
 * a scan yields (scan format, grammar versions, scan options). Unchanged files are never parsed
 * twice, whatever their path or mtime. The cache is an accelerator only: any failure to read or
 * write it is ignored.
 *
 * Layout: `$XDG_CACHE_HOME/poncho/analyze/packs/` (default `~/.cache/poncho/analyze`) holds
 * pack files, each a JSON object of many entries, in 16 shards by the key's first hex digit
 * (`<shard>-<time>-<pid>-<random>.json`). A run reads only the shards of the keys it looks up
 * and writes, at flush(), one new pack per shard it added to. One file per entry cost a cold
 * run of the standard library (668 files) 0.5 s of main-thread time in mkdir, write and rename
 * calls, against about 10 ms for 16 packs. A shard with more than MAX_PACKS packs is merged
 * into one (the newest entries first, up to MAX_SHARD_ENTRIES), so reads stay a few files.
 * Packs are written atomically (temp + rename); concurrent runs at worst both merge, or miss
 * a pack another run just merged away, which only costs a parse.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { grammarVersions } from './parse.js';
import { SCAN_FORMAT, type ScanOutcome } from './scan-outcome.js';
import { StatIndex } from './stat-index.js';

/** Packs per shard before they are merged into one. */
export const MAX_PACKS = 8;
/** Entries kept per shard when merging (16 shards: about 65k files, a few tens of MB). */
export const MAX_SHARD_ENTRIES = 4096;
const PACKS = 'packs';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'poncho', 'analyze');
}

interface Shard {
  /** Entries of the packs read, newest pack last (so its entries win). */
  entries: Map<string, ScanOutcome>;
  /** File names of the packs read. */
  packs: string[];
  /** Entries added by this run, written by flush(). */
  added: Map<string, ScanOutcome>;
}

export class ScanCache {
  /** What besides the content a cached scan depends on (format, grammar versions, options). */
  readonly salt: string;
  private readonly packDir: string;
  private readonly shards = new Map<string, Shard>();
  /** The pack folder's file names, listed once per run. */
  private listing: string[] | undefined;

  constructor(
    readonly dir: string,
    variant: string,
  ) {
    this.salt = `poncho-analyze/${SCAN_FORMAT}/${grammarVersions()}/${variant}\n`;
    this.packDir = join(dir, PACKS);
    const variantId = createHash('sha256').update(this.salt).digest('hex').slice(0, 12);
    this.stats = new StatIndex(dir, variantId);
  }

  /** The content keys of files by path and stat (warm runs then skip reading them). */
  readonly stats: StatIndex;

  /** The cache key of some file content. */
  key(bytes: Uint8Array): string {
    return createHash('sha256').update(this.salt).update(bytes).digest('hex');
  }

  get(key: string): ScanOutcome | undefined {
    const shard = this.shard(key);
    return shard.added.get(key) ?? shard.entries.get(key);
  }

  /** Remembers an outcome; it is written by flush(). */
  put(key: string, outcome: ScanOutcome): void {
    this.shard(key).added.set(key, outcome);
  }

  /** Writes what put() added since the last flush: one pack per shard, merged when too many. */
  flush(): void {
    this.stats.flush();
    let wrote = false;
    for (const [name, shard] of this.shards) {
      if (shard.added.size === 0) continue;
      try {
        mkdirSync(this.packDir, { recursive: true });
        if (shard.packs.length + 1 > MAX_PACKS) {
          const merged = new Map([...shard.entries, ...shard.added]);
          const keep = [...merged].slice(-MAX_SHARD_ENTRIES);
          const written = this.writePack(name, keep);
          for (const old of shard.packs) rmSync(join(this.packDir, old), { force: true });
          shard.packs = [written];
        } else {
          shard.packs.push(this.writePack(name, [...shard.added]));
        }
        for (const [key, outcome] of shard.added) shard.entries.set(key, outcome);
        shard.added.clear();
        wrote = true;
      } catch {
        // The cache is only an accelerator.
      }
    }
    if (wrote) this.removeOldLayout();
  }

  /** Earlier versions kept one file per entry in `<2 hex digits>/` folders: now dead weight. */
  private removeOldLayout(): void {
    try {
      for (const name of readdirSync(this.dir)) {
        if (/^[0-9a-f]{2}$/.test(name))
          rmSync(join(this.dir, name), { recursive: true, force: true });
      }
    } catch {
      // The cache is only an accelerator.
    }
  }

  private writePack(shard: string, entries: Array<[string, ScanOutcome]>): string {
    const name = `${shard}-${Date.now().toString(36)}-${process.pid}-${randomBytes(4).toString('hex')}.json`;
    const target = join(this.packDir, name);
    const temp = `${target}.tmp`;
    try {
      writeFileSync(temp, JSON.stringify(Object.fromEntries(entries)));
      renameSync(temp, target);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    return name;
  }

  /** The shard of `key`, read from disk on first use. */
  private shard(key: string): Shard {
    const name = key.charAt(0);
    let shard = this.shards.get(name);
    if (!shard) {
      shard = { entries: new Map(), packs: [], added: new Map() };
      this.shards.set(name, shard);
      this.read(name, shard);
    }
    return shard;
  }

  private read(name: string, shard: Shard): void {
    if (this.listing === undefined) {
      try {
        this.listing = readdirSync(this.packDir);
      } catch {
        this.listing = []; // no cache yet
      }
    }
    const files = this.listing;
    // Oldest first (the names start with the time), so that newer entries win.
    const mine = files.filter((f) => f.startsWith(`${name}-`) && f.endsWith('.json')).sort();
    for (const file of mine) {
      try {
        const data = JSON.parse(readFileSync(join(this.packDir, file), 'utf8')) as Record<
          string,
          ScanOutcome
        >;
        for (const [key, outcome] of Object.entries(data)) {
          if (typeof outcome === 'object' && outcome !== null && 'ok' in outcome)
            shard.entries.set(key, outcome);
        }
        shard.packs.push(file);
      } catch {
        // Merged away by another run, or damaged: a miss at worst.
      }
    }
  }
}
