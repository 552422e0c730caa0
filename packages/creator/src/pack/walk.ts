/** Lists a folder tree (without following symlinks), the way the packer needs it. */
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileError } from '@poncho/core/errors';

export interface TreeEntry {
  /** '/'-separated path relative to the root. */
  path: string;
  type: 'file' | 'directory' | 'symlink';
  mode: number;
  size: number;
  /** Symlinks: the target as stored. */
  linkTarget?: string;
  /** Modification time in whole seconds (files), used to check .pyc headers. */
  mtimeSec?: number;
}

/** Every entry under `root` (not `root` itself), in no particular order. Sockets etc. are skipped. */
export async function walkTree(
  root: string,
  skip: (path: string) => boolean = () => false,
): Promise<TreeEntry[]> {
  // Synchronous on purpose: one lstat per file through the thread pool is slower than doing
  // them in a row, and nothing else needs this thread meanwhile.
  const out: TreeEntry[] = [];
  const visit = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (error) {
      throw fileError(error, dir, 'environment folder');
    }
    for (const name of names) {
      const path = rel ? `${rel}/${name}` : name;
      if (skip(path)) continue;
      const abs = join(dir, name);
      let info: ReturnType<typeof lstatSync>;
      try {
        info = lstatSync(abs);
      } catch (error) {
        throw fileError(error, abs, 'environment file');
      }
      if (info.isDirectory()) {
        out.push({ path, type: 'directory', mode: info.mode, size: 0 });
        visit(abs, path);
      } else if (info.isSymbolicLink()) {
        out.push({
          path,
          type: 'symlink',
          mode: info.mode,
          size: 0,
          linkTarget: readlinkSync(abs),
        });
      } else if (info.isFile()) {
        out.push({
          path,
          type: 'file',
          mode: info.mode,
          size: info.size,
          mtimeSec: Math.floor(info.mtimeMs / 1000),
        });
      }
    }
  };
  visit(root, '');
  return out;
}

/** Byte-wise comparison of '/'-separated paths (what `LC_ALL=C sort` gives), locale-free. */
export function comparePaths(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}
