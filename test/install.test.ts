/**
 * End-to-end installs from the real test channel (test/channel), served over HTTP on 127.0.0.1
 * and read as file://: the environment must work (imports, entry points, the C program, the
 * activate.d script), carry conda's bookkeeping, and rebuild from the lock alone.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createEnvironment, installLock, solve } from '@poncho/creator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureTestChannel,
  INSTALLABLE_SPECS,
  type ServedChannel,
  serveChannel,
} from './channel/index.js';

const run = promisify(execFile);
const SPECS = INSTALLABLE_SPECS;

let channelDir: string;
let served: ServedChannel;
let work: string;

beforeAll(async () => {
  channelDir = await ensureTestChannel();
  served = await serveChannel(channelDir);
  work = await mkdtemp(join(tmpdir(), 'poncho-install-'));
});

afterAll(async () => {
  await served?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function options(name: string) {
  return {
    channels: [served.url],
    pkgsDir: join(work, name, 'pkgs'),
    cacheDir: join(work, name, 'repodata'),
  };
}

async function sh(prefix: string, script: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', script], {
    env: { PATH: '/usr/bin:/bin', PREFIX: prefix },
  });
  return stdout;
}

describe('installing the test channel', () => {
  let prefix: string;
  let result: Awaited<ReturnType<typeof createEnvironment>>;

  beforeAll(async () => {
    prefix = join(work, 'env-http');
    result = await createEnvironment(SPECS, prefix, options('http'));
  });

  it('solves to a lock with verified URLs from the served channel', () => {
    const names = result.lock.packages.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(['python', 'hello-cli', 'chain-top', 'chain-mid', 'chain-base']),
    );
    expect(names.some((n) => n.startsWith('__'))).toBe(false);
    for (const p of result.lock.packages) {
      expect(p.url.startsWith(`${served.url}/${p.subdir}/`)).toBe(true);
      expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    // chain-top needs chain-mid <2, so the solver must not take the newest chain-mid.
    expect(result.lock.packages.find((p) => p.name === 'chain-mid')?.version).toMatch(/^1\./);
    expect(result.report.packages).toBe(result.lock.packages.length);
    for (const t of Object.values(result.report.timings)) expect(t).toBeGreaterThanOrEqual(0);
  });

  it('gives a python that imports the installed libraries', async () => {
    const out = await sh(
      prefix,
      '"$PREFIX/bin/python" -c "import sys, chain_top, chain_mid, chain_base, hello_cli; print(sys.prefix)"',
    );
    expect(out.trim()).toBe(prefix);
  });

  it('byte-compiles noarch python packages and records the .pyc files', async () => {
    const pycache = join(prefix, 'lib/python3.11/site-packages/chain_top/__pycache__');
    expect((await readdir(pycache)).some((f) => f.endsWith('.cpython-311.pyc'))).toBe(true);
    const record = JSON.parse(
      await readFile(join(prefix, 'conda-meta', `${stemOf(result, 'chain-top')}.json`), 'utf8'),
    );
    expect(record.files.some((f: string) => f.endsWith('.pyc'))).toBe(true);
  });

  it('writes runnable entry points', async () => {
    const out = await sh(prefix, '"$PREFIX/bin/hello-poncho"');
    expect(out).toContain('hello from hello-cli');
    expect(out).toContain(prefix);
  });

  it('relocates the binary placeholder: the C program prints its prefix', async () => {
    const out = await sh(prefix, '"$PREFIX/bin/prefix-echo"');
    expect(out).toContain(`${prefix}/share/prefix-echo`);
    expect(out).toContain('hello from the prefix-echo data file');
    // Binary files keep their exact size.
    const cached = join(options('http').pkgsDir, stemOf(result, 'prefix-echo'), 'bin/prefix-echo');
    expect((await stat(join(prefix, 'bin/prefix-echo'))).size).toBe((await stat(cached)).size);
    const entry = result.report.prefixFiles.find((f) => f.path === 'bin/prefix-echo');
    expect(entry).toMatchObject({ mode: 'binary', package: 'prefix-echo' });
    expect(entry?.placeholder.length).toBe(255);
    expect(entry?.source).toBe(cached);
  });

  it('relocates text files, including old-style has_prefix packages', async () => {
    expect(await sh(prefix, '"$PREFIX/bin/text-config-show"')).toContain(
      `data_dir = ${prefix}/share/text-config`,
    );
    expect(await sh(prefix, '"$PREFIX/bin/legacy-tool"')).toContain('legacy data');
    expect(result.report.prefixFiles.map((f) => f.path)).toEqual(
      expect.arrayContaining(['bin/text-config-show', 'bin/legacy-tool']),
    );
  });

  it('recreates softlinks inside the prefix, copies no_link files, hard-links the rest', async () => {
    expect(await sh(prefix, '"$PREFIX/bin/softlink-demo"')).toContain('softlink target');
    expect((await lstat(join(prefix, 'share/softlink-demo/link-to-dir'))).isSymbolicLink()).toBe(
      true,
    );
    expect((await stat(join(prefix, 'share/legacy-oldstyle/no-link.txt'))).nlink).toBe(1);
    expect((await stat(join(prefix, 'share/legacy-oldstyle/data.txt'))).nlink).toBeGreaterThan(1);
  });

  it('sets the activate.d variables when the environment is activated', async () => {
    const out = await sh(
      prefix,
      'export CONDA_PREFIX="$PREFIX"; for f in "$PREFIX"/etc/conda/activate.d/*.sh; do . "$f"; done; echo "$ACTIVATE_DEMO_HOME"',
    );
    expect(out.trim()).toBe(`${prefix}/share/activate-demo`);
  });

  it('writes conda-meta records and history as conda does', async () => {
    const history = await readFile(join(prefix, 'conda-meta/history'), 'utf8');
    expect(history).toMatch(/^==> \d{4}-\d\d-\d\d \d\d:\d\d:\d\d <==$/m);
    expect(history).toContain(`+${served.url}/noarch::hello-cli-1.0.0-pyh_test_0`);
    expect(history).toContain("# update specs: ['python 3.11.*', 'hello-cli',");
    const python = JSON.parse(
      await readFile(join(prefix, 'conda-meta', `${stemOf(result, 'python')}.json`), 'utf8'),
    );
    expect(python).toMatchObject({
      name: 'python',
      requested_spec: 'python 3.11.*',
      channel: served.url,
    });
    expect(python.files).toContain('bin/python3.11');
    expect(python.link).toEqual({
      source: join(options('http').pkgsDir, stemOf(result, 'python')),
      type: 1,
    });
    expect(python.paths_data.paths_version).toBe(1);
    const metas = (await readdir(join(prefix, 'conda-meta'))).filter((f) => f.endsWith('.json'));
    expect(metas).toHaveLength(result.lock.packages.length);
  });

  it('rebuilds the same environment from the lock alone, from a file:// channel', async () => {
    const second = join(work, 'env-from-lock');
    const lock = {
      ...result.lock,
      packages: result.lock.packages.map((p) => ({
        ...p,
        url: p.url.replace(served.url, `file://${channelDir}`),
      })),
    };
    const report = await installLock(lock, second, {
      channels: [],
      pkgsDir: join(work, 'lock-pkgs'),
    });
    expect(report.packages).toBe(lock.packages.length);
    expect(await sh(second, '"$PREFIX/bin/hello-poncho"')).toContain(second);
  });
});

describe('a prefix longer than the 127-character shebang limit', () => {
  it('rewrites long shebangs (text placeholders and entry points) so the scripts still run', async () => {
    const prefix = join(work, 'long', 'x'.repeat(70), 'y'.repeat(70), 'env');
    expect(prefix.length).toBeGreaterThan(150);
    await createEnvironment(['python 3.11.*', 'hello-cli', 'text-config'], prefix, options('http'));
    expect((await sh(prefix, '"$PREFIX/bin/text-config-python"')).trim()).toBe(prefix);
    expect(await sh(prefix, '"$PREFIX/bin/hello-poncho"')).toContain(prefix);
    expect(
      (await readFile(join(prefix, 'bin/hello-poncho'), 'utf8')).startsWith('#!/bin/sh\n'),
    ).toBe(true);
  });

  it('refuses a prefix longer than a binary placeholder, leaving no prefix behind', async () => {
    const prefix = join(work, 'z'.repeat(130), 'z'.repeat(130));
    await expect(createEnvironment(['prefix-echo'], prefix, options('http'))).rejects.toMatchObject(
      { code: 'ERR_PREFIX_TOO_LONG' },
    );
    await expect(stat(prefix)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('caches', () => {
  it('a second solve does not download repodata again; a warm package cache downloads nothing', async () => {
    const opts = options('caches');
    const before = served.requests.length;
    await solve(['hello-cli'], opts);
    // The channel serves CEP-16 shards: the index and the reached shards are fetched.
    const isRepodata = (r: string) => r.includes('/repodata') || r.includes('/shards/');
    const firstRequests = served.requests.slice(before).filter(isRepodata);
    expect(firstRequests.length).toBeGreaterThan(0);
    const mid = served.requests.length;
    const { report } = await createEnvironment(['hello-cli'], join(work, 'env-cache-1'), opts);
    const repodataAgain = served.requests
      .slice(mid)
      .filter((r) => isRepodata(r) && / 200$/.test(r));
    expect(repodataAgain).toEqual([]);
    expect(report.downloadedPackages).toBeGreaterThan(0);
    const warm = await createEnvironment(['hello-cli'], join(work, 'env-cache-2'), opts);
    expect(warm.report.downloadedPackages).toBe(0);
    expect(warm.report.extractedPackages).toBe(0);
  });

  it('works offline from the caches, and says what is missing otherwise', async () => {
    const opts = options('caches');
    const { report } = await createEnvironment(['hello-cli'], join(work, 'env-offline'), {
      ...opts,
      offline: true,
    });
    expect(report.downloadedPackages).toBe(0);
    await expect(
      solve(['hello-cli'], { ...options('empty-offline'), offline: true }),
    ).rejects.toMatchObject({
      code: 'ERR_OFFLINE_NO_CACHE',
      message: expect.stringContaining(served.url),
    });
  });
});

describe('errors', () => {
  it('an unsatisfiable spec names the package, the constraint and the channel', async () => {
    const error = await solve(['needs-missing'], options('errors')).catch((e) => e);
    expect(error.code).toBe('ERR_UNSATISFIABLE');
    expect(error.message).toContain('no-such-package');
    expect(error.message).toContain('>=1');
    expect(error.message).toContain(served.url);
    const version = await solve(['chain-top >=5'], options('errors')).catch((e) => e);
    expect(version.message).toMatch(/chain-top >=5.*has chain-top 1\.0\.0/);
  });

  it('an unknown channel and an unreachable server are errors naming the URL', async () => {
    await expect(
      solve(['x'], { ...options('errors'), channels: [`${served.url}/nope`] }),
    ).rejects.toMatchObject({
      code: 'ERR_CHANNEL_NOT_FOUND',
      message: expect.stringContaining(`${served.url}/nope`),
    });
    await expect(
      solve(['x'], { ...options('errors'), channels: ['http://127.0.0.1:9/none'] }),
    ).rejects.toMatchObject({
      code: 'ERR_NETWORK',
      message: expect.stringContaining('http://127.0.0.1:9/none/'),
    });
  });

  it('solves for another platform without running anything from it', async () => {
    const lock = await solve(['generic-data'], { ...options('osx'), platform: 'osx-arm64' });
    expect(lock.platform).toBe('osx-arm64');
    expect(lock.packages.map((p) => p.name)).toContain('generic-data');
    const prefix = join(work, 'env-osx');
    const { report } = await createEnvironment(['generic-data'], prefix, {
      ...options('osx'),
      platform: 'osx-arm64',
    });
    expect(report.timings.compileMs).toBe(0);
    expect(await readFile(join(prefix, 'conda-meta/history'), 'utf8')).toContain(
      '::generic-data-1.0.0-h_test_0',
    );
  });

  it('a too old __glibc override makes the C package unsatisfiable, naming __glibc', async () => {
    const error = await solve(['prefix-echo'], {
      ...options('errors'),
      virtualPackages: { __glibc: '2.5' },
    }).catch((e) => e);
    expect(error.code).toBe('ERR_UNSATISFIABLE');
    expect(error.message).toContain('__glibc >=2.17');
    expect(error.hint).toContain('CONDA_OVERRIDE_GLIBC');
  });
});

function stemOf(
  result: { lock: { packages: Array<{ name: string; fileName: string }> } },
  name: string,
): string {
  const pkg = result.lock.packages.find((p) => p.name === name);
  if (!pkg) throw new Error(`${name} not in the lock`);
  return pkg.fileName.replace(/\.(conda|tar\.bz2)$/, '');
}
