/**
 * Where the CLIs' outputs go when they are not regular files, as root (CI runs as root): a
 * character device made with mknod in a temporary folder (never the machine's /dev/null), a
 * FIFO with a reader, /dev/stdout. The device stays a device, the FIFO a FIFO, the reader gets
 * the bytes. Also: --json failures (JSON on stdout, same status), and the machine's faults (an
 * unusable TMPDIR, a read-only output folder, a full device) are exit 1 naming the folder, never
 * the "bug" status 70.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestChannel, type ServedChannel, serveChannel } from './channel/index.js';
import { ANALYZE_BIN, CREATE_BIN, isolatedEnv, runNodeCli } from './support/node-cli.js';

const CREATE = CREATE_BIN;
const ANALYZE = ANALYZE_BIN;
const isRoot = process.getuid?.() === 0;

let served: ServedChannel;
let work: string;
let env: NodeJS.ProcessEnv;
let count = 0;

type CliOptions = Partial<Omit<Parameters<typeof runNodeCli>[2], 'cwd'>>;

const cli = (script: string, args: string[], options: CliOptions = {}) =>
  runNodeCli(script, args, { cwd: work, env, ...options });

const analyze = (args: string[], options?: CliOptions) =>
  cli(ANALYZE, ['--no-env', '--no-cache', '--python-version', '3.11', ...args], options);
const create = (args: string[], options?: CliOptions) => cli(CREATE, args, options);

/** A fresh folder under the work folder. */
async function folder(name: string): Promise<string> {
  const dir = join(work, `${name}-${++count}`);
  await mkdir(dir);
  return dir;
}

/** A character device of our own: 1,3 behaves as /dev/null, 1,7 as /dev/full. */
function mknod(path: string, minor: 3 | 7): string {
  execFileSync('mknod', ['-m', '666', path, 'c', '1', String(minor)]);
  return path;
}

/** Makes a FIFO and starts a reader (cat); resolves with everything it read. */
function fifoWithReader(path: string): Promise<Buffer> {
  execFileSync('mkfifo', [path]);
  return new Promise((done, fail) => {
    const cat = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    cat.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    cat.on('error', fail);
    cat.on('close', () => done(Buffer.concat(chunks)));
  });
}

async function expectDevice(path: string, minor: number): Promise<void> {
  const info = await lstat(path);
  expect(info.isCharacterDevice(), `${path} is still a device`).toBe(true);
  expect(info.rdev & 0xff).toBe(minor);
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Mounts a tmpfs on `dir` (root only); false where this user may not mount. */
function mountTmpfs(dir: string, options: string): boolean {
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;
}

beforeAll(async () => {
  served = await serveChannel(await ensureTestChannel());
  work = await mkdtemp(join(tmpdir(), 'poncho-outputs-'));
  await mkdir(join(work, 'tmp'));
  env = isolatedEnv(work);
  await writeFile(join(work, 'job.py'), 'import numpy\nimport yaml\n');
  await writeFile(
    join(work, 'spec.json'),
    JSON.stringify({ conda: { channels: [served.url], dependencies: ['python=3.11'] } }),
  );
});

afterAll(async () => {
  await served?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('poncho_package_analyze outputs', () => {
  let expectedSpec: Buffer;
  let expectedReport: Buffer;

  beforeAll(async () => {
    const result = await analyze(['--report', 'report.json', 'job.py', 'spec.out.json']);
    expect(result.code).toBe(0);
    expectedSpec = await readFile(join(work, 'spec.out.json'));
    expectedReport = await readFile(join(work, 'report.json'));
  });

  it.runIf(isRoot)('writes the spec and the report into devices, which stay devices', async () => {
    const dir = await folder('analyze-dev');
    const spec = mknod(join(dir, 'null'), 3);
    const report = mknod(join(dir, 'null2'), 3);
    const result = await analyze(['--report', report, 'job.py', spec]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    await expectDevice(spec, 3);
    await expectDevice(report, 3);
    expect((await readdir(dir)).sort()).toEqual(['null', 'null2']);
  });

  it('writes the spec and the report into FIFOs: their readers get the bytes', async () => {
    const dir = await folder('analyze-fifo');
    const spec = fifoWithReader(join(dir, 'spec'));
    const report = fifoWithReader(join(dir, 'report'));
    const result = await analyze(['--report', join(dir, 'report'), 'job.py', join(dir, 'spec')]);
    expect(result.code).toBe(0);
    expect((await spec).equals(expectedSpec)).toBe(true);
    expect((await report).toString()).toBe(expectedReport.toString());
    for (const name of ['spec', 'report'])
      expect((await lstat(join(dir, name))).isFIFO()).toBe(true);
  });

  it('writes /dev/stdout in place: to a pipe, and appended to a redirected file', async () => {
    // Node gives a child a socket as stdout; a shell pipeline gives a pipe: both.
    const socket = await analyze(['job.py', '/dev/stdout']);
    expect(socket.code).toBe(0);
    expect(socket.stdout.equals(expectedSpec)).toBe(true);
    const piped = execFileSync(
      'sh',
      [
        '-c',
        '"$0" "$1" --no-env --no-cache --python-version 3.11 job.py /dev/stdout | cat',
        process.execPath,
        ANALYZE,
      ],
      { cwd: work, env },
    );
    expect(piped.equals(expectedSpec)).toBe(true);
    const dir = await folder('analyze-stdout');
    const log = join(dir, 'log');
    await writeFile(log, 'earlier\n');
    const fd = openSync(log, 'a');
    try {
      const redirected = await analyze(['job.py', '/dev/stdout'], { stdoutFd: fd });
      expect(redirected.code).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(await readFile(log, 'utf8')).toBe(`earlier\n${expectedSpec}`);
  });

  it.runIf(isRoot)('a full device is exit 1 naming it, and stays a device', async () => {
    const dir = await folder('analyze-full');
    const full = mknod(join(dir, 'full'), 7);
    const result = await analyze(['job.py', full]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no space left on the device while writing spec file: ${full}`);
    await expectDevice(full, 7);
  });

  it('prints failures as JSON on stdout with --report -, with the same status', async () => {
    for (const [args, code, errorCode] of [
      [['missing.py', 'x.json'], 1, 'ERR_FILE_NOT_FOUND'],
      [['--threads', 'many', 'job.py', 'x.json'], 2, 'ERR_USAGE'],
    ] as const) {
      const plain = await analyze([...args]);
      const json = await analyze(['--report', '-', ...args]);
      expect(plain.code).toBe(code);
      expect(json.code).toBe(code);
      expect(plain.stdout.toString()).toBe('');
      const printed = JSON.parse(json.stdout.toString()) as {
        error: { code: string; message: string; hint: string };
      };
      expect(printed.error.code).toBe(errorCode);
      expect(plain.stderr).toContain(printed.error.message);
      expect(printed.error.hint).toEqual(expect.any(String));
    }
  });

  it.runIf(isRoot)('a read-only output folder is exit 1 naming the folder', async (context) => {
    const dir = await folder('analyze-ro');
    if (!mountTmpfs(dir, 'ro,size=1m')) return context.skip();
    try {
      const result = await analyze(['job.py', join(dir, 'spec.json')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`read-only file system`);
      expect(result.stderr).toContain(dir);
      expect(result.stderr).not.toContain('internal error');
    } finally {
      spawnSync('umount', [dir]);
    }
  });
});

describe('poncho_package_create outputs', () => {
  let cachedSha: string;

  beforeAll(async () => {
    const result = await create(['--json', 'spec.json', 'env.tar.gz']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    cachedSha = (JSON.parse(result.stdout.toString()) as { sha256: string }).sha256;
  });

  it('packs into a FIFO (built, and from the cache): the reader gets the tarball', async () => {
    const dir = await folder('create-fifo');
    for (const [name, extra] of [
      ['built', ['--no-cache']],
      ['cached', []],
    ] as const) {
      const fifo = join(dir, name);
      const received = fifoWithReader(fifo);
      const result = await create(['--json', '--quiet', ...extra, 'spec.json', fifo]);
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout.toString()) as { sha256: string; size: number };
      const bytes = await received;
      expect(bytes.length).toBe(report.size);
      expect(sha256(bytes)).toBe(report.sha256);
      expect(report.sha256).toBe(cachedSha);
      expect((await lstat(fifo)).isFIFO()).toBe(true);
    }
    expect((await readdir(dir)).sort()).toEqual(['built', 'cached']);
  });

  it.runIf(isRoot)('writes the tarball and the lock into devices, which stay devices', async () => {
    const dir = await folder('create-dev');
    const out = mknod(join(dir, 'out'), 3);
    const lock = mknod(join(dir, 'lock'), 3);
    for (const extra of [['--no-cache'], []]) {
      const result = await create([...extra, '--lock-file', lock, 'spec.json', out]);
      expect(result.code, result.stderr).toBe(0);
    }
    await expectDevice(out, 3);
    await expectDevice(lock, 3);
    expect((await readdir(dir)).sort()).toEqual(['lock', 'out']);
  });

  it('writes the lock into a FIFO: the reader gets it', async () => {
    const dir = await folder('create-lock-fifo');
    const received = fifoWithReader(join(dir, 'lock'));
    const result = await create(['--lock-file', join(dir, 'lock'), 'spec.json', 'env2.tar.gz']);
    expect(result.code, result.stderr).toBe(0);
    const lock = JSON.parse((await received).toString()) as { packages: unknown[] };
    expect(lock.packages.length).toBeGreaterThan(0);
  });

  it('writes the tarball to /dev/stdout redirected to a file', async () => {
    const dir = await folder('create-stdout');
    const file = join(dir, 'env.tar.gz');
    const fd = openSync(file, 'w');
    try {
      const result = await create(['--quiet', 'spec.json', '/dev/stdout'], { stdoutFd: fd });
      expect(result.code, result.stderr).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(sha256(await readFile(file))).toBe(cachedSha);
  });

  it.runIf(isRoot)('a full device is exit 1 naming it, and stays a device', async () => {
    const dir = await folder('create-full');
    const full = mknod(join(dir, 'full'), 7);
    for (const extra of [['--no-cache'], []]) {
      const result = await create([...extra, 'spec.json', full]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('no space left on the device');
      expect(result.stderr).toContain(full);
    }
    await expectDevice(full, 7);
  });

  it('prints failures as JSON on stdout with --json, with the same status', async () => {
    await writeFile(
      join(work, 'bad.json'),
      JSON.stringify({ conda: { channels: [served.url], dependencies: [{ pipx: [] }] } }),
    );
    for (const [args, code, errorCode] of [
      [['bad.json', 'bad.tar.gz'], 1, 'ERR_SPEC'],
      [['--compress-level', '12', 'spec.json', 'x.tar.gz'], 2, 'ERR_USAGE'],
      [['spec.json', 'no/such/folder/x.tar.gz'], 1, 'ERR_OUTPUT_DIR'],
    ] as const) {
      const plain = await create([...args]);
      const json = await create(['--json', ...args]);
      expect(plain.code).toBe(code);
      expect(json.code).toBe(code);
      expect(plain.stdout.toString()).toBe('');
      const printed = JSON.parse(json.stdout.toString()) as {
        error: { code: string; message: string; hint: string | null };
      };
      expect(Object.keys(printed)).toEqual(['error']);
      expect(printed.error.code).toMatch(new RegExp(`^${errorCode}`));
      expect(plain.stderr).toContain(printed.error.message);
      expect(Object.keys(printed.error)).toEqual(['code', 'message', 'hint']);
    }
  });

  describe('an unusable TMPDIR is exit 1 naming it', () => {
    it('missing', async () => {
      const missing = join(work, 'no-such-tmp');
      const result = await create(['--no-cache', 'spec.json', 'x.tar.gz'], {
        env: { ...env, TMPDIR: missing },
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `cannot use the temporary folder ${missing} (TMPDIR): it does not exist`,
      );
      expect(result.stderr).toContain('hint: Set TMPDIR');
    });

    it.runIf(isRoot)('read-only', async (context) => {
      const dir = await folder('ro-tmp');
      if (!mountTmpfs(dir, 'ro,size=1m')) return context.skip();
      try {
        const result = await create(['--no-cache', 'spec.json', 'x.tar.gz'], {
          env: { ...env, TMPDIR: dir },
        });
        expect(result.code).toBe(1);
        expect(result.stderr).toContain(
          `cannot use the temporary folder ${dir} (TMPDIR): it is on a read-only file system`,
        );
      } finally {
        spawnSync('umount', [dir]);
      }
    });

    it.runIf(isRoot)('not writable by the user who runs it', async (context) => {
      // Root writes everywhere: run as nobody, with caches and OUT in a folder of nobody's.
      const nobody = 65534;
      const probe = spawnSync('setpriv', [
        `--reuid=${nobody}`,
        `--regid=${nobody}`,
        '--clear-groups',
        process.execPath,
        CREATE,
        '--version',
      ]);
      if (probe.status !== 0) return context.skip();
      await chmod(work, 0o755); // mkdtemp made it 0700
      const home = await folder('nobody');
      await chown(home, nobody, nobody);
      await writeFile(join(home, 'spec.json'), await readFile(join(work, 'spec.json')));
      await chmod(join(home, 'spec.json'), 0o644);
      const tmp = await folder('not-writable-tmp');
      await chmod(tmp, 0o555);
      const result = await create(['--no-cache', join(home, 'spec.json'), join(home, 'x.tar.gz')], {
        user: nobody,
        env: {
          PATH: process.env.PATH,
          HOME: home,
          XDG_CACHE_HOME: join(home, 'xdg'),
          PONCHO_PKGS_DIR: join(home, 'pkgs'),
          TMPDIR: tmp,
        },
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `cannot use the temporary folder ${tmp} (TMPDIR): it is not writable`,
      );
    });
  });

  it.runIf(isRoot)('a read-only output folder is exit 1 naming the folder', async (context) => {
    const dir = await folder('create-ro');
    if (!mountTmpfs(dir, 'ro,size=1m')) return context.skip();
    try {
      const result = await create(['spec.json', join(dir, 'env.tar.gz')]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`its folder ${dir} is on a read-only file system`);
    } finally {
      spawnSync('umount', [dir]);
    }
  });
});
