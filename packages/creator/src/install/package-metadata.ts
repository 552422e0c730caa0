/**
 * Reading an extracted package's metadata: `info/paths.json` (or, for old packages, its
 * reconstruction from `info/files`, `info/has_prefix` and `info/no_link`), `info/link.json` and
 * `info/index.json`.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, PonchoError } from '@poncho/core/errors';

/** The placeholder a bare path in `info/has_prefix` means. */
export const LEGACY_PLACEHOLDER = '/opt/anaconda1anaconda2anaconda3';

export interface PathEntry {
  _path: string;
  path_type: 'hardlink' | 'softlink' | 'directory';
  sha256?: string;
  size_in_bytes?: number;
  prefix_placeholder?: string;
  file_mode?: 'text' | 'binary';
  no_link?: boolean;
}

export interface NoarchInfo {
  type: 'python' | 'generic';
  entryPoints: string[];
}

export interface PackageMetadata {
  paths: PathEntry[];
  noarch?: NoarchInfo;
  index: Record<string, unknown>;
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return null;
    throw error;
  }
}

function broken(dir: string, what: string, cause?: unknown): PonchoError {
  return new PonchoError('ERR_CORRUPT_ARCHIVE', `package ${dir}: ${what}`, {
    hint: 'The package is broken; report it to the channel owner.',
    cause,
  });
}

function parseJson(text: string, dir: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw broken(dir, `invalid ${file}: ${(error as Error).message}`, error);
  }
}

function lines(text: string | null): string[] {
  return (text ?? '')
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '');
}

/** A has_prefix line: `<placeholder> <text|binary> <path>` (path maybe quoted) or a bare path. */
function parseHasPrefixLine(line: string): {
  placeholder: string;
  mode: 'text' | 'binary';
  path: string;
} {
  const match = /^(\S+) (text|binary) (.+)$/.exec(line);
  if (!match) return { placeholder: LEGACY_PLACEHOLDER, mode: 'text', path: unquote(line) };
  return {
    placeholder: unquote(match[1] ?? ''),
    mode: match[2] as 'text' | 'binary',
    path: unquote(match[3] ?? ''),
  };
}

function unquote(text: string): string {
  const t = text.trim();
  return t.length >= 2 && (t[0] === '"' || t[0] === "'") && t.at(-1) === t[0] ? t.slice(1, -1) : t;
}

async function legacyPaths(dir: string): Promise<PathEntry[]> {
  const files = lines(await readOptional(join(dir, 'info', 'files')));
  const prefixes = new Map(
    lines(await readOptional(join(dir, 'info', 'has_prefix'))).map((l) => {
      const parsed = parseHasPrefixLine(l);
      return [parsed.path, parsed] as const;
    }),
  );
  const noLink = new Set(lines(await readOptional(join(dir, 'info', 'no_link'))));
  const entries: PathEntry[] = [];
  for (const path of files) {
    const info = await lstat(join(dir, path)).catch(() => null);
    if (!info) throw broken(dir, `info/files lists ${path}, which the archive does not contain`);
    const entry: PathEntry = {
      _path: path,
      path_type: info.isSymbolicLink() ? 'softlink' : info.isDirectory() ? 'directory' : 'hardlink',
    };
    const prefix = prefixes.get(path);
    if (prefix) {
      entry.prefix_placeholder = prefix.placeholder;
      entry.file_mode = prefix.mode;
    }
    if (noLink.has(path)) entry.no_link = true;
    entries.push(entry);
  }
  return entries;
}

export async function readPackageMetadata(dir: string): Promise<PackageMetadata> {
  const pathsText = await readOptional(join(dir, 'info', 'paths.json'));
  let paths: PathEntry[];
  if (pathsText !== null) {
    const doc = parseJson(pathsText, dir, 'info/paths.json') as { paths?: unknown };
    if (!Array.isArray(doc.paths)) throw broken(dir, 'info/paths.json has no "paths" list');
    paths = doc.paths as PathEntry[];
    for (const p of paths) {
      if (!p || typeof p._path !== 'string')
        throw broken(dir, 'info/paths.json has an entry without "_path"');
      if (p.path_type !== 'hardlink' && p.path_type !== 'softlink' && p.path_type !== 'directory') {
        throw broken(
          dir,
          `info/paths.json: unknown path_type "${String(p.path_type)}" for ${p._path}`,
        );
      }
    }
  } else {
    paths = await legacyPaths(dir);
  }
  const indexText = await readOptional(join(dir, 'info', 'index.json'));
  const index =
    indexText === null
      ? {}
      : (parseJson(indexText, dir, 'info/index.json') as Record<string, unknown>);
  const linkText = await readOptional(join(dir, 'info', 'link.json'));
  let noarch: NoarchInfo | undefined;
  const link =
    linkText === null
      ? undefined
      : (parseJson(linkText, dir, 'info/link.json') as {
          noarch?: { type?: string; entry_points?: string[] };
        });
  const noarchType =
    link?.noarch?.type ?? (typeof index.noarch === 'string' ? index.noarch : undefined);
  if (noarchType === 'python' || noarchType === 'generic') {
    noarch = {
      type: noarchType,
      entryPoints: noarchType === 'python' ? (link?.noarch?.entry_points ?? []) : [],
    };
  }
  return { paths, index, ...(noarch ? { noarch } : {}) };
}
