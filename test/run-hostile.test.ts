/**
 * Hostile and damaged tarballs: one archive per kind of escape, each refused with exit 125 and
 * a reason, with nothing written outside the unpack folder (checked on disk), no unpack folder,
 * staging folder or temporary folder left behind.
 */
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRunner } from './support/runner-cli.js';
import { fixtureTarball, type RawEntry, rawTarGz } from './support/tarballs.js';

// Made when the file loads: the hostile archives name paths inside it.
const work = mkdtempSync(join(tmpdir(), 'poncho-hostile-'));
const outside = join(work, 'outside');
const runTmp = join(work, 'tmp');
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  await mkdir(outside);
  await mkdir(runTmp);
  await writeFile(join(outside, 'secret.txt'), 'secret');
  env = { ...process.env, TMPDIR: runTmp };
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A harmless start, so that the hostile entry comes after real content. */
const benign: RawEntry[] = [
  { name: 'bin/', type: 'dir' },
  { name: 'bin/ok', type: 'file', data: '#!/bin/sh\necho ok\n', mode: 0o755 },
  { name: 'sub/', type: 'dir' },
];

function hostileCases(): Array<{ label: string; entries: RawEntry[]; reason: RegExp }> {
  return [
    {
      label: 'a path with ..',
      entries: [{ name: '../escape.txt', type: 'file', data: 'x' }],
      reason: /'\.\.'/,
    },
    {
      label: 'a path with .. in the middle',
      entries: [{ name: 'sub/../../escape.txt', type: 'file', data: 'x' }],
      reason: /'\.\.'/,
    },
    {
      label: 'an absolute path',
      entries: [{ name: `${outside}/absolute.txt`, type: 'file', data: 'x' }],
      reason: /absolute path/,
    },
    {
      label: 'a symlink to an absolute path, then a file through it',
      entries: [
        { name: 'link', type: 'symlink', linkname: outside },
        { name: 'link/through-link.txt', type: 'file', data: 'x' },
      ],
      reason: /symbolic link to an absolute path/,
    },
    {
      label: 'a relative symlink that climbs out',
      entries: [{ name: 'sub/up', type: 'symlink', linkname: '../../outside' }],
      reason: /points outside/,
    },
    {
      label: 'a symlink that leaves only on disk (through another link)',
      entries: [
        { name: 'sub/root', type: 'symlink', linkname: '..' },
        { name: 'sneaky', type: 'symlink', linkname: 'sub/root/..' },
      ],
      reason: /resolves outside/,
    },
    {
      label: 'a folder entry over an escaping symlink, then a file through it',
      entries: [
        { name: 'sub/root', type: 'symlink', linkname: '..' },
        { name: 'sneaky', type: 'symlink', linkname: 'sub/root/..' },
        { name: 'sneaky/', type: 'dir' },
        { name: 'sneaky/escape.txt', type: 'file', data: 'x' },
      ],
      reason: /folder entry over a symbolic link/,
    },
    {
      label: 'a file below a symlink',
      entries: [
        { name: 'alias', type: 'symlink', linkname: 'sub' },
        { name: 'alias/file.txt', type: 'file', data: 'x' },
      ],
      reason: /below a symbolic link/,
    },
    {
      label: 'a hard link to an absolute path',
      entries: [{ name: 'hard', type: 'hardlink', linkname: join(outside, 'secret.txt') }],
      reason: /hard link that points outside/,
    },
    {
      label: 'a hard link that climbs out',
      entries: [{ name: 'hard', type: 'hardlink', linkname: '../outside/secret.txt' }],
      reason: /hard link that points outside/,
    },
    {
      label: 'a hard link to something that is not in the archive',
      entries: [{ name: 'hard', type: 'hardlink', linkname: 'sub/nothing' }],
      reason: /not a file of the archive/,
    },
    {
      label: 'a character device',
      entries: [{ name: 'bin/tty0', type: 'char' }],
      reason: /device file/,
    },
    {
      label: 'a block device',
      entries: [{ name: 'bin/sda', type: 'block' }],
      reason: /device file/,
    },
    { label: 'a FIFO', entries: [{ name: 'bin/pipe', type: 'fifo' }], reason: /FIFO/ },
  ];
}

async function expectNothingOutside(parent: string, dirName: string): Promise<void> {
  expect((await readdir(outside)).sort()).toEqual(['secret.txt']);
  expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  expect(await readdir(runTmp)).toEqual([]);
  // Neither the unpack folder nor a staging folder, escape file or lock beside it.
  expect(
    (await readdir(parent)).filter((name) => name.includes(dirName) || name.includes('escape')),
  ).toEqual([]);
  expect(await readdir(work)).not.toContain('escape.txt');
}

describe('hostile tarballs', () => {
  let index = 0;
  for (const { label, entries, reason } of hostileCases()) {
    it(`refuses ${label}`, async () => {
      index++;
      const archive = join(work, `hostile-${index}.tar.gz`);
      await writeFile(archive, rawTarGz([...benign, ...entries]));
      const parent = join(work, `run-${index}`);
      await mkdir(parent);

      const kept = await runRunner(['-e', archive, '-d', join(parent, 'env'), 'ok'], { env });
      expect(kept.code, kept.stderr).toBe(125);
      expect(kept.stderr).toMatch(/refusing to unpack/);
      expect(kept.stderr).toContain(archive);
      expect(kept.stderr).toMatch(reason);
      expect(kept.stdout).toBe('');
      await expectNothingOutside(parent, 'env');

      const temporary = await runRunner(['-e', archive, 'ok'], { env });
      expect(temporary.code).toBe(125);
      expect(temporary.stderr).toMatch(reason);
      await expectNothingOutside(parent, 'env');
    });
  }

  it('accepts a control archive built the same way (the refusals are not for anything else)', async () => {
    const archive = join(work, 'benign.tar.gz');
    await writeFile(
      archive,
      rawTarGz([
        ...benign,
        { name: 'sub/file.txt', type: 'file', data: 'inside' },
        { name: 'sub/link', type: 'symlink', linkname: 'file.txt' },
        { name: 'sub/hard', type: 'hardlink', linkname: 'sub/file.txt' },
        { name: 'bin/ok2', type: 'symlink', linkname: '../bin/ok' },
        { name: 'setuid-tool', type: 'file', data: '#!/bin/sh\n', mode: 0o6755 },
      ]),
    );
    const dir = join(work, 'benign-env');
    const result = await runRunner(
      ['-e', archive, '-d', dir, 'sh', '-c', 'ok2 && cat "$CONDA_PREFIX/sub/link"'],
      { env },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('ok\ninside');
    expect(result.code).toBe(0);
    // setuid and setgid dropped, the rest of the mode kept.
    expect((await stat(join(dir, 'setuid-tool'))).mode & 0o7777).toBe(0o755);
    expect((await stat(join(dir, 'sub', 'hard'))).nlink).toBe(2);
  });
});

describe('damaged tarballs', () => {
  it('reports a truncated tarball, and leaves nothing behind', async () => {
    const good = await readFile(await fixtureTarball());
    const archive = join(work, 'truncated.tar.gz');
    await writeFile(archive, good.subarray(0, Math.floor(good.length / 2)));
    const parent = join(work, 'truncated-run');
    await mkdir(parent);
    const kept = await runRunner(['-e', archive, '-d', join(parent, 'env'), 'true'], { env });
    expect(kept.code).toBe(125);
    expect(kept.stderr).toMatch(/damaged or truncated/);
    expect(kept.stderr).toMatch(/hint: /);
    await expectNothingOutside(parent, 'env');
    const temporary = await runRunner(['-e', archive, 'true'], { env });
    expect(temporary.code).toBe(125);
    expect(await readdir(runTmp)).toEqual([]);
  });

  it('reports a corrupt tarball', async () => {
    const good = Buffer.from(await readFile(await fixtureTarball()));
    for (let i = 100; i < good.length - 100; i += 7) good[i] = (good[i] as number) ^ 0x5a;
    const archive = join(work, 'corrupt.tar.gz');
    await writeFile(archive, good);
    const result = await runRunner(['-e', archive, 'true'], { env });
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/damaged or truncated/);
    expect(await readdir(runTmp)).toEqual([]);
  });
});
