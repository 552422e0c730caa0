import { declaredEncoding, decodeSource, scanBytes } from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';

describe('PEP 263 source decoding', () => {
  it('uses the coding line (latin-1, cp1252, shift_jis)', () => {
    const latin = Buffer.concat([
      Buffer.from('# -*- coding: latin-1 -*-\nname = "'),
      Buffer.from([0xe9]),
      Buffer.from('"\n'),
    ]);
    expect(decodeSource(latin, 'a.py')).toMatchObject({
      encoding: 'latin-1',
      text: expect.stringContaining('"é"'),
    });
    const cp1252 = Buffer.concat([
      Buffer.from('#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = "'),
      Buffer.from([0x80]),
      Buffer.from('"\n'),
    ]);
    expect(decodeSource(cp1252, 'b.py')).toMatchObject({
      encoding: 'windows-1252',
      text: expect.stringContaining('"€"'),
    });
    const sjis = Buffer.concat([
      Buffer.from('# coding: shift_jis\ns = "'),
      Buffer.from([0x82, 0xa0]),
      Buffer.from('"\n'),
    ]);
    expect(decodeSource(sjis, 'c.py').text).toContain('"あ"');
  });

  it('only honours line 2 when line 1 is a comment or blank', () => {
    expect(declaredEncoding(Buffer.from('import os\n# coding: latin-1\n'))).toBeUndefined();
    expect(declaredEncoding(Buffer.from('#!/usr/bin/python\n# coding: latin-1\n'))).toBe('latin-1');
    expect(declaredEncoding(Buffer.from('\ufeffimport os\n'))).toBe('utf-8');
  });

  it('rejects undecodable bytes with the file and line, and says what to do', () => {
    const bad = Buffer.concat([
      Buffer.from('import os\nx = "'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"\n'),
    ]);
    expect(() => decodeSource(bad, 'bad.py')).toThrow(
      /bad\.py:2: the file is not valid UTF-8 and declares no encoding/,
    );
    try {
      decodeSource(bad, 'bad.py');
    } catch (error) {
      expect((error as { hint: string }).hint).toMatch(/coding: latin-1/);
    }
  });

  it('rejects an unknown declared encoding', async () => {
    const outcome = await scanBytes(Buffer.from('# coding: klingon\nimport os\n'), 'k.py');
    expect(outcome).toMatchObject({ ok: false, error: { code: 'ERR_SOURCE_ENCODING' } });
  });

  it('finds imports in a latin-1 Python 2 file', async () => {
    const source = Buffer.concat([
      Buffer.from('# -*- coding: iso-8859-1 -*-\nimport urllib2\nprint "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"\n'),
    ]);
    const outcome = await scanBytes(source, 'py2.py');
    expect(outcome.ok && outcome.scan.imports.map((i) => i.module)).toEqual(['urllib2']);
  });
});

describe('cp1252 decoding', () => {
  it('maps 0x80-0x9f like Python and rejects the bytes cp1252 leaves undefined', () => {
    const ok = Buffer.concat([
      Buffer.from('# coding: cp1252\ns = "'),
      Buffer.from([0x93, 0x80, 0x94]),
      Buffer.from('"\n'),
    ]);
    expect(decodeSource(ok, 'w.py').text).toContain('"\u201c€\u201d"');
    const bad = Buffer.concat([
      Buffer.from('# coding: windows-1252\n\ns = "'),
      Buffer.from([0x81]),
      Buffer.from('"\n'),
    ]);
    expect(() => decodeSource(bad, 'w.py')).toThrow(/w\.py:3: the file is not valid cp1252/);
  });
});
