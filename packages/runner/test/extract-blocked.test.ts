/**
 * Extraction of blocked-gzip tarballs (the framing poncho_package_create writes), inflated
 * member by member into reused memory: the same result as the streaming path on the same tar, and every kind of damage
 * refused as a damaged tarball.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  encodeBlockedGzipSync,
  readMemberHeader,
  TRAILER_MEMBER_LENGTH,
} from '@poncho/core/blocked-gzip';
import { crc32 } from '@poncho/core/crc32';
import { PonchoError } from '@poncho/core/errors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InflatingTarball, inflateBlocked, startInflating } from '../src/blocked-gunzip.js';
import { detectCompression, extractTarball } from '../src/extract.js';
import { digestTarball, TarballDigest } from '../src/tarball-digest.js';

/** `tar` framed as blocked gzip in blocks of `blockSize`. */
function blockedGzip(tar: Buffer, blockSize: number): Buffer {
  const blocks: Buffer[] = [];
  for (let at = 0; at < tar.length; at += blockSize) blocks.push(tar.subarray(at, at + blockSize));
  return encodeBlockedGzipSync(blocks);
}

/** Offsets where the members of a blocked-gzip file start (the trailer's included). */
function memberOffsets(file: Buffer): number[] {
  const offsets: number[] = [];
  for (let at = 0; at < file.length; ) {
    const header = readMemberHeader(file, at);
    if (!header) throw new Error(`no member at ${at}`);
    offsets.push(at);
    at += header.memberLength;
  }
  return offsets;
}

/** Every entry below `root`: type, mode, mtime, content or link target. */
async function describeTree(root: string, dir = ''): Promise<string[]> {
  const lines: string[] = [];
  for (const name of (await readdir(join(root, dir))).sort()) {
    const path = dir ? `${dir}/${name}` : name;
    const info = await lstat(join(root, path));
    const mode = (info.mode & 0o7777).toString(8);
    if (info.isSymbolicLink()) lines.push(`${path} -> ${await readlink(join(root, path))}`);
    else if (info.isDirectory()) {
      lines.push(`${path}/ ${mode}`);
      lines.push(...(await describeTree(root, path)));
    } else {
      const sum = crc32(await readFile(join(root, path))).toString(16);
      lines.push(`${path} ${mode} ${info.size} ${sum} ${Math.round(info.mtimeMs / 1000)}`);
    }
  }
  return lines;
}

let work: string;
let tar: Buffer;
let blocked: Buffer;
let count = 0;

async function extractBytes(bytes: Buffer): Promise<string> {
  const archive = join(work, `archive-${++count}.tar.gz`);
  await writeFile(archive, bytes);
  const dest = join(work, `dest-${count}`);
  await mkdir(dest);
  await extractTarball(archive, dest);
  return dest;
}

async function expectDamaged(bytes: Buffer, reason: RegExp): Promise<void> {
  const error = await extractBytes(bytes).then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(PonchoError);
  expect(error).toMatchObject({ code: 'ERR_ENV_ARCHIVE', exitCode: 125 });
  expect((error as Error).message).toMatch(/damaged or truncated/);
  expect((error as Error).message).toMatch(reason);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-extract-blocked-'));
  const tree = join(work, 'tree');
  await mkdir(join(tree, 'lib', 'python3.11'), { recursive: true });
  await mkdir(join(tree, 'bin'));
  for (let i = 0; i < 40; i++) {
    const text = `# module ${i}\n${'import os\n'.repeat(200 + i * 37)}`;
    await writeFile(join(tree, 'lib', 'python3.11', `m${i}.py`), text);
  }
  await writeFile(join(tree, 'lib', 'blob.so'), randomBytes(300_000));
  await writeFile(join(tree, 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  await symlink('tool', join(tree, 'bin', 'alias'));
  await utimes(join(tree, 'lib', 'blob.so'), 1_600_000_000, 1_600_000_000);
  tar = execFileSync('tar', ['-cf', '-', '-C', tree, '.'], { maxBuffer: 1 << 28 });
  // Small blocks: dozens of members, more than are ever in flight at once.
  blocked = blockedGzip(tar, 16 * 1024);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('blocked gzip extraction', () => {
  it('unpacks exactly what the streaming path unpacks from the same tar', async () => {
    expect(memberOffsets(blocked).length).toBeGreaterThan(20);
    const plainFile = join(work, 'plain.tar.gz');
    await writeFile(plainFile, gzipSync(tar));
    expect(await detectCompression(plainFile)).toBe('gzip');
    const viaStream = join(work, 'via-stream');
    await mkdir(viaStream);
    await extractTarball(plainFile, viaStream);

    const viaBlocks = await extractBytes(blocked);
    expect(await detectCompression(join(work, `archive-${count}.tar.gz`))).toBe('blocked-gzip');
    const expected = await describeTree(viaStream);
    expect(expected.length).toBeGreaterThan(40);
    expect(await describeTree(viaBlocks)).toEqual(expected);
  });

  it('unpacks with one block (a member count below the parallelism)', async () => {
    const dest = await extractBytes(blockedGzip(tar, tar.length));
    expect(await readFile(join(dest, 'bin', 'tool'), 'utf8')).toContain('echo tool');
  });

  it('refuses a file cut inside a member', async () => {
    const offsets = memberOffsets(blocked);
    const inside = (offsets[5] as number) + 100;
    await expectDamaged(blocked.subarray(0, inside), /runs past the end of the file/);
    // Inside the first member.
    await expectDamaged(blocked.subarray(0, (offsets[1] as number) - 1), /runs past the end/);
  });

  it('refuses a file cut exactly at a member boundary', async () => {
    const offsets = memberOffsets(blocked);
    await expectDamaged(blocked.subarray(0, offsets[7]), /without its trailer member/);
  });

  it('refuses a file without its trailer member, or with a cut trailer', async () => {
    await expectDamaged(
      blocked.subarray(0, blocked.length - TRAILER_MEMBER_LENGTH),
      /without its trailer member/,
    );
    await expectDamaged(blocked.subarray(0, blocked.length - 3), /cut short/);
  });

  it('refuses a flipped byte inside a member', async () => {
    const offsets = memberOffsets(blocked);
    const flipped = Buffer.from(blocked);
    const at = (offsets[3] as number) + 500;
    flipped[at] = (flipped[at] as number) ^ 0x20;
    await expectDamaged(flipped, /the member at byte \d+ is damaged/);
  });

  it('refuses a trailer whose checksum or length does not match', async () => {
    const trailerAt = blocked.length - TRAILER_MEMBER_LENGTH;
    const wrongCrc = Buffer.from(blocked);
    wrongCrc[trailerAt + 16] = (wrongCrc[trailerAt + 16] as number) ^ 1;
    await expectDamaged(wrongCrc, /does not match the trailer member/);
    const wrongLength = Buffer.from(blocked);
    wrongLength.writeUInt32LE(tar.length + 512, trailerAt + 20);
    await expectDamaged(wrongLength, /does not match the trailer member/);
  });

  it('refuses a member whose recorded length runs past the end of the file', async () => {
    const offsets = memberOffsets(blocked);
    const lastData = offsets[offsets.length - 2] as number;
    const longer = Buffer.from(blocked);
    longer.writeUInt32LE(blocked.length - lastData + 1, lastData + 16);
    await expectDamaged(longer, /runs past the end of the file/);
  });

  it('refuses bytes after the trailer member, and a member that is not ours', async () => {
    await expectDamaged(Buffer.concat([blocked, Buffer.from('extra')]), /follow the trailer/);
    const offsets = memberOffsets(blocked);
    const plainMember = gzipSync(tar.subarray(0, 512));
    await expectDamaged(
      Buffer.concat([blocked.subarray(0, offsets[2]), plainMember, blocked.subarray(offsets[2])]),
      /no valid member header at byte/,
    );
  });

  it('still refuses unsafe entries (the guard applies to the blocked path)', async () => {
    const hostileTree = join(work, 'hostile');
    await mkdir(join(hostileTree, 'bin'), { recursive: true });
    await writeFile(join(hostileTree, 'bin', 'ok'), 'ok');
    await symlink('/etc', join(hostileTree, 'etc-link'));
    const hostileTar = execFileSync('tar', ['-cf', '-', '-C', hostileTree, 'bin', 'etc-link']);
    const archive = join(work, 'hostile.tar.gz');
    await writeFile(archive, blockedGzip(hostileTar, 4096));
    const dest = join(work, 'hostile-dest');
    await mkdir(dest);
    await expect(extractTarball(archive, dest)).rejects.toMatchObject({
      code: 'ERR_ENV_UNSAFE',
      exitCode: 125,
    });
  });

  it('inflates the blocks into three buffers used in turn (no new memory per block)', async () => {
    // Fresh memory costs a page fault per 4 KiB on first touch: the blocks reuse one buffer.
    const archive = join(work, 'reuse.tar.gz');
    await writeFile(archive, blocked);
    const memory = new Set<ArrayBufferLike>();
    const copies: Buffer[] = [];
    for await (const block of inflateBlocked(archive)) {
      memory.add(block.buffer);
      copies.push(Buffer.from(block));
    }
    expect(copies.length).toBe(memberOffsets(blocked).length - 1);
    expect(memory.size).toBe(3); // the block handed out and the two inflating ahead of it
    expect(Buffer.concat(copies).equals(tar)).toBe(true);
  });
});

/** The descriptors this process has open (Linux). */
async function openDescriptors(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

describe('inflating started before the extraction (InflatingTarball)', () => {
  it('extracts what extractTarball extracts from the file, and hashes it as it reads it', async () => {
    const archive = join(work, 'early.tar.gz');
    await writeFile(archive, blocked);
    const inflating = startInflating(archive, { digest: true });
    expect(inflating).toBeInstanceOf(InflatingTarball);
    const early = join(work, 'early-dest');
    await mkdir(early);
    await extractTarball(archive, early, { inflating });
    const direct = await extractBytes(blocked);
    expect(await describeTree(early)).toEqual(await describeTree(direct));
    // The digest the marker records, whichever way the file was read.
    expect(inflating?.digest()).toBe(await digestTarball(archive));
  });

  it('is only for blocked gzip: other formats and unreadable files are left to the extraction', async () => {
    const plainFile = join(work, 'plain-early.tar.gz');
    await writeFile(plainFile, gzipSync(tar));
    expect(startInflating(plainFile, { digest: true })).toBeUndefined();
    // Nor a file it cannot read: the extraction says why, as for any tarball.
    expect(startInflating(join(work, 'missing.tar.gz'), { digest: true })).toBeUndefined();
  });

  it('reports damage from the extraction, not from its start', async () => {
    const archive = join(work, 'early-damaged.tar.gz');
    const damaged = Buffer.from(blocked);
    const at = (memberOffsets(blocked)[1] as number) + 40; // inside the second member
    damaged[at] = (damaged[at] as number) ^ 0xff;
    await writeFile(archive, damaged);
    const inflating = startInflating(archive, { digest: true });
    const dest = join(work, 'early-damaged-dest');
    await mkdir(dest);
    await expect(extractTarball(archive, dest, { inflating })).rejects.toMatchObject({
      code: 'ERR_ENV_ARCHIVE',
      message: expect.stringMatching(/damaged or truncated/),
    });
    // The whole file was not read: no digest to record.
    expect(() => inflating?.digest()).toThrow(/fed/);
  });

  it('closes the file when cancelled unread, and refuses a second reading', async () => {
    const archive = join(work, 'early-cancelled.tar.gz');
    await writeFile(archive, blocked);
    const before = await openDescriptors();
    const inflating = startInflating(archive, { digest: false }) as InflatingTarball;
    expect(await openDescriptors()).toBe(before + 1);
    await inflating.cancel();
    expect(await openDescriptors()).toBe(before);
    await expect(inflating.blocks().next()).rejects.toThrow(/already read/);
  });

  it('refuses the inflating of another file', async () => {
    const archive = join(work, 'early-other.tar.gz');
    await writeFile(archive, blocked);
    const inflating = startInflating(archive, { digest: false }) as InflatingTarball;
    const dest = join(work, 'early-other-dest');
    await mkdir(dest);
    await expect(extractTarball(join(work, 'plain.tar.gz'), dest, { inflating })).rejects.toThrow(
      /inflating of/,
    );
    await inflating.cancel();
  });
});

describe('TarballDigest', () => {
  it("gives digestTarball's result for the bytes fed in any pieces, across 4 MiB pieces", async () => {
    const bytes = randomBytes(9 * 1024 * 1024 + 123);
    const file = join(work, 'digest.bin');
    await writeFile(file, bytes);
    const expected = await digestTarball(file);
    for (const piece of [1, 65_536, 3 * 1024 * 1024 + 7, bytes.length]) {
      const digest = new TarballDigest(bytes.length);
      for (let at = 0; at < bytes.length; at += piece)
        digest.update(bytes.subarray(at, at + piece));
      expect(digest.digest()).toBe(expected);
    }
  });

  it('refuses to give a digest of part of the file', () => {
    const digest = new TarballDigest(10);
    digest.update(Buffer.alloc(9));
    expect(() => digest.digest()).toThrow(/fed 9 of the file's 10 bytes/);
  });
});
