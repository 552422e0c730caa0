import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@poncho/core/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPrefix } from '../dist/pack/packer.js';
import { HashingFileSink } from '../dist/pack/sink.js';
import { fakeLibrary, makeFakePrefix, PLACEHOLDER } from './pack-fixture.js';

let root: string;
/** A build prefix longer than the short paths used to unpack, like a real build folder. */
let buildPrefix: string;
let pkgsDir: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poncho-packer-'));
  buildPrefix = join(root, 'build', 'env_placehold');
  ({ pkgsDir } = await makeFakePrefix(root, buildPrefix));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function pack(output: string, extra: Partial<Parameters<typeof packPrefix>[0]> = {}) {
  return packPrefix({
    prefix: buildPrefix,
    output,
    platform: 'linux-64',
    pkgsDirs: [pkgsDir],
    specYaml: 'channels: []\n',
    ...extra,
  });
}

/** A folder whose absolute path is exactly `length` characters. */
async function folderOfLength(length: number): Promise<string> {
  const base = join(root, 'unpack-');
  const dir = base + 'x'.repeat(length - base.length);
  await mkdir(dir, { recursive: true });
  return dir;
}

describe('packPrefix', () => {
  it('writes the manifest, the scripts and pristine binaries', async () => {
    const out = join(root, 'a.tar.gz');
    const result = await pack(out);
    expect(result.size).toBeGreaterThan(0);
    expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
    const listing = execFileSync('tar', ['-tvzf', out]).toString();
    for (const name of [
      '.poncho/manifest.json',
      'bin/activate',
      'bin/deactivate',
      'bin/conda-unpack',
      'bin/run_in_env',
      'bin/poncho_package_run',
      'conda_spec.yml',
    ]) {
      expect(listing).toContain(name);
    }
    // Owners 0/0 without names, fixed time, no top-level folder.
    for (const line of listing.trim().split('\n'))
      expect(line).toMatch(/^([-d]rw[-x]r-[-x]r-[-x]|lrwxrwxrwx) 0\/0 .* 2000-01-01 00:00 /);
    const manifest = parseManifest(
      execFileSync('tar', ['-xzOf', out, '.poncho/manifest.json']).toString(),
      out,
    );
    expect(manifest.buildPrefix).toBe(buildPrefix);
    expect(manifest.platform).toBe('linux-64');
    expect(manifest.files).toEqual([
      { path: 'bin/mytool', placeholder: buildPrefix, mode: 'text' },
      { path: 'lib/libmylib.so', placeholder: PLACEHOLDER, mode: 'binary' },
      {
        path: 'lib/python3.11/site-packages/pipped/__init__.py',
        placeholder: buildPrefix,
        mode: 'text',
      },
    ]);
    expect(
      execFileSync('tar', ['-xzOf', out, 'lib/libmylib.so']).equals(fakeLibrary(PLACEHOLDER)),
    ).toBe(true);
    // An absolute symlink into the prefix became relative.
    expect(listing).toMatch(/lib\/libmylib\.so\.1 -> libmylib\.so\n/);
    expect(listing).toContain(`share/${'n'.repeat(120)}/${'m'.repeat(120)}`);
    expect(listing).toContain('share/empty-dir/');
  });

  it('is byte-identical when built twice into different folders, whatever the threads', async () => {
    const a = join(root, 'one', 'env.tar.gz');
    const b = join(root, 'two', 'env.tar.gz');
    await mkdir(join(root, 'one'));
    await mkdir(join(root, 'two'));
    const first = await pack(a, { threads: 1 });
    const second = await pack(b, { threads: 3 });
    expect(second.sha256).toBe(first.sha256);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  it('packs the same bytes from build folders in different places, given one packed prefix', async () => {
    const packedPrefix = '/tmp/poncho-0123456789ab';
    const shas: string[] = [];
    for (const place of ['short', 'a-much-longer-temporary-folder']) {
      const prefix = join(root, place, 'tmp', 'poncho-0123456789ab');
      const fixture = await makeFakePrefix(join(root, place), prefix);
      // py_compile recorded the folder in the fixture's .pyc; the creator compiles without it
      // (compileall -s), which its end-to-end test checks.
      await rm(join(prefix, 'lib/python3.11/site-packages/pipped/__pycache__'), {
        recursive: true,
      });
      const out = join(root, place, 'env.tar.gz');
      const packed = await packPrefix({
        prefix,
        packedPrefix,
        output: out,
        platform: 'linux-64',
        pkgsDirs: [fixture.pkgsDir],
        specYaml: 'channels: []\n',
      });
      shas.push(packed.sha256);
      expect(packed.manifest.buildPrefix).toBe(packedPrefix);
      const placeholders = new Map(packed.manifest.files.map((f) => [f.path, f.placeholder]));
      expect(placeholders.get('lib/libmylib.so')).toBe(PLACEHOLDER); // the package's own
      expect(placeholders.get('bin/mytool')).toBe(packedPrefix);
      expect(placeholders.get('lib/python3.11/site-packages/pipped/__init__.py')).toBe(
        packedPrefix,
      );
      const tar = execFileSync('gzip', ['-dc', out], { maxBuffer: 1 << 28 });
      expect(tar.includes(Buffer.from(join(root, place)))).toBe(false);
    }
    expect(shas[1]).toBe(shas[0]);
  });

  it('keeps the build folder in a binary file conda does not manage, with its own limit', async () => {
    const prefix = join(root, 'b', 'tmp', 'poncho-0123456789ab');
    const fixture = await makeFakePrefix(join(root, 'b'), prefix);
    // A compiled file that embeds the build folder: binary replacement keeps its length, so
    // rewriting it would not make its bytes independent of the folder, only shorten its limit.
    const library = Buffer.from(`\x7fELF${prefix}/lib\0`);
    await writeFile(join(prefix, 'lib/libpipped.so'), library);
    const packedPrefix = '/tmp/poncho-0123456789ab';
    const packed = await packPrefix({
      prefix,
      packedPrefix,
      output: join(root, 'b', 'env.tar'),
      platform: 'linux-64',
      pkgsDirs: [fixture.pkgsDir],
      specYaml: 'channels: []\n',
    });
    const placeholders = new Map(packed.manifest.files.map((f) => [f.path, f.placeholder]));
    expect(placeholders.get('lib/libpipped.so')).toBe(prefix);
    expect(placeholders.get('lib/python3.11/site-packages/pipped/__init__.py')).toBe(packedPrefix);
    expect((await readFile(join(root, 'b', 'env.tar'))).includes(library)).toBe(true);
    expect(packed.warnings.join('\n')).toContain(
      `paths of at most ${Buffer.byteLength(prefix)} bytes`,
    );
    // It relocates from its own placeholder like any file the manifest lists.
    const env = await folderOfLength(40);
    execFileSync('tar', ['-xf', join(root, 'b', 'env.tar'), '-C', env]);
    execFileSync(join(env, 'bin/python'), [join(env, 'bin/conda-unpack')]);
    expect(
      (await readFile(join(env, 'lib/libpipped.so'))).includes(Buffer.from(`${env}/lib\0`)),
    ).toBe(true);
  });

  it('relocates with conda-unpack to a 200-character path, and a .pyc stays valid', async () => {
    const out = join(root, 'b.tar.gz');
    await pack(out);
    const env = await folderOfLength(200);
    execFileSync('tar', ['-xzf', out, '-C', env]);
    execFileSync(join(env, 'bin/python'), [join(env, 'bin/conda-unpack')]);
    const lib = await readFile(join(env, 'lib/libmylib.so'));
    expect(lib.length).toBe(fakeLibrary(PLACEHOLDER).length);
    expect(lib.includes(Buffer.from(`${env}/lib/data\0`))).toBe(true);
    expect(lib.includes(Buffer.from(`${env}/share/terminfo:${env}/etc\0`))).toBe(true);
    expect(lib.includes(Buffer.from(PLACEHOLDER))).toBe(false);
    // The script's shebang became too long for the kernel and was rewritten; it still runs.
    const tool = await readFile(join(env, 'bin/mytool'), 'utf8');
    expect(tool.startsWith('#!/bin/sh\n')).toBe(true);
    expect(execFileSync(join(env, 'bin/mytool'), ['x']).toString()).toBe(`${env}/share ['x']\n`);
    expect(
      await readFile(join(env, 'lib/python3.11/site-packages/pipped/__init__.py'), 'utf8'),
    ).toContain(env);
    // The manifest now describes the relocated files: a second run has nothing to do.
    const check = spawnSync(join(env, 'bin/python'), [join(env, 'bin/conda-unpack'), '--check']);
    expect(check.status).toBe(0);
    // The .pyc compiled at build time matches the packed source: python does not rewrite it.
    const pyc = join(env, 'lib/python3.11/site-packages/pipped/__pycache__/plain.cpython-311.pyc');
    const before = await readFile(pyc);
    execFileSync(join(env, 'bin/python'), [
      '-c',
      'import sys; sys.path.insert(0, sys.argv[1]); import pipped.plain',
      join(env, 'lib/python3.11/site-packages'),
    ]);
    expect((await readFile(pyc)).equals(before)).toBe(true);
  });

  it('resumes a relocation that was killed half-way without rewriting a file twice', async () => {
    const out = join(root, 'resume.tar.gz');
    await pack(out);
    // The new folder contains the build prefix: rewriting a file twice would nest it.
    const env = join(buildPrefix, 'moved-inside');
    await mkdir(env, { recursive: true });
    execFileSync('tar', ['-xzf', out, '-C', env]);
    // As if killed after the first file: it is relocated and in the journal, the manifest is not.
    const tool = join(env, 'bin/mytool');
    await writeFile(tool, (await readFile(tool, 'utf8')).replaceAll(buildPrefix, env));
    await writeFile(join(env, '.poncho/conda-unpack.journal'), `${env}\tbin/mytool\n`);
    execFileSync(join(env, 'bin/python'), [join(env, 'bin/conda-unpack')]);
    expect(execFileSync(tool, ['r']).toString()).toBe(`${env}/share ['r']\n`);
    expect(await readdir(join(env, '.poncho'))).toEqual(['manifest.json']);
    await rm(env, { recursive: true, force: true });
  });

  it('refuses a path longer than the binary placeholder', async () => {
    const out = join(root, 'c.tar.gz');
    await pack(out);
    const env = await folderOfLength(260);
    execFileSync('tar', ['-xzf', out, '-C', env]);
    const run = spawnSync(join(env, 'bin/python'), [join(env, 'bin/conda-unpack')]);
    expect(run.status).toBe(1);
    expect(run.stderr.toString()).toMatch(/longer than the 255 bytes/);
  });

  it('writes a plain tar when OUT ends in .tar', async () => {
    const out = join(root, 'd.tar');
    await pack(out);
    expect(execFileSync('tar', ['-tf', out]).toString()).toContain('bin/conda-unpack');
    expect((await readFile(out)).subarray(257, 262).toString()).toBe('ustar');
  });

  it('never leaves a partial OUT', async () => {
    await writeFile(join(root, 'a-file'), 'x');
    await expect(pack(join(root, 'a-file', 'env.tar.gz'))).rejects.toMatchObject({
      code: 'ERR_OUTPUT_DIR',
    });
    await expect(pack(join(root, 'missing', 'env.tar.gz'))).rejects.toMatchObject({
      code: 'ERR_OUTPUT_DIR',
    });
    const controller = new AbortController();
    const out = join(root, 'aborted', 'env.tar.gz');
    await mkdir(join(root, 'aborted'));
    controller.abort(new Error('stop'));
    await expect(pack(out, { signal: controller.signal })).rejects.toThrow('stop');
    expect(await readdir(join(root, 'aborted'))).toEqual([]);
  });

  it('reports a full disk as such, and leaves nothing behind', async () => {
    // An 8 KiB tmpfs holds the output folder (the tarball is larger); mounting needs root.
    const small = join(root, 'small-disk');
    await mkdir(small);
    const mounted =
      spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', small]).status === 0;
    if (!mounted) return;
    try {
      await expect(pack(join(small, 'env.tar.gz'), { compressLevel: 0 })).rejects.toMatchObject({
        code: 'ERR_DISK_FULL',
        message: expect.stringContaining(
          `no space left on the device while writing environment tarball: ${join(small, 'env.tar.gz')}`,
        ),
      });
      expect(await readdir(small)).toEqual([]);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('the output sink reports ENOSPC from the device', async () => {
    // A /dev/full of our own (char 1,7): tests never write to the machine's devices.
    const full = join(root, 'full');
    execFileSync('mknod', [full, 'c', '1', '7']);
    const fd = openSync(full, 'w');
    try {
      const sink = HashingFileSink.onDescriptor(fd, 16);
      await expect(
        (async () => {
          await sink.write(Buffer.alloc(64));
          await sink.finish();
        })(),
      ).rejects.toMatchObject({ code: 'ENOSPC' });
    } finally {
      closeSync(fd);
    }
  });

  it('packs into a device in place: ENOSPC from it is a full disk, and it stays a device', async () => {
    const full = join(root, 'full-out');
    execFileSync('mknod', [full, 'c', '1', '7']);
    await expect(pack(full, { compressLevel: 0 })).rejects.toMatchObject({
      code: 'ERR_DISK_FULL',
      message: expect.stringContaining(full),
    });
    expect((await lstat(full)).isCharacterDevice()).toBe(true);
    expect((await readdir(root)).filter((name) => name.startsWith('.full-out'))).toEqual([]);
  });

  it('packs into a FIFO in place: the reader gets the tarball, the FIFO stays a FIFO', async () => {
    const fifo = join(root, 'env.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = readFile(fifo);
    const result = await pack(fifo, { format: 'tar.gz' });
    const received = await reader;
    expect(received.length).toBe(result.size);
    expect(createHash('sha256').update(received).digest('hex')).toBe(result.sha256);
    expect(execFileSync('tar', ['-tzf', '-'], { input: received }).toString()).toContain(
      '.poncho/manifest.json',
    );
    expect((await lstat(fifo)).isFIFO()).toBe(true);
  });

  it('refuses a folder that is not a conda environment', async () => {
    const dir = join(root, 'not-conda');
    await mkdir(dir);
    await expect(
      packPrefix({ prefix: dir, output: join(root, 'x.tar.gz'), platform: 'linux-64' }),
    ).rejects.toMatchObject({
      code: 'ERR_NOT_A_CONDA_PREFIX',
    });
  });
});
