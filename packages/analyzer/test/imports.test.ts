import { type FoundImport, scanBytes } from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';

async function scan(source: string | Uint8Array, functions = false) {
  const bytes = typeof source === 'string' ? Buffer.from(source) : source;
  const outcome = await scanBytes(bytes, 'test.py', { functions });
  if (!outcome.ok) throw new Error(outcome.error.message);
  return outcome.scan;
}

const brief = (i: FoundImport) => `${i.kind}:${'.'.repeat(i.level)}${i.module}@${i.line}`;

describe('import extraction (tree-sitter)', () => {
  it('finds every import form with its line', async () => {
    const { imports } = await scan(
      [
        'import os',
        'import a.b as c, d',
        'from e.f import g, h as i',
        'from . import j',
        'from ..k.l import *',
        'from __future__ import annotations',
        'from m import (',
        '    n,',
        '    o,',
        ')',
        'import p \\',
        '  .q',
      ].join('\n'),
    );
    expect(imports.map(brief)).toEqual([
      'import:os@1',
      'import:a.b@2',
      'import:d@2',
      'from:e.f@3',
      'from:.@4',
      'from:..k.l@5',
      'future:__future__@6',
      'from:m@7',
      'import:p.q@11',
    ]);
    expect(imports[3]?.names).toEqual(['g', 'h']);
    expect(imports[4]?.names).toEqual(['j']);
    expect(imports[5]?.names).toEqual(['*']);
  });

  it('counts __import__ and importlib.import_module with literal strings only', async () => {
    const { imports } = await scan(
      [
        'import importlib',
        'x = __import__("requests.adapters")',
        "y = importlib.import_module('yaml')",
        'z = importlib.import_module(name)',
        'w = importlib.import_module(f"plugin_{name}")',
        "v = importlib.import_module('.sub', __package__)",
        "u = something.else_('numpy')",
      ].join('\n'),
    );
    expect(imports.map(brief)).toEqual([
      'import:importlib@1',
      'dynamic:requests.adapters@2',
      'dynamic:yaml@3',
      'dynamic:.sub@6',
    ]);
  });

  it('marks imports under if TYPE_CHECKING (not its else branches)', async () => {
    const { imports } = await scan(
      [
        'from typing import TYPE_CHECKING',
        'if TYPE_CHECKING:',
        '    import pandas',
        'else:',
        '    import json',
        'if typing.TYPE_CHECKING:',
        '    from numpy import ndarray',
      ].join('\n'),
    );
    expect(imports.filter((i) => i.typeChecking).map((i) => i.module)).toEqual(['pandas', 'numpy']);
  });

  it('marks imports in a try that catches ImportError or ModuleNotFoundError as optional', async () => {
    const { imports } = await scan(
      [
        'try:',
        '    import ujson as json',
        'except ImportError:',
        '    import simplejson as json',
        'try:',
        '    import lxml',
        'except (OSError, ModuleNotFoundError) as e:',
        '    pass',
        'try:',
        '    import numpy',
        'except ValueError:',
        '    pass',
        'try:',
        '    import cPickle',
        'except ImportError, e:',
        '    pass',
      ].join('\n'),
    );
    const optional = Object.fromEntries(imports.map((i) => [i.module, i.optional]));
    expect(optional).toEqual({
      ujson: true,
      simplejson: true,
      lxml: true,
      numpy: false,
      cPickle: true,
    });
  });

  it('records the enclosing functions as qualified names', async () => {
    const scanned = await scan(
      [
        'import top',
        'def f():',
        '    import in_f',
        '    def inner():',
        '        import in_inner',
        'class C:',
        '    import in_class',
        '    async def m(self):',
        '        import in_method',
        '@decorator',
        'def g(): import in_g',
      ].join('\n'),
      true,
    );
    const where = Object.fromEntries(scanned.imports.map((i) => [i.module, i.functions]));
    expect(where).toEqual({
      top: [],
      in_f: ['f'],
      in_inner: ['f', 'f.inner'],
      in_class: [],
      in_method: ['C.m'],
      in_g: ['g'],
    });
    expect(scanned.functions).toEqual(['f', 'f.inner', 'C.m', 'g']);
  });

  it('reads Python 2 files', async () => {
    const { imports, syntaxErrors } = await scan(
      [
        'import urllib2',
        'print "hello"',
        'exec "x = 1" in ns',
        'try:',
        '    import cStringIO as StringIO',
        'except ImportError, e:',
        '    import StringIO',
        'print >>sys.stderr, "done"',
      ].join('\n'),
    );
    expect(syntaxErrors).toEqual([]);
    expect(imports.map((i) => i.module)).toEqual(['urllib2', 'cStringIO', 'StringIO']);
  });

  it('reports syntax errors with their line and still finds the other imports', async () => {
    const { imports, syntaxErrors } = await scan(
      ['import os', 'def broken(:', '    pass', 'import yaml'].join('\n'),
    );
    expect(syntaxErrors.length).toBeGreaterThan(0);
    expect(syntaxErrors[0]?.line).toBe(2);
    expect(imports.map((i) => i.module)).toEqual(['os', 'yaml']);
  });

  it('gives the same lines for CRLF line ends', async () => {
    const lf = await scan('import a\n\nfrom b import c\ndef f():\n    import d\n');
    const crlf = await scan('import a\r\n\r\nfrom b import c\r\ndef f():\r\n    import d\r\n');
    expect(crlf.imports).toEqual(lf.imports);
    expect(crlf.syntaxErrors).toEqual([]);
  });

  it('handles very large files', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(`def f${i}(x):\n    return x + ${i}`);
    lines.push('import needle_at_the_end');
    const { imports, lines: count } = await scan(lines.join('\n'));
    expect(count).toBe(200_001);
    expect(imports.map(brief)).toEqual(['import:needle_at_the_end@200001']);
  });
});
