/**
 * The plugin cache of createNodes (as @nx/vite and @nx/jest keep one): results stored in Nx's
 * workspace data folder, keyed on the hash Nx's workspace context already holds for the files
 * a result depends on, so a project graph computed again reads no poncho.json that did not
 * change. Where this Nx does not offer those helpers, nothing is cached (results are computed
 * every time, which is correct, only slower).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

interface NxHelpers {
  hashWithWorkspaceContext(root: string, globs: string[]): Promise<string>;
  workspaceDataDirectory: string;
}

function nxHelpers(): NxHelpers | undefined {
  try {
    const context = require('nx/src/utils/workspace-context');
    const dirs = require('nx/src/utils/cache-directory');
    if (typeof context.hashWithWorkspaceContext !== 'function') return undefined;
    if (typeof dirs.workspaceDataDirectory !== 'string') return undefined;
    return {
      hashWithWorkspaceContext: context.hashWithWorkspaceContext,
      workspaceDataDirectory: dirs.workspaceDataDirectory,
    };
  } catch {
    return undefined;
  }
}

export class PluginCache<T> {
  private readonly helpers = nxHelpers();
  private entries: Record<string, T> | undefined;
  private used = new Set<string>();
  private changed = false;

  constructor(private readonly name: string) {}

  private get path(): string | undefined {
    return this.helpers && join(this.helpers.workspaceDataDirectory, `${this.name}.json`);
  }

  /** The key of a result that depends on these files (globs, relative to the root) and data. */
  async key(workspaceRoot: string, files: string[], data: unknown): Promise<string | undefined> {
    if (!this.helpers) return undefined;
    const filesHash = await this.hash(workspaceRoot, files);
    if (filesHash === undefined) return undefined;
    return createHash('sha256')
      .update(JSON.stringify([files, filesHash, data]))
      .digest('hex');
  }

  /** Nx's hash of these files (globs relative to the root), or undefined without the helpers. */
  async hash(workspaceRoot: string, files: string[]): Promise<string | undefined> {
    if (!this.helpers || files.length === 0) return undefined;
    try {
      return await this.helpers.hashWithWorkspaceContext(workspaceRoot, files);
    } catch {
      return undefined;
    }
  }

  /** Computes and stores the value again (what it depended on changed). */
  async refresh(key: string | undefined, compute: () => T | Promise<T>): Promise<T> {
    if (key !== undefined) delete this.load()[key];
    return this.get(key, compute);
  }

  async get(key: string | undefined, compute: () => T | Promise<T>): Promise<T> {
    if (key === undefined) return compute();
    const entries = this.load();
    this.used.add(key);
    const hit = entries[key];
    if (hit !== undefined) return hit;
    const value = await compute();
    entries[key] = value;
    this.changed = true;
    return value;
  }

  /** Writes the entries used in this run (older ones are dropped), when anything changed. */
  save(): void {
    const path = this.path;
    if (!path || !this.entries || !this.changed) return;
    const kept = Object.fromEntries(
      Object.entries(this.entries).filter(([key]) => this.used.has(key)),
    );
    try {
      mkdirSync(join(path, '..'), { recursive: true });
      const temp = `${path}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(kept));
      renameSync(temp, path);
      this.changed = false;
    } catch {
      // A cache that cannot be written only costs time on the next run.
    }
  }

  private load(): Record<string, T> {
    if (this.entries) return this.entries;
    const path = this.path;
    try {
      const data: unknown = path ? JSON.parse(readFileSync(path, 'utf8')) : {};
      this.entries =
        data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, T>) : {};
    } catch {
      this.entries = {};
    }
    return this.entries;
  }
}
