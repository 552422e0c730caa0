/**
 * Turns SRC arguments into the list of files to analyze: a file is itself, `-` is standard
 * input, a directory is every `*.py` and `*.ipynb` below it, and every extension-less script
 * whose first line is a Python shebang (in a stable order), skipping version-control folders,
 * virtual environments, `node_modules` and `__pycache__`. A folder that cannot be listed below
 * a SRC folder is a warning (an error with --strict), not the end of the run.
 */
import { open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileError, PonchoError, UsageError } from '@poncho/core/errors';
import { isNotebook, notebookToPython } from './notebook.js';
import type { RunInputs } from './run-inputs.js';

export const STDIN = '-';

export interface SourceFile {
  /** Absolute path, or `-` for standard input. */
  path: string;
  /** The name used in messages and the report (relative to the working folder when inside it). */
  display: string;
  /** Named as a SRC itself (not found in a folder nor followed from an import). */
  named?: boolean;
  /** A test file: below a `tests`/`test` folder of a SRC folder, `test_*`, `*_test`, conftest. */
  test?: boolean;
}

export interface ExpandOptions {
  /** Problems with files found in folders are errors instead of warnings. */
  strict?: boolean;
  warn?: (message: string) => void;
  /** Records the folders listed and files looked into (for the whole-run cache). */
  inputs?: RunInputs;
}

const TEST_FILE = /^(?:test_.*|.*_test)\.(?:py|ipynb)$|^conftest\.py$/;

/**
 * Whether a file is a test file, from its path below the folder that was scanned (`relative`
 * uses `/` or the platform separator): pytest's file names, or a `tests`/`test` folder.
 */
export function isTestFile(relativePath: string): boolean {
  const parts = relativePath.split(/[\\/]/);
  const name = parts.pop() ?? '';
  return TEST_FILE.test(name) || parts.some((part) => part === 'tests' || part === 'test');
}

/** A Python shebang line: `#!/usr/bin/python3`, `#!/usr/bin/env python`, `env -S python3 -u`. */
const PYTHON_SHEBANG = /^#![^\n]*?[/\s]python[0-9.]*w?(?:\s|$)/;

export interface ExpandedSources {
  files: SourceFile[];
  /** Folders a local module may live in: the folders of the sources and directory arguments. */
  roots: string[];
}

/** Folder names never searched for sources. */
const SKIPPED_FOLDERS: ReadonlySet<string> = new Set([
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
  options: ExpandOptions = {},
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
  const add = (path: string, named: boolean, test: boolean) => {
    if (seen.has(path)) return;
    seen.add(path);
    const file: SourceFile = { path, display: displayPath(path, cwd) };
    if (named) file.named = true;
    if (test) file.test = true;
    files.push(file);
  };
  for (const arg of args) {
    if (arg === STDIN) {
      add(STDIN, true, false);
      roots.push(cwd);
      continue;
    }
    const path = resolve(cwd, arg);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      throw await sourceError(error, path, arg);
    }
    options.inputs?.path(path, info);
    if (info.isDirectory()) {
      const found = await pythonFilesBelow(path, cwd, options);
      if (found.length === 0) {
        throw new PonchoError(
          'ERR_NO_PYTHON_FILES',
          `no Python files (*.py, *.ipynb, scripts with a python shebang) found under ${arg}`,
          {
            hint: 'Name the script itself, or a folder that contains .py files (virtual environments, .git, node_modules and __pycache__ are skipped).',
          },
        );
      }
      roots.push(path);
      for (const file of found) add(file, false, isTestFile(relative(path, file)));
    } else {
      roots.push(resolve(path, '..'));
      add(path, true, isTestFile(basename(path)));
    }
  }
  return { files, roots: [...new Set(roots)] };
}

/**
 * Every source below `folder` the analyzer reads when given the folder (sorted): *.py,
 * notebooks and extension-less Python scripts, outside skipped folders, environments and the
 * folders `options.skip` names (absolute paths). Paths in messages are shown relative to `cwd`.
 */
export async function pythonFilesBelow(
  folder: string,
  cwd: string,
  options: ExpandOptions & { skip?: (path: string) => boolean },
): Promise<string[]> {
  const result: string[] = [];
  const walk = async (dir: string) => {
    let entries: import('node:fs').Dirent[];
    // Its stat stands for its listing: taken first, so a change made meanwhile shows later.
    options.inputs?.path(dir);
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      // The folder named as SRC must be readable; one unreadable folder below it is reported.
      if (dir === folder || options.strict)
        throw fileError(error, displayPath(dir, cwd), 'source folder');
      options.inputs?.unverifiable();
      options.warn?.(
        `${displayPath(dir, cwd)}: skipped: ${fileError(error, displayPath(dir, cwd), 'source folder').message}`,
      );
      return;
    }
    const names = new Set(entries.map((e) => e.name));
    // A virtual environment or conda environment: its files are installed packages.
    if (dir !== folder && (names.has('pyvenv.cfg') || names.has('conda-meta'))) return;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // Symlinked folders are not followed (they can loop); symlinked files are (a dangling
      // link is reported when it is read).
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name) && !options.skip?.(path)) await walk(path);
      } else if (!(entry.isFile() || entry.isSymbolicLink())) {
        // Sockets, FIFOs, devices: never sources.
      } else if (entry.name.endsWith('.py') || isNotebook(entry.name)) {
        result.push(path);
      } else if (!entry.name.includes('.') && entry.isFile()) {
        options.inputs?.path(path);
        if (await hasPythonShebang(path)) result.push(path);
      }
    }
  };
  await walk(folder);
  return result;
}

/** Whether a file starts with a Python shebang line (unreadable files: no). */
async function hasPythonShebang(path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(path, 'r');
    const head = Buffer.alloc(256);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return PYTHON_SHEBANG.test(head.subarray(0, bytesRead).toString('latin1'));
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

/** Why a source cannot be read; a link to nothing says so (a plain "not found" puzzles). */
async function sourceError(error: unknown, path: string, shown: string): Promise<PonchoError> {
  const target =
    (error as NodeJS.ErrnoException).code === 'ENOENT'
      ? await readlink(path).catch(() => undefined)
      : undefined;
  if (target === undefined) return fileError(error, shown, 'source file');
  return new PonchoError('ERR_DANGLING_LINK', `dangling link: ${shown} -> ${target}`, {
    hint: 'Point the link at an existing file, or remove it.',
  });
}

/** Reads a source file (or standard input) as bytes. */
export async function readSource(
  file: SourceFile,
  stdin: () => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (file.path === STDIN) return stdin();
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file.path);
  } catch (error) {
    throw await sourceError(error, file.path, file.display);
  }
  // A notebook is scanned as the Python of its code cells (and cached as such).
  return isNotebook(file.path) ? Buffer.from(notebookToPython(bytes, file.display)) : bytes;
}

/** All of a stream (standard input) as bytes. */
export async function readStream(stream: NodeJS.ReadableStream): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
