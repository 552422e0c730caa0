import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type TarEntry, TarFormatError, TarReader } from '../src/tar-reader.js';

const work = mkdtempSync(join(tmpdir(), 'poncho-tar-reader-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Reads `archive` fed in chunks of `chunk` bytes; entries with their data as text. */
function read(archive: Buffer, chunk = 1000): Array<TarEntry & { text: string }> {
  const out: Array<TarEntry & { text: string }> = [];
  const reader = new TarReader({
    entry: (entry) => out.push({ ...entry, text: '' }),
    data: (piece) => {
      const last = out[out.length - 1] as { text: string };
      last.text += piece.toString('latin1');
    },
    end: () => {},
  });
  for (let at = 0; at < archive.length; at += chunk) reader.write(archive.subarray(at, at + chunk));
  reader.finish();
  return out;
}

/** A folder with a name that is not UTF-8, a long name, a long link target, packed by GNU tar. */
const packed = new Map<string, Buffer>();
function packWithGnuTar(format: 'gnu' | 'pax'): Buffer {
  const done = packed.get(format);
  if (done) return done;
  const root = join(work, format);
  mkdirSync(join(root, 'bin'), { recursive: true });
  const odd = Buffer.concat([Buffer.from(`${root}/bin/a`), Buffer.from([0xff])]);
  writeFileSync(odd, 'odd\n');
  const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
  mkdirSync(join(root, 'd'.repeat(120)));
  writeFileSync(join(root, long), 'long\n');
  symlinkSync(long, join(root, 'link'));
  const file = join(work, `${format}.tar`);
  execFileSync('tar', [`--format=${format}`, '--sort=name', '-cf', file, '-C', root, '.']);
  packed.set(format, readFileSync(file));
  return packWithGnuTar(format);
}

describe('TarReader', () => {
  for (const format of ['gnu', 'pax'] as const) {
    it(`reads GNU tar's ${format} format with names as bytes, at any chunking`, () => {
      const archive = packWithGnuTar(format);
      for (const chunk of [1, 511, 512, 4096, archive.length]) {
        const entries = read(archive, chunk);
        const byName = new Map(entries.map((entry) => [entry.path, entry]));
        const odd = byName.get('./bin/a\u00ff');
        expect(odd?.type).toBe('File');
        expect(odd?.text).toBe('odd\n');
        const long = `./${'d'.repeat(120)}/${'f'.repeat(150)}`;
        expect(byName.get(long)?.text).toBe('long\n');
        expect(byName.get('./link')).toMatchObject({
          type: 'SymbolicLink',
          linkpath: long.slice(2),
        });
        expect(byName.get('./bin/')?.type).toBe('Directory');
      }
    });
  }

  it('reads headers at any byte alignment in memory (the checksum is summed by words)', () => {
    const archive = packWithGnuTar('pax');
    const expected = read(archive, archive.length);
    for (const shift of [1, 2, 3]) {
      const shifted = Buffer.alloc(archive.length + shift);
      archive.copy(shifted, shift);
      expect(read(shifted.subarray(shift), archive.length)).toEqual(expected);
    }
  });

  it('accepts a signed checksum (old tars), number fields padded with spaces or NULs, and names a bad one', () => {
    const header = (fields: { size: string; mode?: string; name?: string }, signed = false) => {
      const block = Buffer.alloc(512);
      block.write(fields.name ?? 'caf\u00e9\u00ff', 0, 'latin1'); // bytes above 127
      block.write(fields.mode ?? '0000644\0', 100, 'latin1');
      block.write(fields.size, 124, 'latin1');
      block.write('00000000000\0', 136, 'latin1');
      block.write('0', 156, 'latin1');
      block.write('ustar\u000000', 257, 'latin1');
      let sum = 0;
      for (let i = 0; i < 512; i++) {
        const byte = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
        sum += signed && byte > 127 ? byte - 256 : byte;
      }
      block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      return block;
    };
    const archive = (block: Buffer, data = '') => {
      const body = Buffer.alloc(Math.ceil(data.length / 512) * 512);
      body.write(data, 'latin1');
      return Buffer.concat([block, body, Buffer.alloc(1024)]);
    };
    expect(read(archive(header({ size: '        3 \0' }, true), 'abc'))).toMatchObject([
      { path: 'caf\u00e9\u00ff', size: 3, mode: 0o644, text: 'abc' },
    ]);
    expect(
      read(archive(header({ size: '\0\0\0\0\0\0\0\0\0\0\0\0', mode: ' 755 \0' }))),
    ).toMatchObject([{ size: 0, mode: 0o755 }]);
    expect(() => read(archive(header({ size: ' 12x4 \0' })))).toThrow(
      /invalid header \(number field '12x4'\) at byte 0/,
    );
  });

  it('reads the checksum field as parseInt(field up to its NUL, 8) does, in every form tars write', () => {
    const withChecksum = (format: (octal: string) => string) => {
      const block = Buffer.alloc(512);
      block.write('file', 0, 'latin1');
      block.write('0000644\0', 100, 'latin1');
      block.write('00000000000\0', 124, 'latin1');
      block.write('00000000000\0', 136, 'latin1');
      block.write('0', 156, 'latin1');
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
      const field = format(sum.toString(8));
      expect(field.length).toBe(8);
      block.write(field, 148, 'latin1');
      return Buffer.concat([block, Buffer.alloc(1024)]);
    };
    const accepted = [
      (o: string) => `${o.padStart(6, '0')}\0 `, // GNU tar
      (o: string) => `${o.padStart(7, '0')}\0`, // POSIX
      (o: string) => `${o.padStart(7, '0')} `,
      (o: string) => ` ${o.padStart(6, ' ')}\0`, // leading spaces
      (o: string) => `+${o.padStart(6, '0')}\0`,
      (o: string) => `${o.padStart(6, '0')}\0x`, // after the NUL: ignored
      (o: string) => `${o.padStart(6, '0')}x\0`, // parseInt stops at the first non-digit
    ];
    for (const format of accepted) expect(read(withChecksum(format))).toHaveLength(1);
    const refused = [
      (o: string) => `x${o.padStart(6, '0')}\0`,
      (o: string) => `\0${o.padStart(6, '0')} `,
      (o: string) => `-${o.padStart(6, '0')}\0`,
    ];
    for (const format of refused) expect(() => read(withChecksum(format))).toThrow(/bad checksum/);
  });

  it('refuses a cut archive, a damaged header and a missing end-of-archive block', () => {
    const archive = packWithGnuTar('gnu');
    expect(() => read(archive.subarray(0, 1024 + 100))).toThrow(TarFormatError);
    const damaged = Buffer.from(archive);
    damaged[10] = (damaged[10] ?? 0) ^ 0x40;
    expect(() => read(damaged)).toThrow(/bad checksum/);
    // The data ends exactly after an entry: no end-of-archive block.
    const firstEntry = archive.subarray(0, 512);
    expect(() => read(firstEntry)).toThrow(/no end-of-archive/);
  });
});
