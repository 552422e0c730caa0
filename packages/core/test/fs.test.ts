/**
 * Core's output writer: files are replaced through a temporary sibling; devices, FIFOs and
 * names of open files (/proc/self/fd/N) are written in place and never replaced or chmodded.
 * Devices are made with mknod in a temporary folder: tests never write to the machine's own.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyToOutput, planOutput, usableTempDir, writeFileAtomic } from '../dist/fs.js';

const isRoot = process.getuid?.() === 0;
let root: string;
let dir: string;
let count = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poncho-core-fs-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
/** A folder of its own for each test, so that a leftover temporary file shows. */
async function freshDir(): Promise<string> {
  dir = join(root, `t${++count}`);
  await mkdir(dir);
  return dir;
}

/** A character device like /dev/null (1,3) or /dev/full (1,7), in our own folder. */
function mknod(path: string, minor: 3 | 7, mode = '600'): void {
  execFileSync('mknod', ['-m', mode, path, 'c', '1', String(minor)]);
}

/** Starts reading a FIFO in a child process (cat), resolves with what it read. */
function readFifo(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cat = spawn('cat', [path]);
    const chunks: Buffer[] = [];
    cat.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    cat.on('error', reject);
    cat.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

describe('planOutput', () => {
  it('replaces missing paths and files, following links to the real file', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'real.json'), 'old');
    await symlink('real.json', join(d, 'link.json'));
    expect(await planOutput(join(d, 'new.json'))).toEqual({
      kind: 'replace',
      path: join(d, 'new.json'),
    });
    expect(await planOutput(join(d, 'link.json'))).toEqual({
      kind: 'replace',
      path: join(d, 'real.json'),
    });
  });

  it('writes devices, FIFOs and names of open files in place', async () => {
    const d = await freshDir();
    execFileSync('mkfifo', [join(d, 'fifo')]);
    await symlink('fifo', join(d, 'to-fifo'));
    await symlink('/dev/stdout', join(d, 'to-stdout'));
    await symlink('/proc/self/fd', join(d, 'fds'));
    for (const path of [
      join(d, 'fifo'),
      join(d, 'to-fifo'),
      '/dev/stdout',
      '/proc/self/fd/1',
      join(d, 'to-stdout'),
      join(d, 'fds', '1'),
    ]) {
      expect((await planOutput(path)).kind, path).toBe('in-place');
    }
  });
});

describe('writeFileAtomic', () => {
  it('replaces a file through a rename and leaves no temporary file', async () => {
    const d = await freshDir();
    const target = join(d, 'spec.json');
    await writeFile(target, 'old');
    const before = await stat(target);
    await writeFileAtomic(target, 'new', { mode: 0o640 });
    const after = await stat(target);
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(after.ino).not.toBe(before.ino);
    expect(after.mode & 0o777).toBe(0o640);
    expect(await readdir(d)).toEqual(['spec.json']);
  });

  it('keeps a link to a file a link, and writes the file it names', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'real.json'), 'old');
    await symlink('real.json', join(d, 'link.json'));
    await writeFileAtomic(join(d, 'link.json'), 'new');
    expect((await lstat(join(d, 'link.json'))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(d, 'real.json'), 'utf8')).toBe('new');
    expect((await readdir(d)).sort()).toEqual(['link.json', 'real.json']);
  });

  it.runIf(isRoot)(
    'writes into a character device in place: it stays a device, mode kept',
    async () => {
      const d = await freshDir();
      const device = join(d, 'null');
      mknod(device, 3, '620');
      await symlink('null', join(d, 'to-null'));
      await writeFileAtomic(device, 'spec', { mode: 0o644 });
      await writeFileAtomic(join(d, 'to-null'), 'spec');
      const info = await lstat(device);
      expect(info.isCharacterDevice()).toBe(true);
      expect(info.mode & 0o777).toBe(0o620);
      expect((await lstat(join(d, 'to-null'))).isSymbolicLink()).toBe(true);
      expect((await readdir(d)).sort()).toEqual(['null', 'to-null']);
    },
  );

  it.runIf(isRoot)('reports a full device (ENOSPC) naming it, and leaves it a device', async () => {
    const d = await freshDir();
    const device = join(d, 'full');
    mknod(device, 7);
    await expect(writeFileAtomic(device, 'x', { what: 'spec file' })).rejects.toMatchObject({
      code: 'ERR_DISK_FULL',
      message: `no space left on the device while writing spec file: ${device}`,
    });
    expect((await lstat(device)).isCharacterDevice()).toBe(true);
  });

  it('writes into a FIFO in place: the reader gets the bytes, the FIFO stays', async () => {
    const d = await freshDir();
    const fifo = join(d, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const data = Buffer.alloc(3 << 20, 'poncho ');
    const received = readFifo(fifo);
    await writeFileAtomic(fifo, data);
    expect((await received).equals(data)).toBe(true);
    expect((await lstat(fifo)).isFIFO()).toBe(true);
    expect(await readdir(d)).toEqual(['fifo']);
  });

  it('appends through /proc/self/fd/N to the open file, which keeps its inode', async () => {
    const d = await freshDir();
    const log = join(d, 'log');
    await writeFile(log, 'earlier\n');
    const fd = openSync(log, 'a');
    try {
      const inode = (await stat(log)).ino;
      await writeFileAtomic(`/proc/self/fd/${fd}`, 'spec\n');
      writeSync(fd, 'later\n');
      expect(await readFile(log, 'utf8')).toBe('earlier\nspec\nlater\n');
      expect((await stat(log)).ino).toBe(inode);
    } finally {
      closeSync(fd);
    }
  });

  it('names the folder when it cannot create the temporary file', async () => {
    const d = await freshDir();
    await writeFile(join(d, 'not-a-folder'), '');
    await expect(writeFileAtomic(join(d, 'missing', 'x.json'), 'x')).rejects.toMatchObject({
      code: 'ERR_OUTPUT_DIR',
    });
    await expect(writeFileAtomic(join(d, 'not-a-folder', 'x.json'), 'x')).rejects.toMatchObject({
      code: 'ERR_OUTPUT_DIR',
    });
  });

  it.runIf(isRoot)('says "read-only file system" for a read-only folder', async (context) => {
    const d = await freshDir();
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', d]);
    if (mounted.status !== 0) context.skip();
    try {
      await expect(writeFileAtomic(join(d, 'spec.json'), 'x')).rejects.toMatchObject({
        code: 'ERR_READ_ONLY_FS',
        message: expect.stringContaining(d),
      });
    } finally {
      spawnSync('umount', [d]);
    }
  });
});

describe('copyToOutput', () => {
  it('copies to a file through a rename, and into a FIFO in place', async () => {
    const d = await freshDir();
    const source = join(d, 'source.bin');
    const data = Buffer.alloc(5 << 20, 'tarball ');
    await writeFile(source, data);
    await copyToOutput(source, join(d, 'copy.bin'));
    expect((await readFile(join(d, 'copy.bin'))).equals(data)).toBe(true);
    execFileSync('mkfifo', [join(d, 'fifo')]);
    const received = readFifo(join(d, 'fifo'));
    await copyToOutput(source, join(d, 'fifo'));
    expect((await received).equals(data)).toBe(true);
    expect((await lstat(join(d, 'fifo'))).isFIFO()).toBe(true);
    expect((await readdir(d)).sort()).toEqual(['copy.bin', 'fifo', 'source.bin']);
  });
});

describe('usableTempDir', () => {
  const saved = process.env.TMPDIR;
  afterEach(() => {
    process.env.TMPDIR = saved;
  });

  it('returns a usable TMPDIR and names a missing one, or a file', async () => {
    const d = await freshDir();
    process.env.TMPDIR = d;
    expect(await usableTempDir()).toBe(d);
    process.env.TMPDIR = join(d, 'missing');
    await expect(usableTempDir(125)).rejects.toMatchObject({
      code: 'ERR_TMPDIR',
      exitCode: 125,
      message: `cannot use the temporary folder ${join(d, 'missing')} (TMPDIR): it does not exist`,
    });
    await writeFile(join(d, 'file'), '');
    process.env.TMPDIR = join(d, 'file');
    await expect(usableTempDir()).rejects.toMatchObject({
      exitCode: 1,
      message: expect.stringContaining('it is not a folder'),
    });
  });

  it.runIf(!isRoot)('names a folder it cannot write', async () => {
    const d = await freshDir();
    await chmod(d, 0o555);
    process.env.TMPDIR = d;
    await expect(usableTempDir()).rejects.toMatchObject({
      message: expect.stringContaining('it is not writable'),
    });
  });
});
