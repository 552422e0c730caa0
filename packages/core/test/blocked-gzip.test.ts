import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DATA_HEADER_LENGTH,
  encodeBlockedGzipSync,
  encodeDataMember,
  encodeTrailerMember,
  isBlockedGzip,
  MAX_BLOCK_SIZE,
  memberChecksum,
  readMemberHeader,
  TRAILER_MEMBER_LENGTH,
} from '@poncho/core/blocked-gzip';
import { crc32 } from '@poncho/core/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('blocked gzip framing', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'poncho-bgzf-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const blocks = [
    Buffer.from('hello '.repeat(5000)),
    randomBytes(70_000),
    Buffer.from('world\n'.repeat(3000)),
  ];
  const content = Buffer.concat(blocks);

  it('is read by gzip, python and zlib as the concatenated content', async () => {
    const file = join(dir, 'three.gz');
    const framed = encodeBlockedGzipSync(blocks);
    await writeFile(file, framed);
    execFileSync('gzip', ['-t', file]);
    expect(execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 26 }).equals(content)).toBe(true);
    const python = execFileSync(
      'python3',
      ['-c', 'import gzip,sys; sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())', file],
      { maxBuffer: 1 << 26 },
    );
    expect(python.equals(content)).toBe(true);
    expect(gunzipSync(framed).equals(content)).toBe(true);
  });

  it('records each member length and checksum, and the whole content in the trailer', () => {
    const framed = encodeBlockedGzipSync(blocks, 9);
    let at = 0;
    for (const block of blocks) {
      const header = readMemberHeader(framed, at);
      expect(header?.kind).toBe('data');
      const member = framed.subarray(at, at + (header?.memberLength ?? 0));
      // Header: FEXTRA, mtime 0, XFL 2 (level 9), OS unix, subfield 'PK'.
      expect([...member.subarray(0, 16)]).toEqual([
        0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 2, 3, 8, 0, 0x50, 0x4b, 4, 0,
      ]);
      // Independent: the member alone inflates to its block.
      expect(gunzipSync(member).equals(block)).toBe(true);
      expect(memberChecksum(member)).toEqual({ crc: crc32(block), size: block.length });
      at += member.length;
    }
    const trailer = readMemberHeader(framed, at);
    expect(trailer).toEqual({
      kind: 'trailer',
      memberLength: TRAILER_MEMBER_LENGTH,
      crc: crc32(content),
      totalLength: content.length,
    });
    expect(at + TRAILER_MEMBER_LENGTH).toBe(framed.length);
    expect(gunzipSync(framed.subarray(at)).length).toBe(0);
    expect(isBlockedGzip(framed)).toBe(true);
    expect(isBlockedGzip(framed.subarray(at))).toBe(true); // an empty content: trailer only
  });

  it('stores lengths beyond 4 GiB in the trailer', () => {
    const trailer = encodeTrailerMember(0x12345678, 5 * 2 ** 32 + 7, 6);
    expect(readMemberHeader(trailer)).toMatchObject({
      crc: 0x12345678,
      totalLength: 5 * 2 ** 32 + 7,
    });
    expect(gunzipSync(trailer).length).toBe(0);
  });

  it('is not recognised in other gzip files, nor in damaged headers', () => {
    expect(isBlockedGzip(gzipSync(content))).toBe(false);
    const framed = encodeBlockedGzipSync(blocks);
    const damaged = (at: number, value: number) => {
      const copy = Buffer.from(framed);
      copy[at] = value;
      return copy;
    };
    expect(readMemberHeader(damaged(3, 0))).toBeUndefined(); // no FEXTRA
    expect(readMemberHeader(damaged(13, 0x58))).toBeUndefined(); // another subfield
    expect(readMemberHeader(damaged(10, 12))).toBeUndefined(); // another XLEN
    // A recorded length too short for a member, or beyond the largest block.
    const short = Buffer.from(framed);
    short.writeUInt32LE(DATA_HEADER_LENGTH + 9, 16);
    expect(readMemberHeader(short)).toBeUndefined();
    const long = Buffer.from(framed);
    long.writeUInt32LE(MAX_BLOCK_SIZE * 2, 16);
    expect(readMemberHeader(long)).toBeUndefined();
    // A trailer whose fixed body is damaged, or cut short.
    const trailerAt = framed.length - TRAILER_MEMBER_LENGTH;
    expect(readMemberHeader(damaged(framed.length - 1, 1), trailerAt)).toBeUndefined();
    expect(readMemberHeader(framed.subarray(0, framed.length - 1), trailerAt)).toBeUndefined();
    expect(readMemberHeader(framed.subarray(0, 10))).toBeUndefined();
  });

  it('refuses a block larger than a reader accepts', () => {
    expect(() => encodeDataMember(new Uint8Array(2), 0, MAX_BLOCK_SIZE + 1, 6)).toThrow(RangeError);
  });
});
