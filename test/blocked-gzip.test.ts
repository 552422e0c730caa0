/**
 * poncho_package_run on tarballs in the framing poncho_package_create writes (blocked gzip,
 * inflated in parallel), end to end: the creator's writer frames the tar, GNU tar reads it, the
 * runner unpacks and runs in it; a truncated or corrupt one, or a hostile one, exits 125 with
 * nothing left behind. Build first (`npx tsc -b packages/runner packages/creator`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readMemberHeader, TRAILER_MEMBER_LENGTH } from '@poncho/core/blocked-gzip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParallelGzip } from '../packages/creator/dist/pack/gzip-parallel.js';
import { runRunner } from './support/runner-cli.js';
import { fixtureTarball, rawTarGz } from './support/tarballs.js';

const work = mkdtempSync(join(tmpdir(), 'poncho-blocked-'));
const runTmp = join(work, 'tmp');
let env: NodeJS.ProcessEnv;
/** The fixture environment's tar, framed by the creator's writer in small blocks. */
let blocked: Buffer;

/** `tar` framed as poncho_package_create frames it (blocks small enough for many members). */
async function frame(tar: Buffer, blockSize = 8 * 1024): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  const gzip = new ParallelGzip(
    { write: async (chunk) => void chunks.push(Uint8Array.from(chunk)) },
    { threads: 2, blockSize },
  );
  try {
    await gzip.write(tar);
    await gzip.end();
  } finally {
    await gzip.close();
  }
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  await mkdir(runTmp);
  env = { ...process.env, TMPDIR: runTmp };
  blocked = await frame(gunzipSync(await readFile(await fixtureTarball())));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let count = 0;
async function runOn(bytes: Buffer, command: string[] = ['true']) {
  const label = `case-${++count}`;
  const archive = join(work, `${label}.tar.gz`);
  await writeFile(archive, bytes);
  const parent = join(work, `${label}-run`);
  await mkdir(parent);
  const result = await runRunner(['-e', archive, '-d', join(parent, 'env'), ...command], { env });
  return { result, parent, archive };
}

describe('blocked gzip tarballs', () => {
  it('unpacks and runs in the environment, as GNU tar reads the same file', async () => {
    const { result, parent, archive } = await runOn(blocked, [
      'sh',
      '-c',
      'test -x "$CONDA_PREFIX/bin/prefix-c" && echo ran',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('ran');
    const byTar = join(work, 'by-tar');
    await mkdir(byTar);
    execFileSync('tar', ['-xzf', archive, '-C', byTar]);
    const names = (dir: string) => readdir(dir, { recursive: true });
    const unpacked = (await names(join(parent, 'env'))).filter((name) => !name.startsWith('.'));
    expect(unpacked.sort()).toEqual((await names(byTar)).filter((n) => !n.startsWith('.')).sort());
  });

  const damagedCases: Array<[string, () => Buffer]> = [
    ['cut inside a member', () => blocked.subarray(0, Math.floor(blocked.length / 2))],
    [
      'cut exactly at a member boundary',
      () => {
        const first = readMemberHeader(blocked)?.memberLength ?? 0;
        return blocked.subarray(0, first + (readMemberHeader(blocked, first)?.memberLength ?? 0));
      },
    ],
    [
      'without its trailer member',
      () => blocked.subarray(0, blocked.length - TRAILER_MEMBER_LENGTH),
    ],
    [
      'with a flipped byte inside a member',
      () => {
        const copy = Buffer.from(blocked);
        copy[200] = (copy[200] as number) ^ 0x10;
        return copy;
      },
    ],
  ];
  for (const [label, make] of damagedCases) {
    it(`refuses a tarball ${label} (exit 125), leaving nothing behind`, async () => {
      const { result, parent } = await runOn(make());
      expect(result.code).toBe(125);
      expect(result.stderr).toMatch(/damaged or truncated/);
      expect(result.stderr).toMatch(/hint: /);
      expect(await readdir(parent)).toEqual([]);
      expect(await readdir(runTmp)).toEqual([]);
    });
  }

  it('refuses a hostile entry in the parallel path too, writing nothing outside', async () => {
    const escapeName = `escape-${process.pid}.txt`;
    const tar = gunzipSync(
      rawTarGz([
        { name: 'bin/', type: 'dir' },
        { name: 'bin/ok', type: 'file', data: 'ok\n'.repeat(20_000) },
        { name: `../${escapeName}`, type: 'file', data: 'x' },
      ]),
    );
    const { result, parent } = await runOn(await frame(tar, 4096));
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/'\.\.'/);
    expect(await readdir(parent)).toEqual([]);
    expect(await readdir(work)).not.toContain(escapeName);
  });
});
