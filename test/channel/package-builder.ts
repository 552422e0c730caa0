/**
 * Turns a payload folder into conda packages (`.tar.bz2` and/or `.conda`) with the `info/`
 * metadata conda-build writes: index.json, paths.json (or the old files + has_prefix), link.json
 * for noarch packages, about.json. Placeholders are found by scanning the payload, as
 * conda-build does: a file containing one is recorded with `text` or `binary` mode (binary when
 * it holds a NUL byte).
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import {
  bzip2File,
  type ExtraTarEntry,
  writeStoredZip,
  writeTar,
  zstdFile,
} from './archive-writer.js';

export type ArchiveFormat = 'conda' | 'tar.bz2';
export type Subdir = 'noarch' | 'linux-64';

/** The default placeholder of old packages: a bare path in `info/has_prefix` means this one. */
export const LEGACY_PLACEHOLDER = '/opt/anaconda1anaconda2anaconda3';

/** A conda-build style build prefix of exactly 255 characters for package `name`. */
export function buildPrefixPlaceholder(name: string): string {
  const base = `/opt/conda-bld/${name}_1700000000000/_h_env`;
  return (base + '_placehold'.repeat(30)).slice(0, 255);
}

/** Fixed so that rebuilding gives byte-identical packages (stable sha256 between runs). */
const TIMESTAMP_MS = 1_700_000_000_000;

export interface PackageDefinition {
  name: string;
  version: string;
  build: string;
  buildNumber: number;
  subdir: Subdir;
  noarch?: 'python' | 'generic';
  depends?: string[];
  constrains?: string[];
  license?: string;
  summary?: string;
  formats: ArchiveFormat[];
  /** noarch: python console scripts, `cmd = module:function` (written to info/link.json). */
  entryPoints?: string[];
  /** Prefix placeholders to look for in the payload. */
  placeholders?: string[];
  /** Old-style metadata: `info/files` + `info/has_prefix`, no `info/paths.json`. */
  legacyMetadata?: boolean;
  /** Payload paths that must be copied, never hard-linked (`info/no_link`, paths.json no_link). */
  noLink?: string[];
  /** Writes the payload (paths relative to the install prefix) into `root`. */
  payload(root: string): Promise<void>;
  /** Hostile packages: raw tar entries added to the payload tar, not listed in paths.json. */
  extraTarEntries?: ExtraTarEntry[];
  /** Hostile packages: edits the paths.json entries before they are written. */
  mutatePaths?: (paths: PathEntry[]) => void;
}

export interface RepodataRecord {
  name: string;
  version: string;
  build: string;
  build_number: number;
  depends: string[];
  constrains?: string[];
  license?: string;
  noarch?: 'python' | 'generic';
  subdir: Subdir;
  timestamp: number;
  arch?: string | null;
  platform?: string | null;
  md5: string;
  sha256: string;
  size: number;
}

export interface BuiltArchive {
  subdir: Subdir;
  fileName: string;
  format: ArchiveFormat;
  record: RepodataRecord;
}

export interface PathEntry {
  _path: string;
  path_type: 'hardlink' | 'softlink' | 'directory';
  sha256?: string;
  size_in_bytes?: number;
  prefix_placeholder?: string;
  file_mode?: 'text' | 'binary';
  no_link?: boolean;
}

export function distName(def: Pick<PackageDefinition, 'name' | 'version' | 'build'>): string {
  return `${def.name}-${def.version}-${def.build}`;
}

/** Prefix-relative posix paths of every file, symlink and empty folder under `root`. */
async function listPayload(
  root: string,
): Promise<Array<{ path: string; kind: 'file' | 'link' | 'dir' }>> {
  const found: Array<{ path: string; kind: 'file' | 'link' | 'dir' }> = [];
  async function walk(dir: string): Promise<void> {
    const names = await readdir(dir);
    if (names.length === 0 && dir !== root) {
      found.push({ path: relative(root, dir).split(sep).join('/'), kind: 'dir' });
    }
    for (const name of names) {
      const full = join(dir, name);
      const info = await lstat(full);
      const rel = relative(root, full).split(sep).join('/');
      if (rel === 'info') continue;
      if (info.isSymbolicLink()) found.push({ path: rel, kind: 'link' });
      else if (info.isDirectory()) await walk(full);
      else if (info.isFile()) found.push({ path: rel, kind: 'file' });
      else throw new Error(`unsupported file type in package payload: ${full}`);
    }
  }
  await walk(root);
  // Byte order, like conda-build, so that listings are stable across locales.
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function describePayload(root: string, def: PackageDefinition): Promise<PathEntry[]> {
  const entries: PathEntry[] = [];
  const noLink = new Set(def.noLink ?? []);
  for (const item of await listPayload(root)) {
    if (item.kind === 'dir') {
      entries.push({ _path: item.path, path_type: 'directory' });
      continue;
    }
    if (item.kind === 'link') {
      // conda-build records links without content hashes; the target is recreated verbatim.
      entries.push({ _path: item.path, path_type: 'softlink' });
      continue;
    }
    const data = await readFile(join(root, item.path));
    const entry: PathEntry = {
      _path: item.path,
      path_type: 'hardlink',
      sha256: sha256Hex(data),
      size_in_bytes: data.length,
    };
    const placeholder = (def.placeholders ?? []).find((p) => data.includes(p));
    if (placeholder) {
      entry.prefix_placeholder = placeholder;
      entry.file_mode = data.includes(0) ? 'binary' : 'text';
    }
    if (noLink.has(item.path)) entry.no_link = true;
    entries.push(entry);
  }
  for (const path of noLink) {
    if (!entries.some((e) => e._path === path)) {
      throw new Error(`${distName(def)}: noLink names a missing payload file: ${path}`);
    }
  }
  return entries;
}

function indexJson(def: PackageDefinition): Omit<RepodataRecord, 'md5' | 'sha256' | 'size'> {
  // Key order follows conda-build's index.json.
  return {
    name: def.name,
    version: def.version,
    build: def.build,
    build_number: def.buildNumber,
    depends: def.depends ?? [],
    ...(def.constrains?.length ? { constrains: def.constrains } : {}),
    license: def.license ?? 'MIT',
    ...(def.noarch ? { noarch: def.noarch } : {}),
    subdir: def.subdir,
    timestamp: TIMESTAMP_MS,
    arch: def.subdir === 'linux-64' ? 'x86_64' : null,
    platform: def.subdir === 'linux-64' ? 'linux' : null,
  };
}

/** Writes `info/` into the staging folder; returns the info file paths (prefix-relative). */
async function writeInfo(
  stage: string,
  def: PackageDefinition,
  paths: PathEntry[],
): Promise<string[]> {
  const info = join(stage, 'info');
  await mkdir(info, { recursive: true });
  const files: Record<string, string> = {};
  files['index.json'] = `${JSON.stringify(indexJson(def), null, 2)}\n`;
  files.files = `${paths.map((p) => p._path).join('\n')}\n`;
  if (!def.legacyMetadata) {
    files['paths.json'] = `${JSON.stringify({ paths: paths, paths_version: 1 }, null, 2)}\n`;
  }
  const prefixed = paths.filter((p) => p.prefix_placeholder);
  if (prefixed.length > 0) {
    // Old packages wrote a bare path for the default placeholder in text mode.
    files.has_prefix = `${prefixed
      .map((p) =>
        p.prefix_placeholder === LEGACY_PLACEHOLDER && p.file_mode === 'text'
          ? p._path
          : `${p.prefix_placeholder} ${p.file_mode} ${p._path}`,
      )
      .join('\n')}\n`;
  }
  if (def.noLink?.length) files.no_link = `${def.noLink.join('\n')}\n`;
  if (def.noarch) {
    const noarch: Record<string, unknown> = { type: def.noarch };
    if (def.noarch === 'python') noarch.entry_points = def.entryPoints ?? [];
    files['link.json'] = `${JSON.stringify({ noarch, package_metadata_version: 1 }, null, 2)}\n`;
  } else if (def.entryPoints?.length) {
    throw new Error(`${distName(def)}: entry points need noarch: python`);
  }
  files['about.json'] = `${JSON.stringify(
    { license: def.license ?? 'MIT', summary: def.summary ?? `${def.name} (poncho test channel)` },
    null,
    2,
  )}\n`;
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(info, name), content);
  }
  return Object.keys(files)
    .sort()
    .map((name) => posix.join('info', name));
}

async function hashFile(path: string): Promise<{ md5: string; sha256: string; size: number }> {
  const data = await readFile(path);
  return {
    md5: createHash('md5').update(data).digest('hex'),
    sha256: sha256Hex(data),
    size: data.length,
  };
}

/**
 * Builds `def` in every format it asks for into `<channelDir>/<subdir>/`, staging in `workDir`.
 * Returns one entry per archive, with the repodata record (sha256, md5, size of the archive).
 */
export async function buildPackage(
  def: PackageDefinition,
  channelDir: string,
  workDir: string,
): Promise<BuiltArchive[]> {
  const dist = distName(def);
  const stage = join(workDir, dist);
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  await def.payload(stage);
  const paths = await describePayload(stage, def);
  def.mutatePaths?.(paths);
  const infoMembers = await writeInfo(stage, def, paths);
  const payloadMembers = paths.map((p) => p._path);
  const extra = def.extraTarEntries ?? [];

  const subdirDir = join(channelDir, def.subdir);
  await mkdir(subdirDir, { recursive: true });
  const built: BuiltArchive[] = [];
  for (const format of def.formats) {
    const fileName = `${dist}.${format}`;
    const out = join(subdirDir, fileName);
    if (format === 'tar.bz2') {
      const tar = join(workDir, `${dist}.tar`);
      await writeTar(tar, stage, [...infoMembers, ...payloadMembers], extra);
      await bzip2File(tar, out);
    } else {
      const metadata = join(workDir, `${dist}.metadata.json`);
      await writeFile(metadata, JSON.stringify({ conda_pkg_format_version: 2 }));
      const infoTar = join(workDir, `info-${dist}.tar`);
      const pkgTar = join(workDir, `pkg-${dist}.tar`);
      await writeTar(infoTar, stage, infoMembers);
      await writeTar(pkgTar, stage, payloadMembers, extra);
      await zstdFile(infoTar, `${infoTar}.zst`);
      await zstdFile(pkgTar, `${pkgTar}.zst`);
      await writeStoredZip(out, [
        { name: 'metadata.json', source: metadata },
        { name: `pkg-${dist}.tar.zst`, source: `${pkgTar}.zst` },
        { name: `info-${dist}.tar.zst`, source: `${infoTar}.zst` },
      ]);
      await rm(metadata);
      await rm(`${infoTar}.zst`);
      await rm(`${pkgTar}.zst`);
    }
    built.push({
      subdir: def.subdir,
      fileName,
      format,
      record: { ...indexJson(def), ...(await hashFile(out)) },
    });
  }
  await rm(stage, { recursive: true, force: true });
  return built;
}
