/**
 * Unpacks a conda package with independent tools (Python's zipfile, GNU tar with bzip2/zstd),
 * so the tests check the archives against readers other than the ones that wrote them.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findDebianPython } from './debian-python.js';

const run = promisify(execFile);

/** Extracts `<archive>` (.conda or .tar.bz2) into `dest`: `info/` plus the payload. */
export async function extractPackage(archive: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  if (archive.endsWith('.tar.bz2')) {
    await run('tar', ['-xjf', archive, '-C', dest]);
    return;
  }
  if (!archive.endsWith('.conda')) throw new Error(`not a conda package: ${archive}`);
  const outer = await mkdtemp(join(tmpdir(), 'poncho-conda-outer-'));
  try {
    const { root } = await findDebianPython();
    await run(join(root, 'usr/bin/python3.11'), [
      '-I',
      '-c',
      'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
      archive,
      outer,
    ]);
    const members = await readdir(outer);
    const inner = members.filter((name) => /^(info|pkg)-.*\.tar\.zst$/.test(name));
    if (!members.includes('metadata.json') || inner.length !== 2) {
      throw new Error(`unexpected .conda members in ${archive}: ${members.join(', ')}`);
    }
    for (const name of inner) await run('tar', ['--zstd', '-xf', join(outer, name), '-C', dest]);
  } finally {
    await rm(outer, { recursive: true, force: true });
  }
}
