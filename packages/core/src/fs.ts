/**
 * Atomic file output: write to a temporary sibling, then rename, so a reader never sees a
 * half-written file and a crash leaves at most a `.tmp-*` file that the next run overwrites.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileError, PonchoError } from './errors.js';

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

export interface AtomicWriteOptions {
  /** Words for error messages, e.g. "spec file". */
  what?: string;
  mode?: number;
  /** Create missing parent folders instead of failing. */
  mkdirs?: boolean;
}

export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const what = options.what ?? 'output file';
  if (options.mkdirs) await mkdir(dirname(target), { recursive: true });
  else await assertParentDirectory(target, what);
  const temp = tempSibling(target);
  try {
    await writeFile(temp, data, { mode: options.mode ?? 0o644 });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw fileError(error, target, what);
  }
}
