/**
 * A scan cache keyed on file content: the sha256 of the bytes plus everything that changes what
 * a scan yields (scan format, grammar versions, scan options). Unchanged files are never parsed
 * twice, whatever their path or mtime. Entries are small JSON files under
 * `$XDG_CACHE_HOME/poncho/analyze` (default `~/.cache/poncho/analyze`), written atomically;
 * the cache is an accelerator only, so any failure to read or write it is ignored.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { tempSibling } from '@poncho/core/fs';
import { grammarVersions } from './parse.js';
import { SCAN_FORMAT, type ScanOutcome } from './scan-outcome.js';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'poncho', 'analyze');
}

export class ScanCache {
  private readonly salt: string;
  private readonly createdDirs = new Set<string>();

  constructor(
    readonly dir: string,
    variant: string,
  ) {
    this.salt = `poncho-analyze/${SCAN_FORMAT}/${grammarVersions()}/${variant}\n`;
  }

  /** The cache key of some file content. */
  key(bytes: Uint8Array): string {
    return createHash('sha256').update(this.salt).update(bytes).digest('hex');
  }

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  get(key: string): ScanOutcome | undefined {
    try {
      // Synchronous on purpose: small files, and no thread-pool round trips (see readSource).
      const outcome = JSON.parse(readFileSync(this.path(key), 'utf8')) as ScanOutcome;
      return typeof outcome === 'object' && outcome !== null && 'ok' in outcome
        ? outcome
        : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stores an outcome (synchronously, like get: a few hundred bytes, no thread-pool hops). */
  put(key: string, outcome: ScanOutcome): void {
    const target = this.path(key);
    const folder = join(this.dir, key.slice(0, 2));
    const temp = tempSibling(target);
    try {
      if (!this.createdDirs.has(folder)) {
        mkdirSync(folder, { recursive: true });
        this.createdDirs.add(folder);
      }
      writeFileSync(temp, JSON.stringify(outcome));
      renameSync(temp, target);
    } catch {
      try {
        rmSync(temp, { force: true });
      } catch {
        // The cache is only an accelerator.
      }
    }
  }
}
