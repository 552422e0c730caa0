/**
 * The package cache after a crash: a process killed while downloading or extracting leaves
 * temporary files, a folder without its completion marker, or a stale lock. None of them is
 * taken as complete, and the next creator repairs the entry and builds a working environment.
 */
import { execFile, spawn } from 'node:child_process';
import {
  access,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createEnvironment, extractedPackageDir, solve } from '@poncho/creator';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureTestChannel } from './channel/index.js';

const run = promisify(execFile);
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const CHILD = `
import { createEnvironment } from '@poncho/creator';
const [channel, prefix, pkgsDir, cacheDir, ...specs] = process.argv.slice(1);
await createEnvironment(specs, prefix, { channels: [channel], pkgsDir, cacheDir });
`;
let channel: string;
let work: string;

beforeAll(async () => {
  channel = `file://${await ensureTestChannel()}`;
  work = await mkdtemp(join(tmpdir(), 'poncho-cache-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

it('repairs what a killed creator left behind and never trusts an unmarked folder', async () => {
  const pkgsDir = join(work, 'pkgs');
  const options = { channels: [channel], pkgsDir, cacheDir: join(work, 'repodata') };
  const lock = await solve(['hello-cli'], options);
  const hello = lock.packages.find((p) => p.name === 'hello-cli');
  const python = lock.packages.find((p) => p.name === 'python');
  if (!hello || !python) throw new Error('test channel lacks hello-cli or python');
  await mkdir(pkgsDir, { recursive: true });

  // hello-cli: an extracted folder without the marker (killed before it was complete),
  // a half-downloaded archive and a half-extracted temp folder.
  const helloDir = extractedPackageDir(pkgsDir, hello);
  await mkdir(join(helloDir, 'site-packages/hello_cli'), { recursive: true });
  await writeFile(
    join(helloDir, 'site-packages/hello_cli/__init__.py'),
    'raise SystemExit("stale")\n',
  );
  await writeFile(join(pkgsDir, `${hello.fileName}.part-99999-abc`), 'partial');
  await mkdir(join(pkgsDir, `.${hello.fileName.replace(/\.conda$|\.tar\.bz2$/, '')}.extract-xyz`));
  // python: a lock left by a killed process (its mtime long past: stale).
  const lockDir = `${extractedPackageDir(pkgsDir, python)}.lock`;
  await mkdir(lockDir);
  const past = new Date(Date.now() - 3_600_000);
  await utimes(lockDir, past, past);

  const prefix = join(work, 'env');
  const { report } = await createEnvironment(['hello-cli'], prefix, options);
  expect(report.extractedPackages).toBe(lock.packages.length);
  const { stdout } = await run(join(prefix, 'bin/hello-poncho'), [], {
    env: { PATH: '/usr/bin:/bin' },
  });
  expect(stdout).toContain('hello from hello-cli');
  const marker = JSON.parse(await readFile(join(helloDir, 'info/repodata_record.json'), 'utf8'));
  expect(marker).toMatchObject({ sha256: hello.sha256, url: hello.url, fn: hello.fileName });

  const left = await readdir(pkgsDir);
  expect(
    left.filter((n) => n.includes('.part-') || n.includes('.extract-') || n.endsWith('.lock')),
  ).toEqual([]);
  await expect(access(lockDir)).rejects.toMatchObject({ code: 'ENOENT' });
});

it('refuses to overwrite a non-empty folder, and accepts an empty one', async () => {
  const options = {
    channels: [channel],
    pkgsDir: join(work, 'pkgs'),
    cacheDir: join(work, 'repodata'),
  };
  const busy = join(work, 'busy');
  await mkdir(busy);
  await writeFile(join(busy, 'keep.txt'), 'mine');
  await expect(createEnvironment(['generic-data'], busy, options)).rejects.toMatchObject({
    code: 'ERR_PREFIX_EXISTS',
    message: expect.stringContaining(busy),
  });
  expect(await readFile(join(busy, 'keep.txt'), 'utf8')).toBe('mine');
  const empty = join(work, 'empty');
  await mkdir(empty);
  await createEnvironment(['generic-data'], empty, options);
  expect(
    (await readdir(join(empty, 'conda-meta'))).some((n) => n.startsWith('generic-data-')),
  ).toBe(true);
});

it('a creator killed (SIGKILL) mid-download leaves nothing that looks complete; the next one recovers', async () => {
  const dir = (await ensureTestChannel()).replace(/\/$/, '');
  const pkgsDir = join(work, 'killed-pkgs');
  const options = { channels: [channel], pkgsDir, cacheDir: join(work, 'killed-repodata') };
  const lock = await solve(['python 3.11.*'], options);
  const python = lock.packages.find((p) => p.name === 'python');
  if (!python) throw new Error('no python in the test channel');

  // A channel server that sends the archives slowly (64 KiB every 50 ms).
  const slow = createServer(async (req, res) => {
    const path = join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const data = await readFile(path).catch(() => null);
    if (!data) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': data.length });
    for (let at = 0; at < data.length && !res.destroyed; at += 65_536) {
      res.write(data.subarray(at, at + 65_536));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    res.end();
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      CHILD,
      slowUrl,
      join(work, 'killed-env'),
      pkgsDir,
      join(work, 'killed-repodata-child'),
      'python 3.11.*',
    ],
    { cwd: ROOT, stdio: 'ignore' },
  );
  try {
    // Kill it once part of the python archive is on disk.
    // Bounded by a deadline, not a count: a loaded machine may take long to start the child.
    const partial = `${python.fileName}.part-`;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const names = await readdir(pkgsDir).catch(() => [] as string[]);
      const part = names.find((n) => n.startsWith(partial));
      if (part && (await stat(join(pkgsDir, part)).catch(() => ({ size: 0 }))).size > 200_000)
        break;
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error('the creator never got half-way through downloading python');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  } finally {
    slow.closeAllConnections();
    await new Promise<void>((resolve) => slow.close(() => resolve()));
  }
  const names = await readdir(pkgsDir);
  expect(names.some((n) => n.startsWith(`${python.fileName}.part-`))).toBe(true);
  expect(names).not.toContain(python.fileName);
  expect(names).not.toContain(python.fileName.replace(/\.(conda|tar\.bz2)$/, ''));
  // Its lock is still there (nobody released it): the next creator must take it over.
  expect(names).toContain(`${python.fileName.replace(/\.(conda|tar\.bz2)$/, '')}.lock`);
  await expect(access(join(work, 'killed-env', 'conda-meta'))).rejects.toMatchObject({
    code: 'ENOENT',
  });

  // The next creator takes the dead lock over, removes the leftovers, works. The lock is aged
  // past the stale time here instead of waited for.
  const old = new Date(Date.now() - 120_000);
  await utimes(
    join(pkgsDir, `${python.fileName.replace(/\.(conda|tar\.bz2)$/, '')}.lock`),
    old,
    old,
  );
  const prefix = join(work, 'after-kill');
  await createEnvironment(['python 3.11.*'], prefix, options);
  const { stdout } = await run(join(prefix, 'bin/python'), ['-c', 'import sys; print(sys.prefix)']);
  expect(stdout.trim()).toBe(prefix);
  const after = await readdir(pkgsDir);
  expect(
    after.filter((n) => n.includes('.part-') || n.includes('.extract-') || n.endsWith('.lock')),
  ).toEqual([]);
});
