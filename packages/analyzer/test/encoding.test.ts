import { declaredEncoding, decodeSource, scanBytes } from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';

/** Source text `before`, then raw `bytes` (not valid UTF-8 on purpose), then `"` and a newline. */
const quoted = (before: string, bytes: number[]) =>
  Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from('"\n')]);

describe('PEP 263 source decoding', () => {
  it('uses the coding line (latin-1, cp1252, shift_jis)', () => {
    const latin = quoted('# -*- coding: latin-1 -*-\nname = "', [0xe9]);
    expect(decodeSource(latin, 'a.py')).toMatchObject({
      encoding: 'latin-1',
      text: expect.stringContaining('"é"'),
    });
    const cp1252 = quoted('#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = "', [0x80]);
    expect(decodeSource(cp1252, 'b.py')).toMatchObject({
      encoding: 'windows-1252',
      text: expect.stringContaining('"€"'),
    });
    const sjis = quoted('# coding: shift_jis\ns = "', [0x82, 0xa0]);
    expect(decodeSource(sjis, 'c.py')).toMatchObject({
      encoding: 'shift_jis',
      text: expect.stringContaining('"あ"'),
    });
  });

  it('only honours line 2 when line 1 is a comment or blank', () => {
    expect(declaredEncoding(Buffer.from('import os\n# coding: latin-1\n'))).toBeUndefined();
    expect(declaredEncoding(Buffer.from('#!/usr/bin/python\n# coding: latin-1\n'))).toBe('latin-1');
    expect(declaredEncoding(Buffer.from('\ufeffimport os\n'))).toBe('utf-8');
  });

  it('rejects undecodable bytes with the file and line, and says what to do', () => {
    const bad = quoted('import os\nx = "', [0xff, 0xfe]);
    expect(() => decodeSource(bad, 'bad.py')).toThrow(
      expect.objectContaining({
        code: 'ERR_SOURCE_ENCODING',
        message: expect.stringMatching(
          /^bad\.py:2: the file is not valid UTF-8 and declares no encoding$/,
        ),
        hint: expect.stringMatching(/coding: latin-1/),
      }),
    );
  });

  it('rejects an unknown declared encoding', async () => {
    const outcome = await scanBytes(Buffer.from('# coding: klingon\nimport os\n'), 'k.py');
    expect(outcome).toMatchObject({
      ok: false,
      error: {
        code: 'ERR_SOURCE_ENCODING',
        message: 'k.py: unsupported source encoding "klingon"',
        hint: expect.stringMatching(/Convert the file to UTF-8/),
      },
    });
  });

  it('finds imports in a latin-1 Python 2 file', async () => {
    const source = quoted('# -*- coding: iso-8859-1 -*-\nimport urllib2\nprint "caf', [0xe9]);
    const outcome = await scanBytes(source, 'py2.py');
    expect(outcome.ok && outcome.scan.imports.map((i) => i.module)).toEqual(['urllib2']);
  });
});

describe('cp1252 decoding', () => {
  it('maps 0x80-0x9f like Python and rejects the bytes cp1252 leaves undefined', () => {
    const ok = quoted('# coding: cp1252\ns = "', [0x93, 0x80, 0x94]);
    expect(decodeSource(ok, 'w.py').text).toContain('"\u201c€\u201d"');
    const bad = quoted('# coding: windows-1252\n\ns = "', [0x81]);
    expect(() => decodeSource(bad, 'w.py')).toThrow(/w\.py:3: the file is not valid cp1252/);
  });
});
