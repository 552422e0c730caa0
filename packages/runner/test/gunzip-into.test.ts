/**
 * Inflating one gzip member into a buffer the caller reuses (on the threadpool): the content
 * lands in that buffer (no new memory), and damage is refused.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gunzipInto } from '../src/gunzip-into.js';

const content = Buffer.concat([randomBytes(50_000), Buffer.alloc(200_000, 'a')]);
const member = gzipSync(content);

describe('gunzipInto', () => {
  it('inflates into the buffer it is given, member after member', async () => {
    const into = Buffer.alloc(content.length + 64);
    for (const length of [content.length, 0, 1, 77_777]) {
      const part = content.subarray(0, length);
      const output = await gunzipInto(gzipSync(part), length, into);
      expect(output.equals(part)).toBe(true);
      // The same memory: no new pages per member.
      expect(output.buffer).toBe(into.buffer);
      expect(output.byteOffset).toBe(into.byteOffset);
    }
  });

  it('refuses a damaged member', async () => {
    const into = Buffer.alloc(content.length + 64);
    const flipped = Buffer.from(member);
    flipped[200] = (flipped[200] as number) ^ 0x40;
    await expect(gunzipInto(flipped, content.length, into)).rejects.toThrow();
    const badCrc = Buffer.from(member);
    badCrc[badCrc.length - 8] = (badCrc[badCrc.length - 8] as number) ^ 1;
    await expect(gunzipInto(badCrc, content.length, into)).rejects.toThrow();
    await expect(
      gunzipInto(member.subarray(0, member.length - 20), content.length, into),
    ).rejects.toThrow();
    expect((await gunzipInto(member, content.length, into)).equals(content)).toBe(true);
  });

  it('refuses a member holding more or less than it records, without running past the buffer', async () => {
    const into = Buffer.alloc(content.length + 128);
    await expect(gunzipInto(member, content.length - 1000, into)).rejects.toThrow(
      /inflates to more/,
    );
    await expect(gunzipInto(member, content.length + 1, into)).rejects.toThrow(/not the/);
    expect(() => gunzipInto(member, content.length, Buffer.alloc(10))).toThrow(RangeError);
  });
});
