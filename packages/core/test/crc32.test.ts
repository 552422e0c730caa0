import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { crc32, crc32Combine } from '@poncho/core/crc32';
import { describe, expect, it } from 'vitest';

describe('crc32', () => {
  it('matches zlib (gzip trailer) and combines like crc32_combine', () => {
    const a = randomBytes(100_003);
    const b = randomBytes(65_536);
    const gz = gzipSync(Buffer.concat([a, b]), { level: 0 });
    const expected = gz.readUInt32LE(gz.length - 8);
    expect(crc32(Buffer.concat([a, b]))).toBe(expected);
    expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(expected);
    expect(crc32Combine(crc32(a), crc32(Buffer.alloc(0)), 0)).toBe(crc32(a));
    expect(crc32Combine(0, crc32(b), b.length)).toBe(crc32(b)); // empty A
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926); // the standard check value
  });

  it('gives the same result at any alignment and length (word-wise and byte-wise paths)', () => {
    const data = randomBytes(70_000);
    for (const offset of [0, 1, 2, 3, 5]) {
      for (const length of [0, 1, 7, 63, 64, 65, 1000, 65_537]) {
        const piece = data.subarray(offset, offset + length);
        const gz = gzipSync(piece, { level: 0 });
        expect(crc32(piece)).toBe(gz.readUInt32LE(gz.length - 8));
        const cut = Math.floor(length / 3);
        expect(crc32(piece.subarray(cut), crc32(piece.subarray(0, cut)))).toBe(crc32(piece));
      }
    }
  });
});
