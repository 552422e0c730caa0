/**
 * What real projects hold: notebooks, shebang scripts, dangling links and unreadable files,
 * test files, namespace-portion folders, Python 2 and removed standard-library modules,
 * huge files. Python 3.11 (Debian's python3.11) is the reference where it has an opinion.
 */
import { execFileSync } from 'node:child_process';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AnalyzeOptions,
  analyze,
  legacyModule,
  notebookToPython,
  scanBytes,
  splitTopLevel,
} from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';
import { tempProjects } from './temp-projects.js';

const PYTHON = '/usr/bin/python3.11';
const project = tempProjects('poncho-inputs-');

const base: AnalyzeOptions = { pythonVersion: '3.11', prefix: null, cache: false, threads: 0 };

const notebook = (cells: Array<{ cell_type: string; source: string | string[] }>) =>
  JSON.stringify({ cells, metadata: {}, nbformat: 4, nbformat_minor: 5 });

describe('notebooks', () => {
  const nb = notebook([
    { cell_type: 'markdown', source: ['# Title\n', 'import not_code\n'] },
    {
      cell_type: 'code',
      source: [
        '%matplotlib inline\n',
        'import seaborn as sns\n',
        '!pip install something\n',
        'df.head?\n',
        'msg = ("%s"\n',
        '       % 3)\n',
        'if True:\n',
        '    %time import scipy\n',
      ],
    },
    { cell_type: 'code', source: '%%bash\nimport not_python\necho hi\n' },
    { cell_type: 'code', source: '%%time\nimport requests\n' },
  ]);

  it('scans the code cells, without magics, shell escapes or non-Python cell magics', () => {
    const text = notebookToPython(Buffer.from(nb), 'nb.ipynb');
    // What is left is Python: CPython compiles it.
    execFileSync(PYTHON, ['-c', 'import sys; compile(sys.stdin.read(), "nb", "exec")'], {
      input: text,
    });
    expect(text).toContain('# In[2]:\npass\nimport seaborn as sns\npass\npass\n');
    expect(text).not.toContain('not_python');
    expect(text).not.toContain('not_code');
  });

  it('is a source when named and in folders; a broken notebook in a folder is a warning', async () => {
    const root = await project('nb', {
      'analysis/explore.ipynb': nb,
      'analysis/broken.ipynb': '{"cells": [',
    });
    const result = await analyze(['analysis'], { ...base, cwd: root });
    expect(result.spec.conda.dependencies).toEqual([
      'pip',
      'python=3.11',
      'requests',
      'seaborn-base',
    ]);
    expect(result.report.warnings.join('\n')).toMatch(
      /analysis\/broken\.ipynb: skipped: .*not a Jupyter notebook/,
    );
    const named = await analyze(['analysis/explore.ipynb'], { ...base, cwd: root });
    // Lines count in the code cells joined, each after a `# In[N]:` line.
    expect(named.report.imports.find((i) => i.module === 'requests')?.line).toBe(18);
    await expect(analyze(['analysis/broken.ipynb'], { ...base, cwd: root })).rejects.toMatchObject({
      code: 'ERR_NOTEBOOK',
    });
  });
});

describe('scripts, links and unreadable files', () => {
  it('takes extension-less scripts with a python shebang from folders, and when named', async () => {
    const root = await project('shebang', {
      'bin/run-job': '#!/usr/bin/env python3\nimport requests\n',
      'bin/tool': '#!/usr/bin/python3.11 -u\nimport yaml\n',
      'bin/setup-sh': '#!/bin/sh\nimport not_python\n',
      'bin/README': 'import not_python_either\n',
      'bin/main.py': 'import numpy\n',
    });
    const result = await analyze(['bin'], { ...base, cwd: root });
    expect(result.report.sources.map((s) => s.file).sort()).toEqual([
      'bin/main.py',
      'bin/run-job',
      'bin/tool',
    ]);
    expect(result.spec.conda.dependencies).toEqual([
      'numpy',
      'pip',
      'python=3.11',
      'pyyaml',
      'requests',
    ]);
    const named = await analyze(['bin/run-job'], { ...base, cwd: root });
    expect(named.spec.conda.dependencies).toContain('requests');
  });

  it('warns about a dangling link, a link loop or undecodable bytes in a folder and goes on; --strict stops', async () => {
    const root = await project('broken', {
      'src/good.py': 'import requests\n',
      'src/latin.py': Buffer.from([0x78, 0x20, 0x3d, 0x20, 0x27, 0xe9, 0x27, 0x0a]),
    });
    await symlink('missing-target.py', join(root, 'src/dangling.py'));
    await symlink('loop.py', join(root, 'src/loop.py'));
    const result = await analyze(['src'], { ...base, cwd: root });
    expect(result.spec.conda.dependencies).toEqual(['pip', 'python=3.11', 'requests']);
    const warnings = result.report.warnings.join('\n');
    expect(warnings).toMatch(
      /src\/dangling\.py: skipped: dangling link: src\/dangling\.py -> missing-target\.py/,
    );
    expect(warnings).toMatch(/src\/loop\.py: skipped: /);
    expect(warnings).toMatch(/src\/latin\.py: skipped: .*not valid UTF-8/);
    await expect(analyze(['src'], { ...base, cwd: root, strict: true })).rejects.toMatchObject({
      exitCode: 1,
    });
    // A file named on the command line must be readable.
    await expect(analyze(['src/dangling.py'], { ...base, cwd: root })).rejects.toMatchObject({
      code: 'ERR_DANGLING_LINK',
    });
  });
});

describe('test files', () => {
  it('marks packages that only test files import as test-only (kept in the spec)', async () => {
    const root = await project('tests', {
      'proj/app.py': 'import requests\nimport numpy\n',
      'proj/tests/test_app.py': 'import pytest\nimport numpy\nfrom helpers import make\n',
      'proj/tests/helpers.py': 'import hypothesis\n',
      'proj/conftest.py': 'import pytest_mock\n',
      'proj/pkg/util_test.py': 'import freezegun\n',
      'proj/pkg/testing.py': 'import yaml\n',
    });
    const result = await analyze(['proj'], { ...base, cwd: root });
    expect(result.report.packages.testOnly).toEqual([
      'freezegun',
      'hypothesis',
      'pytest',
      'pytest-mock',
    ]);
    expect(result.spec.conda.dependencies).toContain('pytest');
    const numpy = result.report.imports.filter((i) => i.module === 'numpy');
    expect(numpy.map((i) => i.testOnly)).toEqual([undefined, undefined]);
    expect(result.report.imports.find((i) => i.module === 'pytest')).toMatchObject({
      testFile: true,
      testOnly: true,
    });
    expect(result.report.imports.find((i) => i.module === 'yaml')?.testOnly).toBeUndefined();
  });
});

describe('namespace-portion folders', () => {
  it('a folder without __init__.py does not hide an installed package of that name', async () => {
    const site = 'env/lib/python3.11/site-packages';
    const root = await project('portion', {
      'job/run.py': 'import yaml\nimport mylocal.helpers\nfrom config import settings\n',
      // `config` is a package name too (python-configuration), but this portion holds what
      // is imported: the user's own code.
      'job/config/settings.py': 'import toolz\n',
      // Folders without __init__.py: namespace portions.
      'job/yaml/notes.py': 'import not_followed\n',
      'job/mylocal/helpers.py': 'import requests\n',
      'env/conda-meta/pyyaml-6.0-py_0.json': JSON.stringify({
        name: 'pyyaml',
        version: '6.0',
        build: 'py_0',
        files: [`${site}/yaml/__init__.py`],
      }),
    });
    const withEnv = await analyze(['job/run.py'], {
      ...base,
      cwd: root,
      prefix: join(root, 'env'),
    });
    expect(withEnv.spec.conda.dependencies).toEqual([
      'pip',
      'python=3.11',
      'pyyaml=6.0=py_0',
      'requests',
      'toolz',
    ]);
    expect(withEnv.report.imports.find((i) => i.module === 'mylocal.helpers')?.resolution).toBe(
      'local',
    );
    // Without an environment, a package the table knows is taken to be installed.
    const noEnv = await analyze(['job/run.py'], { ...base, cwd: root });
    expect(noEnv.spec.conda.dependencies).toEqual([
      'pip',
      'python=3.11',
      'pyyaml',
      'requests',
      'toolz',
    ]);
    expect(noEnv.report.sources.map((s) => s.file)).not.toContain('job/yaml/notes.py');
  });
});

describe('standard-library names of other Pythons', () => {
  it('knows removed, newer and Python 2 modules, with replacements', () => {
    expect(legacyModule('distutils', '3.12')).toMatchObject({
      kind: 'removed',
      removedIn: '3.12',
      package: 'setuptools',
    });
    expect(legacyModule('cgi', '3.14')).toMatchObject({ kind: 'removed', removedIn: '3.13' });
    expect(legacyModule('imp', '3.11')).toBeUndefined();
    expect(legacyModule('tomllib', '3.10')).toMatchObject({ kind: 'newer', addedIn: '3.11' });
    expect(legacyModule('urllib2', '3.11')).toMatchObject({ kind: 'python2' });
    expect(legacyModule('numpy', '3.11')).toBeUndefined();
  });

  it('warns instead of inventing packages; a --pkg-mapping still wins', async () => {
    const root = await project('legacy', {
      'old.py': [
        'import urllib2',
        'import cPickle',
        'import ConfigParser',
        'import asyncore',
        'from distutils.core import setup',
        'import imp',
        'try:',
        '    from StringIO import StringIO',
        'except ImportError:',
        '    from io import StringIO',
      ].join('\n'),
    });
    const result = await analyze(['old.py'], { ...base, cwd: root, pythonVersion: '3.12' });
    expect(result.spec.conda.dependencies).toEqual(['pip', 'python=3.12', 'setuptools']);
    const warnings = result.report.warnings.join('\n');
    expect(warnings).toMatch(
      /old\.py:1: "urllib2" is a Python 2 standard-library module: Python 3 has it as urllib\.request/,
    );
    expect(warnings).toMatch(/old\.py:3: "ConfigParser" .*configparser/);
    expect(warnings).toMatch(
      /old\.py:4: "asyncore" was removed from the standard library in Python 3\.12.*asyncio/,
    );
    expect(warnings).toMatch(/old\.py:5: "distutils" was removed .*using "setuptools"/);
    expect(warnings).toMatch(/old\.py:6: "imp" was removed .*importlib/);
    expect(warnings).not.toMatch(/StringIO/); // an optional fallback import
    expect(warnings).not.toMatch(/no known package/);
    const mapped = await analyze(['old.py'], {
      ...base,
      cwd: root,
      pythonVersion: '3.12',
      pkgMapping: ['asyncore=pip:pyasyncore'],
    });
    expect(mapped.spec.conda.dependencies).toContainEqual({ pip: ['pyasyncore'] });
  });
});

describe('--strict rejects what CPython rejects', () => {
  // Python 2 syntax tree-sitter-python accepts (its grammar keeps print and exec statements).
  const PYTHON2 = [
    'print "x"\n',
    'print x, y\n',
    'exec "code"\n',
    'exec code in ns\n',
    'x = `y`\n',
    'if a <> b:\n    pass\n',
    'x = 0777\n',
    'x = 10L\n',
    "x = ur'a'\n",
    'try:\n    pass\nexcept E, e:\n    pass\n',
    'raise E, "message"\n',
    'def f((a, b)):\n    pass\n',
    '[x for x in 1, 2]\n',
    // Statements out of place: tree-sitter parses them, CPython's compiler rejects them.
    'return 1\n',
    'class A:\n    return 1\n',
    'yield 1\n',
    'await x\n',
    'def f():\n    await x\n',
    'async with x:\n    pass\n',
    'def f():\n    async for i in x:\n        pass\n',
    'break\n',
    'continue\n',
    'for i in x:\n    def f():\n        break\n',
    'while x:\n    pass\nelse:\n    break\n',
    'nonlocal x\n',
    'def f():\n    from y import *\n',
    'def f(a=1, b):\n    pass\n',
    'def f(a, a):\n    pass\n',
    'def f(*):\n    pass\n',
    'f = lambda a=1, b: 0\n',
    'x := 1\n',
    'f(x for x in y, 1)\n',
    'x = 1\nfrom __future__ import annotations\n',
    'def f():\n    from __future__ import annotations\n',
  ];
  const VALID = [
    'print("x")\n',
    'print >>f, x\n',
    'x = 00\n',
    'x = 0o777\n',
    "x = u'a' + r'b' + rb'c'\n",
    'try:\n    pass\nexcept (E, F) as e:\n    pass\n',
    'raise E("message")\n',
    'raise E from e\n',
    'x = [1, 2]\nif x != 3:\n    pass\n',
    'async def f():\n    await x\n    async with a:\n        pass\n    async for i in b:\n        pass\n',
    'def f():\n    yield 1\n    return 2\n',
    'g = lambda: (yield)\n',
    'for i in x:\n    for j in y:\n        pass\n    else:\n        continue\n',
    'def f():\n    x = 1\n    def g():\n        nonlocal x\n',
    'def f(a, /, b=1, *args: int, c, d=2, **kw: str):\n    pass\n',
    'if (y := 1):\n    pass\n',
    'f(x for x in y)\n',
    '"""Docstring."""\n# comment\nfrom __future__ import annotations\nfrom __future__ import division\n',
  ];
  const cpythonAccepts = (source: string) => {
    try {
      execFileSync(PYTHON, ['-c', 'import sys; compile(sys.stdin.read(), "t.py", "exec")'], {
        input: source,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      return true;
    } catch {
      return false;
    }
  };

  it.each(PYTHON2)('rejects %j as CPython 3.11 does', async (source) => {
    expect(cpythonAccepts(source)).toBe(false);
    const outcome = await scanBytes(Buffer.from(`import os\n${source}`), 't.py', { python2: true });
    expect(outcome.ok && outcome.scan.syntaxErrors[0]?.kind).toMatch(/^(python2|misplaced)$/);
  });

  it.each(VALID)('accepts %j as CPython 3.11 does', async (source) => {
    expect(cpythonAccepts(source)).toBe(true);
    const outcome = await scanBytes(Buffer.from(source), 't.py', { python2: true });
    expect(outcome.ok && outcome.scan.syntaxErrors).toEqual([]);
  });

  it('fails the run with file:line:column (and only warns without --strict)', async () => {
    const root = await project('strict', { 'old.py': 'import os\nprint "hello"\n' });
    await expect(analyze(['old.py'], { ...base, cwd: root, strict: true })).rejects.toMatchObject({
      code: 'ERR_SYNTAX',
      exitCode: 1,
      message: expect.stringMatching(/^old\.py:2:1: syntax error: Python 2 print statement/),
    });
    await expect(analyze(['old.py'], { ...base, cwd: root })).resolves.toBeDefined();
  });
});

describe('large files', () => {
  it('cuts only where a top-level statement starts: every piece of the stdlib compiles', () => {
    const files = execFileSync(PYTHON, [
      '-c',
      'import glob; print("\\n".join(sorted(glob.glob("/usr/lib/python3.11/*.py"))))',
    ])
      .toString()
      .trim()
      .split('\n');
    const pieces: string[] = [];
    for (const file of files) {
      const text = execFileSync('cat', [file]).toString('utf8');
      // A tiny target, so that every possible cut is tried.
      const chunks = splitTopLevel(text, 200);
      expect(chunks.map((c) => c.text).join('')).toBe(text);
      pieces.push(...chunks.map((c) => c.text));
    }
    expect(pieces.length).toBeGreaterThan(files.length * 5);
    const failures = execFileSync(
      PYTHON,
      [
        '-c',
        'import json, sys\nbad = []\nfor i, p in enumerate(json.load(sys.stdin)):\n    try:\n        compile(p, "piece", "exec")\n    except SyntaxError as e:\n        bad.append((i, str(e), p[:200]))\nprint(json.dumps(bad[:5]))',
      ],
      { input: JSON.stringify(pieces), maxBuffer: 64 << 20 },
    ).toString();
    expect(JSON.parse(failures)).toEqual([]);
  });

  it('finds imports across pieces with their real line numbers, and skips one giant statement', async () => {
    // As --strict and --function scan it (the whole file), and as a plain run does (only the
    // statements that mention import).
    for (const options of [{ python2: true }, {}]) await checkBig(options);
  });

  const checkBig = async (options: { python2?: boolean }) => {
    const filler = 'def f():\n    return 1\n\n'.repeat(120_000); // ~3 MB: three pieces
    const literal = `DATA = [\n${'    "import",\n'.repeat(1_500_000)}]\n`; // ~21 MB: one statement
    const source = `import first\n${filler}import middle\n${literal}import last\n`;
    const outcome = await scanBytes(Buffer.from(source), 'big.py', options);
    if (!outcome.ok) throw new Error('scan failed');
    const lineOf = (needle: string) => source.slice(0, source.indexOf(needle)).split('\n').length;
    expect(outcome.scan.imports.map((i) => [i.module, i.line])).toEqual([
      ['first', 1],
      ['middle', lineOf('import middle')],
      ['last', lineOf('import last')],
    ]);
    expect(outcome.scan.syntaxErrors).toEqual([
      expect.objectContaining({ kind: 'too-large', line: lineOf('DATA = [') }),
    ]);
    expect(outcome.scan.lines).toBe(source.split('\n').length - 1);
  };
});
