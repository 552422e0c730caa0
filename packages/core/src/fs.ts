/**
 * The one place that decides how an output path is written.
 *
 * - A regular file, or a path that does not exist yet, is written to a temporary sibling that is
 *   renamed over it at the end: a reader never sees a half-written file and a crash leaves at
 *   most a `.NAME.tmp-*` file. A symbolic link to a file is followed, so the link stays a link.
 * - Anything else that exists (a character or block device such as /dev/null, a FIFO, a socket)
 *   and every path that goes through /dev or /proc (/dev/stdout, /proc/self/fd/N) is opened and
 *   written in place, and never removed, renamed or chmodded. Renaming a temporary file over
 *   /dev/null as root replaces the machine's /dev/null; over a FIFO, the reader never gets the
 *   data.
 */
import { constants, write } from 'node:fs';
import {
  access,
  copyFile,
  type FileHandle,
  mkdir,
  open,
  readlink,
  realpath,
  rename,
  rm,
  stat,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ExitCode, errnoCode, fileError, PonchoError } from './errors.js';

/** A temporary path beside `target` (same folder, so rename stays on one file system). */
export function tempSibling(target: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${uniqueSuffix()}`);
}

/**
 * Eight random hex digits, to keep temporary names of one process apart (with the pid, and
 * hosts apart on shared folders). Not a secret: Math.random is enough, and node:crypto costs
 * ~4 ms to load on the runner's cold path.
 */
export function uniqueSuffix(): string {
  return Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');
}

/** Checks that the folder that will hold `target` exists, with a message naming it. */
export async function assertParentDirectory(target: string, what: string): Promise<void> {
  const parent = dirname(target);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(parent);
  } catch (error) {
    throw new PonchoError(
      'ERR_OUTPUT_DIR',
      `the folder for the ${what} does not exist: ${parent}`,
      {
        hint: `Create it first (mkdir -p ${parent}) or choose another path.`,
        cause: error,
      },
    );
  }
  if (!info.isDirectory()) {
    throw new PonchoError(
      'ERR_OUTPUT_DIR',
      `not a folder: ${parent} (needed for the ${what} ${target})`,
      { hint: 'Choose an output path inside an existing folder.' },
    );
  }
}

/** Why a temporary folder cannot be used, from the error its stat, access or mkdtemp gave. */
export function tempDirProblem(error: unknown): string {
  switch (errnoCode(error)) {
    case 'ENOENT':
      return 'it does not exist';
    case 'ENOTDIR':
      return 'it is not a folder';
    case 'EROFS':
      return 'it is on a read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'it is not writable (permission denied)';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

/**
 * The folder for temporary files ($TMPDIR, else /tmp), checked before it is used, so that a
 * missing, read-only or unwritable TMPDIR is a message naming it with exit `exitCode` (1; the
 * runner's 125), not a bare ENOENT deep inside the work.
 */
export async function usableTempDir(exitCode: number = ExitCode.failure): Promise<string> {
  const dir = tmpdir();
  let problem: string | undefined;
  let cause: unknown;
  try {
    if (!(await stat(dir)).isDirectory()) problem = 'it is not a folder';
    else await access(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    cause = error;
    problem = tempDirProblem(error);
  }
  if (problem === undefined) return dir;
  throw new PonchoError(
    'ERR_TMPDIR',
    `cannot use the temporary folder ${dir}${process.env.TMPDIR ? ' (TMPDIR)' : ''}: ${problem}`,
    {
      hint: 'Set TMPDIR to an existing folder you can write to (or unset it to use /tmp).',
      exitCode,
      cause,
    },
  );
}

/** How an output path is written (see the module comment). */
export type OutputPlan =
  /** Written to a temporary sibling of `path` (the real file, links followed), then renamed. */
  | { kind: 'replace'; path: string }
  /**
   * Opened and written where it is. `regularFile`: a file reached through /dev or /proc.
   * `descriptor`: the path names one of this process's open descriptors (/dev/stdout: 1).
   */
  | { kind: 'in-place'; path: string; regularFile: boolean; descriptor?: number };

/** /dev/stdout, /dev/fd/N, /proc/self/fd/N...: names of open files, never to be replaced. */
const KERNEL_NAMESPACES = /^\/(dev|proc)(\/|$)/;
/** Linux's limit on symbolic links followed in one lookup (ELOOP past it). */
const MAX_LINK_HOPS = 40;

/** The descriptor number that `path` names in this process, e.g. 1 for /dev/stdout. */
function descriptorNamed(path: string): number | undefined {
  const std = /^\/dev\/std(in|out|err)$/.exec(path)?.[1];
  if (std) return { in: 0, out: 1, err: 2 }[std];
  const fd =
    /^\/dev\/fd\/(\d+)$/.exec(path) ?? /^\/proc\/(?:self|thread-self|(\d+))\/fd\/(\d+)$/.exec(path);
  if (!fd) return undefined;
  if (fd.length === 3 && fd[1] !== undefined && Number(fd[1]) !== process.pid) return undefined;
  return Number(fd[fd.length - 1]);
}

/**
 * Decides how `target` is written. Existing targets that are not regular files are written in
 * place (folders too: opening one fails with EISDIR, which names the path). For files and
 * missing paths, each symbolic link of the last component is followed, and any hop through
 * /dev or /proc (also through a linked folder) makes the write in place.
 */
export async function planOutput(target: string): Promise<OutputPlan> {
  const absolute = resolve(target);
  const info = await stat(absolute).catch(() => undefined);
  const regularFile = info?.isFile() ?? false;
  let path = absolute;
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
    const descriptor = descriptorNamed(path);
    if (descriptor !== undefined)
      return { kind: 'in-place', path: absolute, regularFile, descriptor };
    if (info && !regularFile) return { kind: 'in-place', path: absolute, regularFile };
    const folder = await realpath(dirname(path)).catch(() => dirname(path));
    path = join(folder, basename(path));
    if (KERNEL_NAMESPACES.test(path)) {
      return { kind: 'in-place', path: absolute, regularFile, descriptor: descriptorNamed(path) };
    }
    const link = await readlink(path).catch(() => undefined);
    if (link === undefined) return { kind: 'replace', path };
    path = resolve(folder, link);
  }
  // A loop of links: let the rename report it against the path the user gave.
  return { kind: 'replace', path: absolute };
}

/** An output being written: write() or the descriptor `fd` take the bytes; then commit(). */
export interface OutputFile {
  readonly plan: OutputPlan;
  /** The open descriptor (for synchronous writers such as the packer's sink). */
  readonly fd: number;
  /** Writes all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Syncs, closes and (for a replaced file) renames into place. */
  commit(): Promise<void>;
  /** Closes and removes the temporary file, if any. Never throws. */
  abort(): Promise<void>;
}

export interface OutputOptions {
  /** Words for error messages, e.g. "spec file". */
  what?: string;
  /** Mode of a newly written file (default 0644); never applied to a target written in place. */
  mode?: number;
  /** Create missing parent folders instead of failing. */
  mkdirs?: boolean;
}

/**
 * Opens `target` for writing as planOutput decides. Errors are PonchoErrors naming the path.
 * Opening a FIFO waits for its reader, as a shell redirection does.
 */
export async function openOutput(target: string, options: OutputOptions = {}): Promise<OutputFile> {
  const what = options.what ?? 'output file';
  const plan = await planOutput(target);
  if (plan.kind === 'in-place') return openInPlace(plan, what);
  if (options.mkdirs) {
    await mkdir(dirname(plan.path), { recursive: true }).catch((error) => {
      throw fileError(error, dirname(plan.path), `folder for the ${what}`);
    });
  } else await assertParentDirectory(plan.path, what);
  const temp = tempSibling(plan.path);
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx', options.mode ?? 0o644);
  } catch (error) {
    // The temporary file is ours, the folder is what the user can fix: name the folder.
    throw fileError(error, dirname(plan.path), `folder of the ${what}`);
  }
  let closed = false;
  const abort = async () => {
    if (!closed) await handle.close().catch(() => undefined);
    closed = true;
    await rm(temp, { force: true }).catch(() => undefined);
  };
  return {
    plan,
    fd: handle.fd,
    write: (data) =>
      writeAll(handle.fd, data).catch((error) => {
        throw fileError(error, plan.path, what);
      }),
    async commit() {
      try {
        await handle.sync();
        closed = true;
        await handle.close();
        await rename(temp, plan.path);
      } catch (error) {
        await abort();
        throw fileError(error, plan.path, what);
      }
    },
    abort,
  };
}

async function openInPlace(
  plan: Extract<OutputPlan, { kind: 'in-place' }>,
  what: string,
): Promise<OutputFile> {
  // No O_CREAT: if the device or FIFO went away meanwhile, fail instead of making a file. No
  // O_TRUNC: it means nothing to a device or FIFO, and through /dev/stdout it would empty a log
  // that the shell opened for appending; a regular file there is appended to instead.
  const flags = constants.O_WRONLY | (plan.regularFile ? constants.O_APPEND : 0);
  let handle: FileHandle | undefined;
  let fd: number;
  try {
    handle = await open(plan.path, flags);
    fd = handle.fd;
  } catch (error) {
    // A socket cannot be opened by name (ENXIO): Node gives children sockets, not pipes, as
    // stdout. /dev/stdout then means our descriptor 1 itself, written and left open.
    if (errnoCode(error) !== 'ENXIO' || plan.descriptor === undefined) {
      throw fileError(error, plan.path, what);
    }
    fd = plan.descriptor;
  }
  let closed = false;
  return {
    plan,
    fd,
    write: (data) =>
      writeAll(fd, data).catch((error) => {
        throw fileError(error, plan.path, what);
      }),
    async commit() {
      if (closed) return;
      closed = true;
      try {
        await handle?.close();
      } catch (error) {
        throw fileError(error, plan.path, what);
      }
    },
    async abort() {
      if (!closed) await handle?.close().catch(() => undefined);
      closed = true;
    },
  };
}

/**
 * Writes `data` to `target`: through a temporary file and a rename for a file, in place for a
 * device, FIFO or /dev/stdout (see the module comment).
 */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: OutputOptions = {},
): Promise<void> {
  const output = await openOutput(target, options);
  try {
    await output.write(typeof data === 'string' ? Buffer.from(data) : data);
  } catch (error) {
    await output.abort();
    throw error;
  }
  await output.commit();
}

/** Copies the file `from` to `target` as writeFileAtomic writes (a reflink when possible). */
export async function copyToOutput(
  from: string,
  target: string,
  options: OutputOptions = {},
): Promise<void> {
  const what = options.what ?? 'output file';
  const plan = await planOutput(target);
  if (plan.kind === 'replace') {
    await assertParentDirectory(plan.path, what);
    const temp = tempSibling(plan.path);
    try {
      await copyFile(from, temp, constants.COPYFILE_FICLONE);
      await rename(temp, plan.path);
    } catch (error) {
      await rm(temp, { force: true });
      throw fileError(error, plan.path, what);
    }
    return;
  }
  const output = await openInPlace(plan, what);
  let source: FileHandle | undefined;
  try {
    source = await open(from, 'r');
    for await (const chunk of source.createReadStream({ autoClose: false })) {
      await output.write(chunk as Buffer);
    }
  } catch (error) {
    await output.abort();
    throw fileError(error, from, `copy of the ${what}`);
  } finally {
    await source?.close().catch(() => undefined);
  }
  await output.commit();
}

/** Writes all of `data` to `fd` (a write to a pipe or device may take only part of it). */
async function writeAll(fd: number, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    offset += await new Promise<number>((done, fail) =>
      write(fd, data, offset, data.length - offset, null, (error, written) =>
        error ? fail(error) : done(written),
      ),
    );
  }
}
