import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestTarball, MARKER_PATH, tarballIdentity } from '@poncho/runner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectFolder, lockPathFor, waitForPeer } from '../src/marker.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poncho-marker-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('digestTarball', () => {
  it('is the same for a copy and differs for a change anywhere, also in the middle', async () => {
    // Larger than one piece, so that the pieces and their order count.
    const data = Buffer.alloc(9 * 1024 * 1024 + 17, 1);
    const write = async (name: string, bytes: Buffer) => {
      await writeFile(join(dir, name), bytes);
      return digestTarball(join(dir, name));
    };
    const original = await write('a.tar', data);
    expect(original).toMatch(/^sha256-pieces-4m:[0-9a-f]{64}$/);
    expect(await write('copy.tar', Buffer.from(data))).toBe(original);
    for (const at of [0, 4 * 1024 * 1024, 5 * 1024 * 1024 + 3, data.length - 1]) {
      const changed = Buffer.from(data);
      changed[at] = 2;
      expect(await write(`changed-${at}.tar`, changed)).not.toBe(original);
    }
    expect(await write('empty.tar', Buffer.alloc(0))).toMatch(/^sha256-pieces-4m:/);
  });

  it("keeps the format markers record: SHA-256 of a size line and the 4 MiB pieces' digests", async () => {
    // Folders unpacked by earlier builds are matched by this value: it must not drift.
    const data = Buffer.alloc(9 * 1024 * 1024 + 17);
    for (let at = 0; at < data.length; at++) data[at] = (at * 31) & 0xff;
    await writeFile(join(dir, 'format.tar'), data);
    const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest();
    const pieces = [0, 1, 2].map((n) => sha256(data.subarray(n * 4194304, (n + 1) * 4194304)));
    const expected = sha256(
      Buffer.concat([Buffer.from(`sha256-pieces-4m ${data.length}\n`), ...pieces]),
    );
    expect(await digestTarball(join(dir, 'format.tar'))).toBe(
      `sha256-pieces-4m:${expected.toString('hex')}`,
    );
  });
});

describe('tarballIdentity', () => {
  it('names the file as `stat -L -c %d-%i-%s-%.9Y` does (what bin/launch.sh compares)', async () => {
    const path = join(dir, 'identity.tar');
    await writeFile(path, 'x'.repeat(1000));
    const expected = execFileSync('stat', ['-L', '-c', '%d-%i-%s-%.9Y', path], {
      encoding: 'utf8',
    }).trim();
    expect(tarballIdentity(path).key).toBe(expected);
  });
});

describe('inspectFolder', () => {
  it('tells missing, empty, ours, the reference, half-done and foreign folders apart', async () => {
    expect((await inspectFolder(join(dir, 'nope'))).kind).toBe('missing');
    await mkdir(join(dir, 'empty'));
    expect((await inspectFolder(join(dir, 'empty'))).kind).toBe('empty');

    await mkdir(join(dir, 'ours', '.poncho'), { recursive: true });
    await writeFile(
      join(dir, 'ours', MARKER_PATH),
      JSON.stringify({ markerVersion: 2, digest: 'f' }),
    );
    expect(await inspectFolder(join(dir, 'ours'))).toMatchObject({
      kind: 'ours',
      marker: { digest: 'f' },
    });

    // An older runner's marker: a weak fingerprint, no digest (refused by the caller).
    await mkdir(join(dir, 'older', '.poncho'), { recursive: true });
    await writeFile(
      join(dir, 'older', MARKER_PATH),
      JSON.stringify({ markerVersion: 1, fingerprint: 'v2:1:x:y', source: '/t/env.tar' }),
    );
    expect(await inspectFolder(join(dir, 'older'))).toEqual({
      kind: 'older',
      source: '/t/env.tar',
    });

    await mkdir(join(dir, 'reference'));
    await writeFile(join(dir, 'reference', '.poncho_package_run_expanded'), 'date');
    expect(await inspectFolder(join(dir, 'reference'))).toEqual({
      kind: 'reference',
      markerFile: '.poncho_package_run_expanded',
    });

    await mkdir(join(dir, 'half', '.poncho'), { recursive: true });
    await writeFile(join(dir, 'half', '.poncho', 'unpacking.json'), '{}');
    expect((await inspectFolder(join(dir, 'half'))).kind).toBe('incomplete');

    await mkdir(join(dir, 'foreign', '.poncho'), { recursive: true });
    await writeFile(join(dir, 'foreign', MARKER_PATH), 'not json');
    expect((await inspectFolder(join(dir, 'foreign'))).kind).toBe('foreign');
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', 'x'), '');
    expect((await inspectFolder(join(dir, 'data'))).kind).toBe('foreign');

    await writeFile(join(dir, 'file'), '');
    await expect(inspectFolder(join(dir, 'file'))).rejects.toMatchObject({
      code: 'ERR_UNPACK_DIR',
    });
  });
});

describe('waitForPeer', () => {
  const complete = async (folder: string) => {
    await mkdir(join(folder, '.poncho'), { recursive: true });
    await writeFile(join(folder, MARKER_PATH), JSON.stringify({ markerVersion: 2, digest: 'f' }));
  };

  it('returns the folder once the run holding the lock completes it, and stops at the deadline', async () => {
    const folder = join(dir, 'peer');
    await mkdir(lockPathFor(folder));
    const waiting = waitForPeer(folder, Date.now() + 10_000);
    setTimeout(() => void complete(folder), 50);
    expect(await waiting).toMatchObject({ kind: 'ours', marker: { digest: 'f' } });
    // A live lock, but the folder never completes: give up at the deadline.
    await mkdir(lockPathFor(join(dir, 'never')));
    expect(await waitForPeer(join(dir, 'never'), Date.now() + 50)).toBeUndefined();
  });

  it('without a lock: the complete folder if the unpacker just finished, else undefined', async () => {
    const folder = join(dir, 'released');
    expect(await waitForPeer(folder, Date.now() + 10_000)).toBeUndefined();
    await complete(folder);
    expect(await waitForPeer(folder, Date.now() + 10_000)).toMatchObject({ kind: 'ours' });
  });
});
