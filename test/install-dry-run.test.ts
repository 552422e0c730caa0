/**
 * `poncho_package_create --dry-run` (solve only: the plan on stdout, --json, --lock-file; no
 * download, no tarball, OUT optional) and the tarball cache keyed on the solved lock: a channel
 * that withdraws a build gives a new tarball, not the cached one. Real test channel, real CLI.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTarball } from '@poncho/creator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestChannel, writeCompressedRepodata, writeShards } from './channel/index.js';

const run = promisify(execFile);
const CLI = join(__dirname, '..', 'packages', 'creator', 'bin', 'poncho_package_create.js');

let channelDir: string;
let work: string;

beforeAll(async () => {
  channelDir = await ensureTestChannel();
  work = await mkdtemp(join(tmpdir(), 'poncho-dry-run-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function cli(args: string[]) {
  const env = {
    ...process.env,
    PONCHO_REPODATA_DIR: join(work, 'repodata'),
    PONCHO_PKGS_DIR: join(work, 'pkgs'),
    PONCHO_CACHE_DIR: join(work, 'tarballs'),
  };
  return run(process.execPath, [CLI, ...args], { env }).catch(
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

describe('--dry-run', () => {
  it('prints the plan and writes the lock, downloading and packing nothing', async () => {
    const spec = join(work, 'spec.json');
    await writeFile(
      spec,
      JSON.stringify({
        conda: { channels: [channelDir], dependencies: ['python 3.11.*', 'chain-top'] },
      }),
    );
    const text = await cli(['--dry-run', spec]);
    expect(text.stdout).toMatch(/^chain-base\s+2\.1\.0\s+pyh_test_1\s/m);
    expect(text.stdout).toMatch(/^python\s+3\.11\.2\s/m);
    expect(text.stdout).toMatch(/4 packages; download \d+\.\d MB/);
    expect(text.stdout).toContain('dry run: nothing was downloaded, installed or packed');

    const lockFile = join(work, 'env.lock.json');
    const json = await cli(['--dry-run', '--json', '--lock-file', lockFile, spec]);
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ dryRun: true, fromLock: false, lockFile });
    expect(plan.packages.map((p: { name: string }) => p.name)).toEqual([
      'chain-base',
      'chain-mid',
      'chain-top',
      'python',
    ]);
    expect(plan.downloadBytes).toBe(plan.totalBytes);
    expect(plan.downloadBytes).toBeGreaterThan(0);
    const lock = JSON.parse(await readFile(lockFile, 'utf8'));
    expect(lock.packages.map((p: { name: string }) => p.name)).toEqual(
      plan.packages.map((p: { name: string }) => p.name),
    );
    // Nothing downloaded, no tarball anywhere.
    expect(await readdir(join(work, 'pkgs')).catch(() => [])).toEqual([]);
    expect(await readdir(join(work, 'tarballs')).catch(() => [])).toEqual([]);

    // The lock itself is a SPEC for --dry-run: no solve, same plan.
    const fromLock = JSON.parse((await cli(['--dry-run', '--json', lockFile])).stdout);
    expect(fromLock.fromLock).toBe(true);
    expect(fromLock.packages).toEqual(plan.packages);
  });

  it('still needs OUT without --dry-run, and refuses an environment folder', async () => {
    const missing = (await cli([join(work, 'spec.json')])) as { code: number; stderr: string };
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'OUT'");
    const prefix = join(work, 'prefix');
    await mkdir(join(prefix, 'conda-meta'), { recursive: true });
    const refused = (await cli(['--dry-run', prefix])) as { code: number; stderr: string };
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--dry-run has nothing to solve');
  });
});

describe('the tarball cache follows the channel', () => {
  it('serves the cache while the solve is the same, rebuilds when the channel withdrew a build', async () => {
    const channel = join(work, 'withdrawing');
    await cp(channelDir, channel, { recursive: true });
    const spec = join(work, 'withdraw-spec.json');
    await writeFile(
      spec,
      JSON.stringify({ conda: { channels: [channel], dependencies: ['chain-top'] } }),
    );
    const options = {
      cacheDir: join(work, 'withdraw-tarballs'),
      pkgsDir: join(work, 'withdraw-pkgs'),
      repodataDir: join(work, 'withdraw-repodata'),
      compile: false,
    };
    const chainBase = (result: { lock?: { packages: Array<{ name: string; build: string }> } }) =>
      result.lock?.packages.find((p) => p.name === 'chain-base')?.build;
    const first = await createTarball(spec, join(work, 'w1.tar.gz'), options);
    expect(first.cached).toBe(false);
    expect(chainBase(first)).toBe('pyh_test_1');
    const second = await createTarball(spec, join(work, 'w2.tar.gz'), options);
    expect(second.cached).toBe(true);

    // The channel withdraws chain-base 2.1.0 build 1: the same spec now solves to build 0.
    const noarch = join(channel, 'noarch');
    const repodata = JSON.parse(await readFile(join(noarch, 'repodata.json'), 'utf8'));
    delete repodata['packages.conda']['chain-base-2.1.0-pyh_test_1.conda'];
    await writeFile(join(noarch, 'repodata.json'), JSON.stringify(repodata));
    await writeCompressedRepodata(noarch);
    await writeShards(noarch, repodata);

    const third = await createTarball(spec, join(work, 'w3.tar.gz'), options);
    expect(third.cached).toBe(false);
    expect(chainBase(third)).toBe('pyh_test_0');
    expect(third.sha256).not.toBe(first.sha256);
  });
});
