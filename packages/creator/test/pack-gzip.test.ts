import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DEFAULT_BLOCK_SIZE,
  encodeBlockedGzipSync,
  readMemberHeader,
  TRAILER_MEMBER_LENGTH,
} from '@poncho/core/blocked-gzip';
import { crc32 } from '@poncho/core/crc32';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

describe('ParallelGzip', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'poncho-gzip-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the same bytes as core’s one-thread encoder for the same blocks', async () => {
    const input = sampleData(300_000);
    const blockSize = 64 * 1024;
    const blocks: Buffer[] = [];
    for (let at = 0; at < input.length; at += blockSize)
      blocks.push(input.subarray(at, at + blockSize));
    const parallel = await compress(input, { level: 6, threads: 2, blockSize });
    expect(parallel.equals(encodeBlockedGzipSync(blocks, 6))).toBe(true);
  });

  it('writes blocked gzip that gzip -t, gzip -dc, pigz and zlib accept', async () => {
    const input = Buffer.concat([sampleData(1_000_000), randomBytes(300_000)]);
    const out = await compress(input, { threads: 3, blockSize: 64 * 1024, level: 6 });
    expect(gunzipSync(out).equals(input)).toBe(true);
    const file = join(dir, 'a.gz');
    await writeFile(file, out);
    execFileSync('gzip', ['-t', file]);
    expect(execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 30 }).equals(input)).toBe(true);
    expect(execFileSync('pigz', ['-dc', file], { maxBuffer: 1 << 30 }).equals(input)).toBe(true);
    // Header: FEXTRA only (no name), mtime 0, OS unix.
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 3]);
  });

  it('cuts the input into independent members of one block each, then the trailer', async () => {
    const blockSize = 64 * 1024;
    const input = Buffer.concat([sampleData(500_000), randomBytes(100_000)]);
    const out = await compress(input, { threads: 2, blockSize });
    let at = 0;
    let consumed = 0;
    for (;;) {
      const header = readMemberHeader(out, at);
      if (!header) throw new Error(`no member at ${at}`);
      if (header.kind === 'trailer') {
        expect(header.crc).toBe(crc32(input));
        expect(header.totalLength).toBe(input.length);
        expect(at + TRAILER_MEMBER_LENGTH).toBe(out.length);
        break;
      }
      const block = gunzipSync(out.subarray(at, at + header.memberLength));
      expect(block.equals(input.subarray(consumed, consumed + block.length))).toBe(true);
      consumed += block.length;
      // Every block is full but the last.
      expect(block.length === blockSize || consumed === input.length).toBe(true);
      at += header.memberLength;
    }
    expect(consumed).toBe(input.length);
  });

  it('makes the first block small (64 KiB by default), so that a runner starts sooner', async () => {
    const sizes = (out: Buffer): number[] => {
      const lengths: number[] = [];
      for (let at = 0; ; ) {
        const header = readMemberHeader(out, at);
        if (!header || header.kind === 'trailer') return lengths;
        lengths.push(gunzipSync(out.subarray(at, at + header.memberLength)).length);
        at += header.memberLength;
      }
    };
    const input = sampleData(1_000_000);
    const blockSize = 256 * 1024;
    const out = await compress(input, { threads: 2, blockSize });
    expect(gunzipSync(out).equals(input)).toBe(true);
    const rest = input.length - 64 * 1024 - 3 * blockSize;
    expect(sizes(out)).toEqual([64 * 1024, blockSize, blockSize, blockSize, rest]);
    const chosen = await compress(input, { threads: 2, blockSize, firstBlockSize: 1000 });
    expect(sizes(chosen).slice(0, 2)).toEqual([1000, blockSize]);
    expect(gunzipSync(chosen).equals(input)).toBe(true);
    expect(() => new ParallelGzip(new MemorySink(), { blockSize, firstBlockSize: 0 })).toThrow(
      /first block size/,
    );
    expect(
      () => new ParallelGzip(new MemorySink(), { blockSize, firstBlockSize: blockSize + 1 }),
    ).toThrow(/first block size/);
  });

  it('makes a .tar.gz that GNU tar unpacks', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    const big = sampleData(3 * DEFAULT_BLOCK_SIZE + 12_345);
    await writeFile(join(tree, 'sub', 'big.txt'), big);
    await writeFile(join(tree, 'small.bin'), randomBytes(5_000));
    const tar = execFileSync('tar', ['-cf', '-', '-C', tree, '.'], { maxBuffer: 1 << 30 });
    const archive = join(dir, 'tree.tar.gz');
    await writeFile(archive, await compress(tar, { threads: 2 }));
    const unpacked = join(dir, 'unpacked');
    await mkdir(unpacked);
    execFileSync('tar', ['-xzf', archive, '-C', unpacked]);
    expect((await readFile(join(unpacked, 'sub', 'big.txt'))).equals(big)).toBe(true);
    expect(
      (await readFile(join(unpacked, 'small.bin'))).equals(await readFile(join(tree, 'small.bin'))),
    ).toBe(true);
  });

  it('gives the same bytes whatever the thread count', async () => {
    const input = sampleData(700_000);
    const one = await compress(input, { threads: 1, blockSize: 128 * 1024 });
    const two = await compress(input, { threads: 2, blockSize: 128 * 1024 }, 3);
    const four = await compress(input, { threads: 4, blockSize: 128 * 1024 }, 50);
    expect(two.equals(one)).toBe(true);
    expect(four.equals(one)).toBe(true);
  });

  it('compresses about as well as single-stream gzip (1 MiB blocks)', async () => {
    const input = sampleData(4_000_000);
    const ours = await compress(input, { threads: 2, level: 6 });
    const single = gzipSync(input, { level: 6 });
    expect(ours.length).toBeLessThan(single.length * 1.01);
  });

  it('handles empty input and input that is an exact multiple of the block size', async () => {
    const empty = await compress(Buffer.alloc(0), { threads: 2 });
    expect(empty.length).toBe(TRAILER_MEMBER_LENGTH); // the trailer member alone
    expect(gunzipSync(empty).length).toBe(0);
    const exact = sampleData(4 * 32 * 1024);
    const out = await compress(exact, { threads: 2, blockSize: 32 * 1024 });
    expect(gunzipSync(out).equals(exact)).toBe(true);
    // Four data members, then the trailer: no empty data member at the end.
    let at = 0;
    const kinds: string[] = [];
    for (let header = readMemberHeader(out); header; header = readMemberHeader(out, at)) {
      kinds.push(header.kind);
      at += header.memberLength;
      if (at >= out.length) break;
    }
    expect(kinds).toEqual(['data', 'data', 'data', 'data', 'trailer']);
  });

  it('honours the level (0 stores, 9 is smallest)', async () => {
    const input = sampleData(500_000);
    const stored = await compress(input, { threads: 2, level: 0 });
    const best = await compress(input, { threads: 2, level: 9 });
    expect(stored.length).toBeGreaterThan(input.length);
    expect(best.length).toBeLessThan(input.length / 2);
    expect(gunzipSync(stored).equals(input)).toBe(true);
    expect(best[8]).toBe(2); // XFL: maximum compression
    expect(best[best.length - TRAILER_MEMBER_LENGTH + 8]).toBe(2); // in the trailer member too
    expect(() => new ParallelGzip(new MemorySink(), { level: 10 })).toThrow(/level/);
    expect(() => new ParallelGzip(new MemorySink(), { blockSize: 0 })).toThrow(/block size/);
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
