/**
 * Inflating one gzip member into a reused buffer (node's zlib handle), and the public fallback:
 * the same content, the same refusals.
 */
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { memberGunzip, PublicGunzip, ReusingGunzip } from '../src/gunzip-into.js';

const content = Buffer.concat([randomBytes(50_000), Buffer.alloc(200_000, 'a')]);
const member = gzipSync(content);

const gunzips = {
  reusing: () => ReusingGunzip.create(),
  public: () => new PublicGunzip(),
};

describe('memberGunzip', () => {
  it('uses the reused buffer on this node (its zlib handle passes the check)', () => {
    expect(ReusingGunzip.create()).toBeDefined();
    expect(memberGunzip()).toBeInstanceOf(ReusingGunzip);
  });

  it('inflates into the same memory every time (no new pages per member)', () => {
    const gunzip = ReusingGunzip.create() as ReusingGunzip;
    const first = gunzip.inflate(member, content.length);
    expect(first.equals(content)).toBe(true);
    const smaller = gzipSync(content.subarray(0, 1000));
    const second = gunzip.inflate(smaller, 1000);
    expect(second.equals(content.subarray(0, 1000))).toBe(true);
    expect(second.buffer).toBe(first.buffer);
  });

  for (const [name, make] of Object.entries(gunzips)) {
    describe(`${name} gunzip`, () => {
      it('inflates members one after another', () => {
        const gunzip = make() as ReusingGunzip | PublicGunzip;
        for (const length of [content.length, 0, 1, 77_777]) {
          const part = content.subarray(0, length);
          expect(gunzip.inflate(gzipSync(part), length).equals(part)).toBe(true);
        }
      });

      it('refuses a damaged member, and goes on with the next one', () => {
        const gunzip = make() as ReusingGunzip | PublicGunzip;
        const flipped = Buffer.from(member);
        flipped[200] = (flipped[200] as number) ^ 0x40;
        expect(() => gunzip.inflate(flipped, content.length)).toThrow();
        const badCrc = Buffer.from(member);
        badCrc[badCrc.length - 8] = (badCrc[badCrc.length - 8] as number) ^ 1;
        expect(() => gunzip.inflate(badCrc, content.length)).toThrow();
        expect(() =>
          gunzip.inflate(member.subarray(0, member.length - 20), content.length),
        ).toThrow();
        expect(gunzip.inflate(member, content.length).equals(content)).toBe(true);
      });

      it('refuses a member holding more or less than the caller was told', () => {
        const gunzip = make() as ReusingGunzip | PublicGunzip;
        expect(() => gunzip.inflate(member, content.length - 1)).toThrow(
          /inflates to more|larger than/,
        );
        expect(() => gunzip.inflate(member, content.length + 1)).toThrow(/not the/);
      });
    });
  }

  it('refuses bytes after the end of the gzip stream inside the member', () => {
    const gunzip = ReusingGunzip.create() as ReusingGunzip;
    const padded = Buffer.concat([member, Buffer.alloc(5)]);
    expect(() => gunzip.inflate(padded, content.length)).toThrow(/follow the end/);
  });
});
