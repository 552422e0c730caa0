/**
 * Turns SRC arguments into the list of files to analyze: a file is itself, `-` is standard
 * input, a directory is every `*.py` below it (in a stable order), skipping version-control
 * folders, virtual environments, `node_modules` and `__pycache__`.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileError, PonchoError, UsageError } from '@poncho/core/errors';

export const STDIN = '-';

export interface SourceFile {
  /** Absolute path, or `-` for standard input. */
  path: string;
  /** The name used in messages and the report (relative to the working folder when inside it). */
  display: string;
}

export interface ExpandedSources {
  files: SourceFile[];
  /** Folders a local module may live in: the folders of the sources and directory arguments. */
  roots: string[];
}

/** Folder names never searched for sources. */
const SKIPPED_FOLDERS = new Set([
  '.git',
  '.hg',
  '.svn',
  '.tox',
  '.nox',
  '.venv',
  '.mypy_cache',
  '.pytest_cache',
  '.ruff_cache',
  '.eggs',
  '__pycache__',
  'node_modules',
  'site-packages',
]);

/** How a path is shown: relative to `cwd` when below it, absolute otherwise. */
export function displayPath(path: string, cwd: string): string {
  if (path === STDIN) return '<stdin>';
  const rel = relative(cwd, path);
  return rel && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel) ? rel : path;
}

export async function expandSources(
  args: readonly string[],
  cwd: string,
): Promise<ExpandedSources> {
  if (args.filter((a) => a === STDIN).length > 1) {
    throw new UsageError(
      'standard input (-) can be given only once as a source',
      'Name - once; give the other sources as files or folders.',
    );
  }
  const files: SourceFile[] = [];
  const roots: string[] = [];
  const seen = new Set<string>();
  const add = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    files.push({ path, display: displayPath(path, cwd) });
  };
  for (const arg of args) {
    if (arg === STDIN) {
      add(STDIN);
      roots.push(cwd);
      continue;
    }
    const path = resolve(cwd, arg);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      throw fileError(error, arg, 'source file');
    }
    if (info.isDirectory()) {
      const found = await pythonFilesBelow(path);
      if (found.length === 0) {
        throw new PonchoError('ERR_NO_PYTHON_FILES', `no Python files (*.py) found under ${arg}`, {
          hint: 'Name the script itself, or a folder that contains .py files (virtual environments, .git, node_modules and __pycache__ are skipped).',
        });
      }
      roots.push(path);
      for (const file of found) add(file);
    } else {
      roots.push(resolve(path, '..'));
      add(path);
    }
  }
  return { files, roots: [...new Set(roots)] };
}

async function pythonFilesBelow(folder: string): Promise<string[]> {
  const result: string[] = [];
  const walk = async (dir: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw fileError(error, dir, 'source folder');
    }
    const names = new Set(entries.map((e) => e.name));
    // A virtual environment or conda environment: its files are installed packages.
    if (dir !== folder && (names.has('pyvenv.cfg') || names.has('conda-meta'))) return;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // Symlinked folders are not followed (they can loop); symlinked files are.
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) await walk(path);
      } else if (entry.name.endsWith('.py') && (entry.isFile() || entry.isSymbolicLink())) {
        result.push(path);
      }
    }
  };
  await walk(folder);
  return result;
}

/** Reads a source file (or standard input) as bytes. */
export async function readSource(
  file: SourceFile,
  stdin: () => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (file.path === STDIN) return stdin();
  try {
    return await readFile(file.path);
  } catch (error) {
    throw fileError(error, file.display, 'source file');
  }
}

/** All of a stream (standard input) as bytes. */
export async function readStream(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
