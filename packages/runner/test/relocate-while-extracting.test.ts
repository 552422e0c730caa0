/**
 * Relocation while extracting: the files a manifest lists are rewritten in memory when the
 * manifest comes first (as poncho_package_create writes it), and on disk afterwards otherwise;
 * the content is the same either way, errors are the same, and the one visible difference is
 * that files rewritten while extracting keep their archived mtime.
 */
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import { createLogger } from '@poncho/core/log';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unpackInto } from '../src/unpack.js';

const PLACEHOLDER = `/opt/build/${'_placehold'.repeat(10)}`;
const ARCHIVED = new Date('2024-01-02T03:04:05Z');
const log = createLogger({ prefix: 'test', level: 'warn' });

let work: string;
let counter = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-relocate-while-extracting-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

interface Listed {
  path: string;
  mode: 'text' | 'binary';
}

/**
 * A .tar.gz holding `files` (path -> content) and a manifest listing `listed`, in the order of
 * `order` (paths; '.poncho/manifest.json' among them), every file with the mtime ARCHIVED.
 */
async function tarball(
  files: Record<string, string | Buffer>,
  listed: Listed[],
  order: string[],
  extra: (root: string) => Promise<void> = async () => {},
): Promise<string> {
  const root = join(work, `src-${++counter}`);
  const manifest = {
    formatVersion: 1,
    platform: 'linux-64',
    buildPrefix: PLACEHOLDER,
    files: listed.map((file) => ({ ...file, placeholder: PLACEHOLDER })),
  };
  const all = { ...files, '.poncho/manifest.json': JSON.stringify(manifest) };
  for (const [path, content] of Object.entries(all)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
    await utimes(join(root, path), ARCHIVED, ARCHIVED);
  }
  await extra(root);
  const file = join(work, `env-${counter}.tar.gz`);
  await createTar({ gzip: true, file, cwd: root, portable: true }, order);
  return file;
}

async function unpack(file: string): Promise<{ root: string; relocatedFiles: number }> {
  const root = join(work, `out-${++counter}`);
  await mkdir(root);
  const result = await unpackInto(file, root, '/srv/env', { log });
  return { root, relocatedFiles: result.relocatedFiles };
}

const FILES = {
  'bin/tool': `#!${PLACEHOLDER}/bin/python\nprint("${PLACEHOLDER}")\n`,
  'etc/config.txt': `prefix=${PLACEHOLDER}\n`,
  'lib/libx.so': Buffer.concat([
    Buffer.from('\x7fELF'),
    Buffer.from(`${PLACEHOLDER}/lib\0`),
    Buffer.from('tail\0'),
  ]),
  'share/untouched.txt': `no prefix here, ${'x'.repeat(100)}\n`,
};
const LISTED: Listed[] = [
  { path: 'bin/tool', mode: 'text' },
  { path: 'etc/config.txt', mode: 'text' },
  { path: 'lib/libx.so', mode: 'binary' },
];
const MANIFEST_FIRST = [
  '.poncho/manifest.json',
  'bin/tool',
  'etc/config.txt',
  'lib/libx.so',
  'share/untouched.txt',
];
const MANIFEST_LAST = [
  'bin/tool',
  'etc/config.txt',
  'lib/libx.so',
  'share/untouched.txt',
  '.poncho/manifest.json',
];

async function contents(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const path of Object.keys(FILES))
    out[path] = (await readFile(join(root, path))).toString('latin1');
  return out;
}

describe('relocating while extracting', () => {
  it('rewrites the listed files as they are written when the manifest comes first: archived mtimes, no second file', async () => {
    const { root, relocatedFiles } = await unpack(await tarball(FILES, LISTED, MANIFEST_FIRST));
    expect(relocatedFiles).toBe(3);
    const out = await contents(root);
    expect(out['etc/config.txt']).toBe('prefix=/srv/env\n');
    expect(out['bin/tool']).toBe('#!/srv/env/bin/python\nprint("/srv/env")\n');
    // Binary: same length, NUL padded.
    expect(out['lib/libx.so']?.length).toBe((FILES['lib/libx.so'] as Buffer).length);
    expect(out['lib/libx.so']).toContain('/srv/env/lib\0');
    // Written once, from memory: the archived mtime, as for any other file (a rewrite on disk
    // is a new file, with the time of the rewrite).
    for (const path of Object.keys(FILES)) {
      expect((await lstat(join(root, path))).mtime.getTime()).toBe(ARCHIVED.getTime());
    }
    expect((await readdir(join(root, 'bin'))).sort()).toEqual(['tool']);
  });

  it('relocates on disk what came before the manifest, to the same content', async () => {
    const first = await unpack(await tarball(FILES, LISTED, MANIFEST_FIRST));
    const last = await unpack(await tarball(FILES, LISTED, MANIFEST_LAST));
    expect(last.relocatedFiles).toBe(3);
    expect(await contents(last.root)).toEqual(await contents(first.root));
    // (The on-disk rewrite is a new file: not the archived mtime.)
    expect((await lstat(join(last.root, 'etc/config.txt'))).mtime.getTime()).not.toBe(
      ARCHIVED.getTime(),
    );
  });

  it('refuses a prefix longer than a binary placeholder before writing any listed file', async () => {
    const file = await tarball(FILES, LISTED, MANIFEST_FIRST);
    const root = join(work, `out-${++counter}`);
    await mkdir(root);
    const longPrefix = `/${'p'.repeat(PLACEHOLDER.length + 10)}`;
    const failure = await unpackInto(file, root, longPrefix, { log }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(PonchoError);
    expect((failure as PonchoError).code).toBe('ERR_PREFIX_TOO_LONG');
    expect((failure as PonchoError).exitCode).toBe(125);
    await expect(lstat(join(root, 'bin', 'tool'))).rejects.toThrow();
  });

  it('refuses a tarball that holds its manifest twice', async () => {
    const file = await tarball(FILES, LISTED, [...MANIFEST_FIRST, '.poncho/manifest.json']);
    const failure = await unpack(file).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PonchoError);
    expect((failure as PonchoError).message).toContain('holds .poncho/manifest.json twice');
  });

  it('gives a hard link to a listed file the relocated content', async () => {
    const file = await tarball(FILES, LISTED, [...MANIFEST_FIRST, 'etc/config-link.txt'], (root) =>
      link(join(root, 'etc/config.txt'), join(root, 'etc/config-link.txt')),
    );
    const { root } = await unpack(file);
    expect(await readFile(join(root, 'etc/config-link.txt'), 'utf8')).toBe('prefix=/srv/env\n');
    expect((await lstat(join(root, 'etc/config-link.txt'))).ino).toBe(
      (await lstat(join(root, 'etc/config.txt'))).ino,
    );
  });

  it('still names a listed path that is not a regular file', async () => {
    const file = await tarball(
      FILES,
      [...LISTED, { path: 'bin/alias', mode: 'text' }],
      [...MANIFEST_FIRST, 'bin/alias'],
      (root) => symlink('tool', join(root, 'bin/alias')),
    );
    const failure = await unpack(file).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(PonchoError);
    expect((failure as PonchoError).message).toMatch(
      /cannot relocate bin\/alias: .*not a regular file/,
    );
  });
});
