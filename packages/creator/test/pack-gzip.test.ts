import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32, crc32Combine } from '../dist/pack/crc32.js';
import { GzipWorkerPool, ParallelGzip } from '../dist/pack/gzip-parallel.js';

class MemorySink {
  chunks: Uint8Array[] = [];
  async write(chunk: Uint8Array) {
    this.chunks.push(Uint8Array.from(chunk));
  }
  get bytes() {
    return Buffer.concat(this.chunks);
  }
}

async function compress(
  input: Buffer,
  options: ConstructorParameters<typeof ParallelGzip>[1],
  pieces = 7,
) {
  const sink = new MemorySink();
  const gz = new ParallelGzip(sink, options);
  try {
    const step = Math.max(1, Math.ceil(input.length / pieces));
    for (let at = 0; at < input.length; at += step) await gz.write(input.subarray(at, at + step));
    await gz.end();
  } finally {
    await gz.close();
  }
  return sink.bytes;
}

/** Compressible but not trivial: text-like bytes with some randomness. */
function sampleData(size: number): Buffer {
  const words = [
    'conda',
    'poncho',
    'lib',
    'python3.11',
    'site-packages',
    '\n',
    '/',
    'import ',
    'def ',
  ];
  const random = randomBytes(size);
  const parts: string[] = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const word = words[(random[i % size] as number) % words.length] as string;
    parts.push(word);
    length += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, size);
}

describe('crc32', () => {
  it('matches zlib (gzip trailer) and combines like crc32_combine', () => {
    const a = randomBytes(100_003);
    const b = randomBytes(65_536);
    const gz = gzipSync(Buffer.concat([a, b]), { level: 0 });
    const expected = gz.readUInt32LE(gz.length - 8);
    expect(crc32(Buffer.concat([a, b]))).toBe(expected);
    expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(expected);
    expect(crc32Combine(crc32(a), crc32(Buffer.alloc(0)), 0)).toBe(crc32(a));
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

describe('ParallelGzip', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'poncho-gzip-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one valid gzip member that gzip -t and zlib accept', async () => {
    const input = Buffer.concat([sampleData(1_000_000), randomBytes(300_000)]);
    const out = await compress(input, { threads: 3, blockSize: 64 * 1024, level: 6 });
    expect(gunzipSync(out).equals(input)).toBe(true);
    const file = join(dir, 'a.gz');
    await writeFile(file, out);
    execFileSync('gzip', ['-t', file]);
    expect(execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 30 }).equals(input)).toBe(true);
    // Header: no name, mtime 0, OS unix.
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  });

  it('gives the same bytes whatever the thread count', async () => {
    const input = sampleData(700_000);
    const one = await compress(input, { threads: 1, blockSize: 128 * 1024 });
    const two = await compress(input, { threads: 2, blockSize: 128 * 1024 }, 3);
    const four = await compress(input, { threads: 4, blockSize: 128 * 1024 }, 50);
    expect(two.equals(one)).toBe(true);
    expect(four.equals(one)).toBe(true);
  });

  it('compresses about as well as single-stream gzip (dictionary priming)', async () => {
    const input = sampleData(2_000_000);
    const ours = await compress(input, { threads: 2, level: 6 });
    const single = gzipSync(input, { level: 6 });
    expect(ours.length).toBeLessThan(single.length * 1.02);
  });

  it('handles empty input and input that is an exact multiple of the block size', async () => {
    expect(gunzipSync(await compress(Buffer.alloc(0), { threads: 2 })).length).toBe(0);
    const exact = sampleData(4 * 32 * 1024);
    expect(
      gunzipSync(await compress(exact, { threads: 2, blockSize: 32 * 1024 })).equals(exact),
    ).toBe(true);
  });

  it('honours the level (0 stores, 9 is smallest)', async () => {
    const input = sampleData(500_000);
    const stored = await compress(input, { threads: 2, level: 0 });
    const best = await compress(input, { threads: 2, level: 9 });
    expect(stored.length).toBeGreaterThan(input.length);
    expect(best.length).toBeLessThan(input.length / 2);
    expect(gunzipSync(stored).equals(input)).toBe(true);
    expect(best[8]).toBe(2); // XFL: maximum compression
    expect(() => new ParallelGzip(new MemorySink(), { level: 10 })).toThrow(/level/);
  });

  it('gives the same bytes when fed through writeFilled and a pre-started worker pool', async () => {
    const input = sampleData(900_000);
    const expected = await compress(input, { threads: 1, blockSize: 64 * 1024 });
    const sink = new MemorySink();
    const gz = new ParallelGzip(sink, { pool: GzipWorkerPool.start(2), blockSize: 64 * 1024 });
    try {
      // Alternate plain writes with pieces read straight into the block buffer.
      let at = 0;
      for (let i = 0; at < input.length; i++) {
        const n = Math.min(input.length - at, 50_000 + i * 7_000);
        if (i % 2) await gz.write(input.subarray(at, at + n));
        else {
          let next = at;
          await gz.writeFilled(n, (target) => {
            target.set(input.subarray(next, next + target.length));
            next += target.length;
          });
        }
        at += n;
      }
      await gz.end();
    } finally {
      await gz.close();
    }
    expect(sink.bytes.equals(expected)).toBe(true);
  });

  it('reports a failing sink instead of hanging', async () => {
    const gz = new ParallelGzip(
      { write: async () => Promise.reject(new Error('disk on fire')) },
      { threads: 2, blockSize: 16 * 1024 },
    );
    await expect(
      (async () => {
        for (let i = 0; i < 40; i++) await gz.write(randomBytes(16 * 1024));
        await gz.end();
      })(),
    ).rejects.toThrow(/disk on fire/);
    await gz.close();
  });
});
