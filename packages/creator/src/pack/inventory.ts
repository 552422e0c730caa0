/**
 * Finds every file of a prefix that holds the prefix it was built at, and where to pack each
 * one from, the way conda-pack does:
 * - conda-managed files with a prefix placeholder (from conda-meta/*.json `paths_data`): binary
 *   ones are packed from the pristine package-cache copy, which still holds the package's long
 *   placeholder (255 characters for today's packages), so they relocate to any path up to that
 *   length; the copy is checked to be exactly what was installed (patched back, byte for byte).
 *   Text files are packed as installed (text replacement has no length limit).
 * - files conda does not manage (pip installs, data sections, scripts written later) are
 *   scanned for the build prefix: text if they hold no NUL byte, binary otherwise.
 * `.pyc` files are skipped: the prefix in them is only the source path shown in tracebacks, and
 * rewriting it would corrupt their length-prefixed strings.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import type { ManifestFile } from '@poncho/core/manifest';
import { replaceBinaryPrefix } from '@poncho/core/relocate';
import type { TreeEntry } from './walk.js';

/** What conda-meta says about one installed package. */
export interface InstalledPackage {
  name: string;
  version: string;
  build: string;
  channel?: string;
  url?: string;
  sha256?: string;
  noarch?: string;
  /** The extracted package in the package cache (`link.source`), if recorded. */
  source?: string;
  files: string[];
  /**
   * Files linked unchanged from the package (hard links without a placeholder): they cannot
   * hold the build prefix, so they are not scanned. Entry points and pyc files are not here.
   */
  cleanPaths: string[] | undefined;
  prefixPaths: Array<{ path: string; placeholder: string; mode: 'text' | 'binary' }>;
  /** Every path conda-meta's paths_data lists, with what it says of it (for integrity checks). */
  managed: ManagedPath[];
}

/** One entry of a package's paths_data. */
export interface ManagedPath {
  path: string;
  /** hardlink, softlink, directory, pyc_file, unix_python_entry_point... */
  type: string;
  /** The size in the package; undefined when not recorded. */
  size?: number;
  /** The file holds a prefix placeholder: its installed size differs from the package's. */
  placeholder: boolean;
}

export interface Inventory {
  packages: InstalledPackage[];
  /** Sorted by path. */
  manifestFiles: ManifestFile[];
  /** path -> absolute path of the pristine copy to pack instead of the installed file. */
  pristine: Map<string, string>;
  /** Things a user should know (a binary file that can move only to short paths...). */
  warnings: string[];
}

/** Reads conda-meta/*.json. A prefix without conda-meta is not a conda environment. */
export async function readCondaMeta(prefix: string): Promise<InstalledPackage[]> {
  const dir = join(prefix, 'conda-meta');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ENOTDIR') {
      throw new PonchoError(
        'ERR_NOT_A_CONDA_PREFIX',
        `${prefix} is not a conda environment (it has no conda-meta folder)`,
        {
          hint: 'Give a folder made by conda, mamba, micromamba or poncho, or a spec file.',
        },
      );
    }
    throw fileError(error, dir, 'conda-meta folder');
  }
  const packages: InstalledPackage[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new PonchoError('ERR_CONDA_META', `cannot read ${path}: ${(error as Error).message}`, {
        hint: 'The environment is damaged; recreate it.',
        cause: error,
      });
    }
    const pathsData = (record.paths_data as { paths?: unknown[] } | undefined)?.paths ?? [];
    const prefixPaths: InstalledPackage['prefixPaths'] = [];
    const cleanPaths: string[] = [];
    const managed: ManagedPath[] = [];
    for (const entry of pathsData as Array<Record<string, unknown>>) {
      if (typeof entry._path === 'string') {
        managed.push({
          path: entry._path,
          type: typeof entry.path_type === 'string' ? entry.path_type : 'hardlink',
          ...(typeof entry.size_in_bytes === 'number' ? { size: entry.size_in_bytes } : {}),
          placeholder: Boolean(entry.prefix_placeholder),
        });
      }
      if (
        typeof entry._path === 'string' &&
        entry.path_type === 'hardlink' &&
        !entry.prefix_placeholder
      ) {
        cleanPaths.push(entry._path);
      }
      if (
        typeof entry._path === 'string' &&
        typeof entry.prefix_placeholder === 'string' &&
        entry.prefix_placeholder
      ) {
        prefixPaths.push({
          path: entry._path,
          placeholder: entry.prefix_placeholder,
          mode: entry.file_mode === 'binary' ? 'binary' : 'text',
        });
      }
    }
    const link = record.link as { source?: unknown } | undefined;
    const noarch = record.noarch;
    packages.push({
      name: String(record.name ?? name),
      version: String(record.version ?? ''),
      build: String(record.build ?? record.build_string ?? ''),
      channel: typeof record.channel === 'string' ? record.channel : undefined,
      url: typeof record.url === 'string' ? record.url : undefined,
      sha256: typeof record.sha256 === 'string' ? record.sha256 : undefined,
      noarch: typeof noarch === 'string' ? noarch : (noarch as { type?: string } | undefined)?.type,
      source: typeof link?.source === 'string' ? link.source : undefined,
      files: Array.isArray(record.files)
        ? (record.files as unknown[]).filter((f): f is string => typeof f === 'string')
        : [],
      cleanPaths: Array.isArray((record.paths_data as { paths?: unknown } | undefined)?.paths)
        ? cleanPaths
        : undefined,
      prefixPaths,
      managed,
    });
  }
  return packages;
}

/** Paths in the prefix -> path inside the extracted package (noarch: python moves files). */
function packageRelativeCandidates(path: string, pkg: InstalledPackage): string[] {
  if (pkg.noarch === 'python') {
    const site = /^lib\/python[0-9.]+\/site-packages\/(.*)$/.exec(path);
    if (site) return [`site-packages/${site[1]}`, path];
    if (path.startsWith('bin/')) return [`python-scripts/${path.slice(4)}`, path];
  }
  return [path];
}

async function readIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (
      errnoCode(error) === 'ENOENT' ||
      errnoCode(error) === 'ENOTDIR' ||
      errnoCode(error) === 'EISDIR'
    )
      return undefined;
    throw fileError(error, path, 'file');
  }
}

export interface InventoryOptions {
  prefix: string;
  /** The prefix string the files hold (default: `prefix`). */
  buildPrefix?: string;
  /** The listing of the prefix (from walkTree). */
  tree: TreeEntry[];
  /** Where to look for pristine copies when conda-meta records no link.source. */
  pkgsDirs?: string[];
  /** Paths the packer writes itself: not scanned. */
  generated?: Set<string>;
}

export async function takeInventory(options: InventoryOptions): Promise<Inventory> {
  const { prefix, tree } = options;
  const buildPrefix = options.buildPrefix ?? prefix;
  const needle = Buffer.from(buildPrefix);
  const packages = await readCondaMeta(prefix);
  const byPath = new Map(tree.map((e) => [e.path, e]));
  // Files known not to hold the build prefix. Without paths_data (old conda), every listed file
  // counts, as conda-pack does. Scripts in bin/ are scanned anyway: post-link steps and entry
  // point generation write the prefix into them.
  const managed = new Set<string>();
  for (const pkg of packages) {
    const clean = pkg.cleanPaths ?? pkg.files;
    for (const f of clean) if (!f.startsWith('bin/')) managed.add(f);
  }
  const files: ManifestFile[] = [];
  const pristine = new Map<string, string>();
  const warnings: string[] = [];
  const limited: string[] = [];

  for (const pkg of packages) {
    for (const entry of pkg.prefixPaths) {
      managed.add(entry.path);
      const listed = byPath.get(entry.path);
      if (listed?.type !== 'file' || options.generated?.has(entry.path)) continue;
      const installed = await readFile(join(prefix, entry.path));
      if (entry.mode === 'binary') {
        const copy = await findPristine(pkg, entry.path, options.pkgsDirs ?? []);
        if (
          copy &&
          copy.data.length === installed.length &&
          matches(copy.data, entry.placeholder, buildPrefix, installed)
        ) {
          files.push({ path: entry.path, placeholder: entry.placeholder, mode: 'binary' });
          pristine.set(entry.path, copy.path);
          continue;
        }
      }
      if (installed.includes(needle)) {
        files.push({ path: entry.path, placeholder: buildPrefix, mode: entry.mode });
        if (entry.mode === 'binary') limited.push(entry.path);
      }
    }
  }

  // Files nobody recorded: scan them for the build prefix.
  const candidates = tree.filter(
    (e) =>
      e.type === 'file' &&
      !managed.has(e.path) &&
      !e.path.startsWith('conda-meta/') &&
      !e.path.endsWith('.pyc') &&
      !options.generated?.has(e.path),
  );
  const scratch = new ScratchReader();
  for (const entry of candidates) {
    const data = scratch.read(join(prefix, entry.path), entry.size);
    if (!data.includes(needle)) continue;
    const mode = data.includes(0) ? 'binary' : 'text';
    files.push({ path: entry.path, placeholder: buildPrefix, mode });
    if (mode === 'binary') limited.push(entry.path);
  }

  if (limited.length > 0) {
    warnings.push(
      `${limited.length} binary file(s) hold the build prefix with no pristine copy to pack (${limited.slice(0, 3).join(', ')}${limited.length > 3 ? ', ...' : ''}): the environment relocates only to paths of at most ${Buffer.byteLength(buildPrefix)} bytes`,
    );
  }
  files.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return { packages, manifestFiles: files, pristine, warnings };
}

function matches(
  pristine: Buffer,
  placeholder: string,
  buildPrefix: string,
  installed: Buffer,
): boolean {
  try {
    return replaceBinaryPrefix(pristine, placeholder, buildPrefix).equals(installed);
  } catch {
    return false; // a build prefix longer than the placeholder: cannot be the pristine copy
  }
}

async function findPristine(
  pkg: InstalledPackage,
  path: string,
  pkgsDirs: string[],
): Promise<{ path: string; data: Buffer } | undefined> {
  const roots: string[] = [];
  if (pkg.source) roots.push(pkg.source);
  const stem = pkg.url
    ? (pkg.url.split('/').pop() ?? '').replace(/\.(conda|tar\.bz2)$/, '')
    : `${pkg.name}-${pkg.version}-${pkg.build}`;
  for (const dir of pkgsDirs) roots.push(join(dir, stem));
  for (const root of roots) {
    for (const rel of packageRelativeCandidates(path, pkg)) {
      const abs = join(root, rel);
      const data = await readIfExists(abs);
      if (data) return { path: abs, data };
    }
  }
  return undefined;
}

/**
 * Reads whole files into one reused buffer: the scan reads nearly every file of the prefix,
 * and a fresh buffer per file mostly feeds the garbage collector. The result is valid until
 * the next read.
 */
class ScratchReader {
  private buffer = Buffer.allocUnsafe(1 << 20);

  /** The content of `path` (`sizeHint`: its size when listed; the file may have changed). */
  read(path: string, sizeHint: number): Buffer {
    if (sizeHint + 1 > this.buffer.length) this.buffer = Buffer.allocUnsafe(sizeHint + 1);
    const fd = openSync(path, 'r');
    try {
      let filled = 0;
      for (;;) {
        if (filled === this.buffer.length) {
          const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
          this.buffer.copy(bigger, 0, 0, filled);
          this.buffer = bigger;
        }
        const n = readSync(fd, this.buffer, filled, this.buffer.length - filled, null);
        if (n === 0) break;
        filled += n;
      }
      return this.buffer.subarray(0, filled);
    } finally {
      closeSync(fd);
    }
  }
}
