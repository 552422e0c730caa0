/**
 * poncho_package_create end to end, with the real test channel (served over HTTP), the real
 * embedded installer and the real runners:
 * - the seeds' three-step test: analyze hi.py, create the tarball, run hi.py from it unpacked
 *   at a longer path (our runner), with the reference's python_package_run, and the conda-pack
 *   way (tar + bin/conda-unpack, no tools of ours);
 * - determinism, the tarball cache, lock files, the pip section from a local wheel folder,
 *   git and http data sections, failures, SIGINT, concurrent creates.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestChannel, type ServedChannel, serveChannel } from './channel/index.js';
import { isolatedEnv } from './support/node-cli.js';
import { writeWheel } from './support/wheels.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const CREATE = join(ROOT, 'packages/creator/bin/poncho_package_create.js');
const ANALYZE = join(ROOT, 'packages/analyzer/bin/poncho_package_analyze.js');
const RUNNER = join(ROOT, 'packages/runner/bin/poncho_package_run.cjs');
const REFERENCE = '/usr/bin/python_package_run';

let served: ServedChannel;
let work: string;
let env: NodeJS.ProcessEnv;
let dataServer: Server;
let dataUrl: string;

interface Created {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs poncho_package_create; never throws on a non-zero exit. */
function create(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Created> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [CREATE, ...args],
      { cwd: options.cwd ?? work, env: options.env ?? env, maxBuffer: 1 << 24 },
      (error, stdout, stderr) => {
        done({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

async function createJson(args: string[]) {
  const result = await create(['--json', ...args]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as {
    path: string;
    size: number;
    sha256: string;
    packages: number;
    cached: boolean;
    lockFile?: string;
  };
}

async function leftovers(): Promise<string[]> {
  return (await readdir(join(work, 'tmp'))).filter((name) => name.startsWith('poncho-'));
}

beforeAll(async () => {
  served = await serveChannel(await ensureTestChannel());
  work = await mkdtemp(join(tmpdir(), 'poncho-create-'));
  await mkdir(join(work, 'tmp'));
  env = isolatedEnv(work);
  // Files for the http data sections, and one URL that never answers (for SIGINT).
  const files = join(work, 'www');
  await mkdir(join(files, 'set'), { recursive: true });
  await writeFile(join(files, 'reference.dat'), 'reference data\n');
  await writeFile(join(files, 'set', 'a.txt'), 'member a\n');
  await run('tar', ['-czf', join(files, 'set.tar.gz'), '-C', files, 'set']);
  dataServer = createServer((request, response) => {
    if (request.url === '/never') return; // hangs until the client gives up
    readFile(join(files, (request.url ?? '/').slice(1)))
      .then((data) => response.end(data))
      .catch(() => response.writeHead(404).end());
  });
  await new Promise<void>((ready) => dataServer.listen(0, '127.0.0.1', ready));
  dataUrl = `http://127.0.0.1:${(dataServer.address() as AddressInfo).port}`;
});

afterAll(async () => {
  dataServer?.closeAllConnections();
  await new Promise((done) => dataServer?.close(done));
  await served?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the seeds' three-step test", () => {
  let tarball: string;
  let firstSha: string;

  beforeAll(async () => {
    await writeFile(join(work, 'hi.py'), 'import chain_top\nprint("hi", chain_top.chain())\n');
    await run(
      process.execPath,
      [
        ANALYZE,
        '--no-env',
        '--channel',
        served.url,
        '--python-version',
        '3.11',
        '--pkg-mapping',
        'chain_top=chain-top',
        'hi.py',
        'output.json',
      ],
      { cwd: work, env },
    );
    const result = await createJson(['--lock-file', 'env.lock.json', 'output.json', 'venv.tar.gz']);
    tarball = join(work, 'venv.tar.gz');
    firstSha = result.sha256;
    expect(result).toMatchObject({
      path: tarball,
      cached: false,
      lockFile: join(work, 'env.lock.json'),
    });
    expect(result.packages).toBeGreaterThanOrEqual(5);
  });

  it('runs hi.py with our runner, unpacked at a longer path', async () => {
    const longer = join(work, 'worker', 'x'.repeat(120), 'env');
    const { stdout } = await run(
      process.execPath,
      [RUNNER, '--unpack-to', longer, '--environment', tarball, 'python3', 'hi.py'],
      { cwd: work, env },
    );
    expect(stdout).toBe("hi ['chain-top 1.0.0', 'chain-mid 1.5.0', 'chain-base 2.1.0']\n");
  });

  it.skipIf(!existsSync(REFERENCE))(
    "runs hi.py with the reference's python_package_run",
    async () => {
      const { stdout } = await run(REFERENCE, ['-e', tarball, 'python3', 'hi.py'], {
        cwd: work,
        env,
      });
      expect(stdout).toBe("hi ['chain-top 1.0.0', 'chain-mid 1.5.0', 'chain-base 2.1.0']\n");
    },
  );

  it('works the conda-pack way, with no tools of ours', async () => {
    const dir = join(work, 'conda-pack-way', 'y'.repeat(150));
    await mkdir(dir, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', dir]);
    await run(join(dir, 'bin/python'), [join(dir, 'bin/conda-unpack')]);
    const { stdout } = await run(
      'bash',
      ['-c', `source "${dir}/bin/activate" && python hi.py && command -v pip && pip --version`],
      { cwd: work, env: { PATH: '/usr/bin:/bin' } },
    );
    expect(stdout.split('\n').slice(0, 2)).toEqual([
      "hi ['chain-top 1.0.0', 'chain-mid 1.5.0', 'chain-base 2.1.0']",
      `${dir}/bin/pip`,
    ]);
    expect(stdout).toContain(`from ${dir}/lib/python3.11/site-packages/pip`);
  });

  it('works for TaskVine: tar xf, then bin/run_in_env', async () => {
    const dir = join(work, 'taskvine', 'out');
    await mkdir(dir, { recursive: true });
    await run('tar', ['-xf', tarball, '-C', dir]);
    const { stdout } = await run(join(dir, 'bin/run_in_env'), ['python3', 'hi.py'], {
      cwd: work,
      env,
    });
    expect(stdout).toBe("hi ['chain-top 1.0.0', 'chain-mid 1.5.0', 'chain-base 2.1.0']\n");
    expect(await run('tar', ['-xzOf', tarball, 'conda_spec.yml']).then((r) => r.stdout)).toContain(
      'chain-top',
    );
  });

  it('is byte-identical when built twice into different folders', async () => {
    await mkdir(join(work, 'a'));
    await mkdir(join(work, 'b'));
    const a = await createJson(['--no-cache', 'output.json', 'a/venv.tar.gz']);
    const b = await createJson(['--no-cache', '--threads', '1', 'output.json', 'b/venv.tar.gz']);
    expect(a.sha256).toBe(firstSha);
    expect(b.sha256).toBe(firstSha);
    expect(
      (await readFile(join(work, 'a/venv.tar.gz'))).equals(
        await readFile(join(work, 'b/venv.tar.gz')),
      ),
    ).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it('serves the cache on the second create, and rebuilds with --force', async () => {
    const hit = await createJson(['output.json', 'again.tar.gz']);
    expect(hit).toMatchObject({ cached: true, sha256: firstSha });
    const human = await create(['output.json', 'again2.tar.gz']);
    expect(human.stderr).toMatch(/served from the cache in \d+ ms/);
    const forced = await createJson(['--force', 'output.json', 'again.tar.gz']);
    expect(forced).toMatchObject({ cached: false, sha256: firstSha });
  });

  it('skips byte-compilation with --no-compile, and caches that tarball apart', async () => {
    const listing = async (file: string) =>
      (await run('tar', ['-tzf', join(work, file)], { maxBuffer: 1 << 26 })).stdout;
    const compiled = await listing('venv.tar.gz');
    expect(compiled).toMatch(/site-packages\/chain_top\/__pycache__\/__init__\.cpython-311\.pyc/);
    const plain = await createJson(['--no-compile', 'output.json', 'plain.tar.gz']);
    expect(plain.cached).toBe(false);
    expect(plain.sha256).not.toBe(firstSha);
    expect(await listing('plain.tar.gz')).not.toMatch(/site-packages\/chain_top\/__pycache__/);
  });

  it('rebuilds from the lock file without solving, to the same bytes', async () => {
    const lock = JSON.parse(await readFile(join(work, 'env.lock.json'), 'utf8'));
    expect(lock.packages.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['python', 'pip', 'chain-top', 'chain-mid', 'chain-base']),
    );
    for (const pkg of lock.packages) {
      expect(pkg.url.startsWith(served.url)).toBe(true);
      expect(pkg.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    const before = served.requests.length;
    const rebuilt = await createJson(['--no-cache', 'env.lock.json', 'from-lock.tar.gz']);
    expect(served.requests.slice(before).filter((r) => r.includes('repodata'))).toEqual([]);
    expect(rebuilt.sha256).toBe(firstSha);
  });
});

describe('pip section and data sections', () => {
  let tarball: string;
  let lock: { pip: string[] };

  beforeAll(async () => {
    const project = join(work, 'project');
    await mkdir(join(project, 'wheels'), { recursive: true });
    await mkdir(join(project, 'local'), { recursive: true });
    // Wheels we write (no PyPI here): greet from a --find-links folder, shout as a local path.
    await writeWheel(
      join(project, 'wheels'),
      'greet',
      '1.0',
      'def hello():\n    return "hello from greet"\n',
    );
    await writeWheel(
      join(project, 'local'),
      'shout',
      '2.0',
      'def shout(s):\n    return s.upper()\n',
    );
    // A git repository with a branch.
    const repo = join(work, 'repo');
    await mkdir(repo);
    const git = (...args: string[]) =>
      run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args]);
    await git('init', '--quiet', '-b', 'main');
    await writeFile(join(repo, 'data.txt'), 'from git\n');
    await git('add', 'data.txt');
    await git('commit', '--quiet', '-m', 'data');
    await writeFile(
      join(project, 'spec.json'),
      JSON.stringify({
        conda: {
          channels: [served.url],
          dependencies: [
            'python=3.11',
            'pip',
            { pip: ['greet==1.0', './local/shout-2.0-py3-none-any.whl'] },
          ],
        },
        git: { REPO: { remote: repo, ref: 'main' } },
        http: {
          REFERENCE_DB: { url: `${dataUrl}/reference.dat`, type: 'file' },
          TRAINING_SET: { url: `${dataUrl}/set.tar.gz`, type: 'tar', compression: 'gzip' },
        },
      }),
    );
    const result = await createJson([
      '--find-links',
      join(project, 'wheels'),
      '--no-pip-index',
      '--lock-file',
      'pip.lock.json',
      'project/spec.json',
      'data-env.tar.gz',
    ]);
    tarball = result.path;
    lock = JSON.parse(await readFile(join(work, 'pip.lock.json'), 'utf8'));
  });

  it('installs the pip section with the environment pip and pins it in the lock', async () => {
    const dir = join(work, 'pip-run');
    const { stdout } = await run(
      process.execPath,
      [
        RUNNER,
        '-u',
        dir,
        '-e',
        tarball,
        'python3',
        '-c',
        'import greet, shout; print(shout.shout(greet.hello()), greet.__file__)',
      ],
      { env },
    );
    expect(stdout).toBe(`HELLO FROM GREET ${dir}/lib/python3.11/site-packages/greet/__init__.py\n`);
    // Each pin with the sha256 of the wheel pip installed (a rebuild checks it).
    const sha = async (path: string) =>
      createHash('sha256')
        .update(await readFile(join(work, 'project', path)))
        .digest('hex');
    expect(lock.pip).toEqual([
      `greet==1.0 --hash=sha256:${await sha('wheels/greet-1.0-py3-none-any.whl')}`,
      `shout @ file://${join(work, 'project/local/shout-2.0-py3-none-any.whl')} --hash=sha256:${await sha('local/shout-2.0-py3-none-any.whl')}`,
    ]);
  });

  it('carries the git and http data inside the tarball, exported on activation', async () => {
    const dir = join(work, 'data-run', 'env');
    await mkdir(dir, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', dir]);
    const { stdout } = await run(
      join(dir, 'bin/run_in_env'),
      ['sh', '-c', 'cat "$REPO/data.txt" "$REFERENCE_DB" "$TRAINING_SET/set/a.txt"; echo "$REPO"'],
      { env },
    );
    expect(stdout).toBe(`from git\nreference data\nmember a\n${dir}/share/poncho-data/REPO\n`);
    expect(existsSync(join(dir, 'share/poncho-data/REPO/.git'))).toBe(false);
    // poncho_package_run (Node) sources the same activation script.
    const viaRunner = await run(
      process.execPath,
      [RUNNER, '-e', tarball, 'sh', '-c', 'cat "$REPO/data.txt" "$REFERENCE_DB"'],
      { env },
    );
    expect(viaRunner.stdout).toBe('from git\nreference data\n');
  });
});

describe('binary relocation and other SPEC kinds', () => {
  let tarball: string;

  beforeAll(async () => {
    const spec = JSON.stringify({
      conda: {
        channels: [served.url],
        dependencies: ['python=3.11', 'prefix-echo', 'text-config'],
      },
    });
    // The spec on stdin.
    const child = spawn(process.execPath, [CREATE, '--json', '-', 'binary.tar.gz'], {
      cwd: work,
      env,
    });
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stdin.end(spec);
    expect(await new Promise((done) => child.on('exit', done))).toBe(0);
    tarball = JSON.parse(stdout).path;
  });

  it('relocates a compiled program to a 200-character path', async () => {
    const base = join(work, 'b200-');
    const dir = base + 'z'.repeat(200 - base.length);
    expect(dir.length).toBe(200);
    const { stdout } = await run(
      process.execPath,
      [RUNNER, '-u', dir, '-e', tarball, 'prefix-echo'],
      { env },
    );
    expect(stdout).toBe(`${dir}/share/prefix-echo\nhello from the prefix-echo data file\n`);
  });

  it('packs an existing environment folder as it is, and it moves again', async () => {
    const first = join(work, 'existing', 'env');
    await mkdir(first, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', first]);
    await run(join(first, 'bin/conda-unpack'), []);
    const repacked = await createJson([first, 'repacked.tar.gz']);
    expect(repacked.cached).toBe(false);
    expect(repacked.packages).toBeGreaterThanOrEqual(3);
    const second = join(work, 'moved', 'w'.repeat(150));
    const { stdout } = await run(
      process.execPath,
      [RUNNER, '-u', second, '-e', repacked.path, 'prefix-echo'],
      { env },
    );
    expect(stdout).toBe(`${second}/share/prefix-echo\nhello from the prefix-echo data file\n`);
  });
});

describe('credentials in URLs', () => {
  it('uses them to fetch, and never shows them: logs, errors, lock file, tarball', async () => {
    const secret = 's3cr3t-t0ken';
    const withToken = (url: string) => url.replace('http://', `http://alice:${secret}@`);
    const channel = withToken(served.url);
    await writeFile(
      join(work, 'private.json'),
      JSON.stringify({
        conda: { channels: [channel], dependencies: ['python=3.11', 'text-config'] },
        http: { REFERENCE_DB: { url: withToken(`${dataUrl}/reference.dat`), type: 'file' } },
      }),
    );
    const built = await create([
      '--debug',
      '--no-cache',
      '--lock-file',
      'private.lock.json',
      'private.json',
      'private.tar.gz',
    ]);
    expect(built.code).toBe(0);
    expect(built.stderr).toContain('***@127.0.0.1');
    const unpacked = join(work, 'private-env');
    await mkdir(unpacked);
    await run('tar', ['-xzf', join(work, 'private.tar.gz'), '-C', unpacked]);
    const grep = await run('grep', [
      '-rl',
      secret,
      unpacked,
      join(work, 'private.lock.json'),
    ]).catch((error: { code: number; stdout: string }) => error);
    expect(grep).toMatchObject({ code: 1, stdout: '' }); // grep: no match
    expect(built.stderr).not.toContain(secret);
    // The lock file lost them: a rebuild needs the channel again.
    const lock = JSON.parse(await readFile(join(work, 'private.lock.json'), 'utf8'));
    delete lock.ponchoSpec.http;
    await writeFile(join(work, 'private2.lock.json'), JSON.stringify(lock));
    const without = await create(['--no-cache', 'private2.lock.json', 'private2.tar.gz']);
    expect(without.code).toBe(1);
    expect(without.stderr).toContain('whose credentials were left out of the lock file');
    expect(without.stderr).toContain('--channel with USER:TOKEN@');
    const again = await create([
      '--no-cache',
      '-c',
      channel,
      'private2.lock.json',
      'private2.tar.gz',
    ]);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain(secret);
    // An error naming the URL shows it without them.
    await writeFile(
      join(work, 'private-404.json'),
      JSON.stringify({
        conda: { channels: [channel], dependencies: ['python=3.11'] },
        http: { GONE: { url: withToken(`${dataUrl}/gone.dat`), type: 'file' } },
      }),
    );
    const failed = await create(['--debug', '--no-cache', 'private-404.json', 'gone.tar.gz']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('http://***@127.0.0.1');
    expect(failed.stderr).toContain('answered 404');
    expect(failed.stderr).not.toContain(secret);
  });
});

describe('failures', () => {
  it('reports a solver error, writes nothing and removes the build', async () => {
    await writeFile(
      join(work, 'unsolvable.json'),
      JSON.stringify({
        conda: { channels: [served.url], dependencies: ['python=3.11', 'no-such-package'] },
      }),
    );
    const result = await create(['unsolvable.json', 'unsolvable.tar.gz']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no-such-package');
    expect(existsSync(join(work, 'unsolvable.tar.gz'))).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  it('refuses an OUT it cannot write, before building', async () => {
    await writeFile(join(work, 'a-file'), 'x');
    const result = await create(['output.json', 'a-file/env.tar.gz']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/error: not a folder: .*a-file/);
    // A name promising another format would get gzip data under a false name.
    const zip = await create(['output.json', 'env.tar.bz2']);
    expect(zip.code).toBe(1);
    expect(zip.stderr).toContain('a .tar.bz2 file is not a format');
    expect(zip.stderr).toContain('.tar.gz (or .tgz)');
  });

  it('names the wrong spec field, and exits 2 on a usage error', async () => {
    await writeFile(
      join(work, 'bad.json'),
      JSON.stringify({ conda: { channels: [served.url], dependencies: [{ pipx: [] }] } }),
    );
    const bad = await create(['bad.json', 'bad.tar.gz']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('field conda.dependencies[0]');
    const usage = await create(['output.json']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("missing required argument 'OUT'");
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('cleans up on %s and exits %i', async (signal, status) => {
    await writeFile(
      join(work, 'hangs.json'),
      JSON.stringify({
        conda: { channels: [served.url], dependencies: ['python=3.11'] },
        http: { SLOW: { url: `${dataUrl}/never`, type: 'file' } },
      }),
    );
    const child = spawn(process.execPath, [CREATE, '--no-cache', 'hangs.json', 'hangs.tar.gz'], {
      cwd: work,
      env,
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    // Wait until the build prefix holds the environment and the download hangs.
    for (let i = 0; i < 2400 && !stderr.includes('http data SLOW'); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stderr).toContain('http data SLOW');
    expect(await leftovers()).not.toEqual([]);
    child.kill(signal);
    const code = await new Promise<number | null>((done) => child.on('exit', done));
    expect(code).toBe(status);
    expect(stderr).toContain(`interrupted by ${signal}`);
    expect(existsSync(join(work, 'hangs.tar.gz'))).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  /** Starts a create, waits for `phase` in its log (and `until`), and kills it with SIGKILL. */
  async function killDuring(
    phase: string,
    args: string[],
    childEnv: NodeJS.ProcessEnv,
    until: () => Promise<boolean> = async () => true,
  ) {
    const child = spawn(process.execPath, [CREATE, ...args], { cwd: work, env: childEnv });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    for (let i = 0; i < 2400 && child.exitCode === null; i++) {
      if (stderr.includes(phase) && (await until())) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(stderr).toContain(phase);
    expect(child.exitCode).toBe(null);
    child.kill('SIGKILL');
    await new Promise((done) => child.on('exit', done));
    return stderr;
  }

  it('recovers at once from a create killed with SIGKILL while installing or packing', async () => {
    await writeFile(
      join(work, 'killed.json'),
      JSON.stringify({
        conda: { channels: [served.url], dependencies: ['python=3.11', 'pip', 'text-config'] },
      }),
    );
    // A cold package cache, so that the kill lands while package locks are held.
    const killEnv = { ...env, PONCHO_PKGS_DIR: join(work, 'killed-pkgs') };
    const cacheDir = join(work, 'killed-cache');
    const args = ['--cache-dir', cacheDir, 'killed.json', 'killed.tar.gz'];
    await killDuring('installing', ['--jobs', '1', ...args], killEnv);
    // This one also proves the recovery from the first: it gets past the dead process's
    // build and package locks without waiting for them to go stale.
    const packing = await killDuring(
      'packing',
      ['--compress-level', '9', '--threads', '1', '--no-cache', 'killed.json', 'killed.tar.gz'],
      killEnv,
      async () => (await readdir(work)).some((n) => n.startsWith('.killed.tar.gz.tmp-')),
    );
    expect(packing).not.toContain('waiting for');
    // The leftovers of both: the build folder and its lock, tarball-cache and package locks,
    // and a partial OUT (made old: only a quiet one of a dead process is removed).
    expect(await leftovers()).not.toEqual([]);
    const partial = (await readdir(work)).filter((n) => n.startsWith('.killed.tar.gz.tmp-'));
    expect(partial).not.toEqual([]);
    const old = new Date(Date.now() - 3600_000);
    for (const name of partial) await utimes(join(work, name), old, old);
    // A lock's stale time is a minute: the rerun takes over the dead process's locks at once
    // (it would say "waiting for ..." otherwise).
    const result = await create(args);
    expect(result.stderr).not.toContain('waiting for');
    expect(result.stderr).toContain('built in');
    expect(result.code).toBe(0);
    const pkgsLeft = (await readdir(join(work, 'killed-pkgs'))).filter(
      (n) =>
        n.endsWith('.lock') ||
        n.endsWith('.owner') ||
        n.includes('.part-') ||
        n.includes('.extract-'),
    );
    expect(pkgsLeft).toEqual([]);
    expect(
      (await readdir(cacheDir)).filter((n) => !/^[0-9a-f]{64}\.(tar\.gz|json|lock\.json)$/.test(n)),
    ).toEqual([]);
    expect((await readdir(work)).filter((n) => n.startsWith('.killed.tar.gz.tmp-'))).toEqual([]);
    expect(await leftovers()).toEqual([]);
    const { stdout } = await run(
      process.execPath,
      [RUNNER, '-e', join(work, 'killed.tar.gz'), 'python3', '-c', 'print(42)'],
      { env },
    );
    expect(stdout).toBe('42\n');
  });

  it('reports a full disk with the folder to move, and leaves nothing behind', async (context) => {
    // A 2 MB file system; only where this user may mount one (root in CI containers).
    const small = join(work, 'small-disk');
    await mkdir(small);
    const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]).then(
      () => true,
      () => false,
    );
    if (!mounted) return context.skip();
    await writeFile(
      join(work, 'small.json'),
      JSON.stringify({ conda: { channels: [served.url], dependencies: ['python=3.11'] } }),
    );
    try {
      const asOut = await create(['small.json', join(small, 'env.tar.gz')]);
      expect(asOut.code).toBe(1);
      expect(asOut.stderr).toContain('no space left on the device');
      const asTmp = await create(['--no-cache', 'small.json', 'full.tar.gz'], {
        env: { ...env, TMPDIR: small },
      });
      expect(asTmp.code).toBe(1);
      expect(asTmp.stderr).toContain(`hint: Free some disk space in ${small}, or set TMPDIR`);
      const asCache = await create([
        '--force',
        '--cache-dir',
        join(small, 'c'),
        'small.json',
        'full.tar.gz',
      ]);
      expect(asCache.code).toBe(1);
      expect(asCache.stderr).toContain('--cache-dir on a larger disk, or --no-cache');
      expect(await readdir(small)).toEqual(['c']);
      expect(await readdir(join(small, 'c'))).toEqual([]);
      expect(existsSync(join(work, 'full.tar.gz'))).toBe(false);
    } finally {
      await run('umount', [small]);
    }
  });

  it('says which backend is missing', async () => {
    const result = await create(['--backend', 'micromamba', 'output.json', 'mm.tar.gz'], {
      env: { ...env, PATH: '/usr/bin:/bin' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--backend micromamba: no micromamba executable found on PATH');
    expect(result.stderr).toContain('--backend embedded');
  });
});

it('builds once when two creates of one spec run together', async () => {
  await writeFile(
    join(work, 'twice.json'),
    JSON.stringify({
      conda: { channels: [served.url], dependencies: ['python=3.11', 'hello-cli'] },
    }),
  );
  const [one, two] = await Promise.all([
    createJson(['twice.json', 'twice-1.tar.gz']),
    createJson(['twice.json', 'twice-2.tar.gz']),
  ]);
  expect([one.cached, two.cached].sort()).toEqual([false, true]);
  expect(one.sha256).toBe(two.sha256);
});

it('is also installed as python_package_create', async () => {
  const { stdout } = await run(process.execPath, [
    join(ROOT, 'packages/creator/bin/python_package_create.js'),
    '--help',
  ]);
  expect(stdout).toContain('Usage: python_package_create [options] SPEC OUT');
});
