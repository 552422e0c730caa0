/**
 * Tar, zip and compression for the test channel: archive.py (Python's tarfile/zipfile, run by
 * Debian's python3.11) writes the containers; the `bzip2` and `zstd` CLIs compress them.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findDebianPython } from './debian-python.js';

const ARCHIVE_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'archive.py');

/** A raw tar entry that need not exist on disk (hostile archives use these). */
export interface ExtraTarEntry {
  name: string;
  type: 'file' | 'symlink' | 'hardlink' | 'dir';
  data?: string;
  linkname?: string;
  mode?: number;
}

function runProcess(command: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
    if (input !== undefined) {
      // A child that dies early closes its stdin; its exit status reports the failure.
      child.stdin?.on('error', () => {});
      child.stdin?.end(input);
    }
  });
}

async function runArchiveScript(request: object): Promise<void> {
  const { root } = await findDebianPython();
  const python = join(root, 'usr/bin/python3.11');
  await runProcess(python, ['-I', ARCHIVE_SCRIPT], JSON.stringify(request));
}

/** An uncompressed tar of `members` (paths relative to `root`, in this order) plus `extra`. */
export async function writeTar(
  out: string,
  root: string,
  members: string[],
  extra: ExtraTarEntry[] = [],
): Promise<void> {
  await runArchiveScript({ op: 'tar', out, root, members, extra });
}

/** An uncompressed (stored) zip: the outer container of a `.conda` file. */
export async function writeStoredZip(
  out: string,
  entries: Array<{ name: string; source: string }>,
): Promise<void> {
  await runArchiveScript({ op: 'zip', out, entries });
}

/** Compresses `tarPath` to `out` with bzip2 and removes the input. */
export async function bzip2File(tarPath: string, out: string): Promise<void> {
  await runProcess('sh', ['-c', 'bzip2 -9 -c "$1" > "$2"', 'sh', tarPath, out]);
  await rm(tarPath);
}

/** Compresses `tarPath` to `out` with zstd and removes the input. */
export async function zstdFile(tarPath: string, out: string): Promise<void> {
  // Level 10 keeps cold builds quick; conda's own level (19-22) only changes the size.
  await runProcess('zstd', ['-q', '-f', '-10', '-T0', tarPath, '-o', out]);
  await rm(tarPath);
}
