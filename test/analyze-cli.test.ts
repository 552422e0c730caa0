/**
 * poncho_package_analyze (and its python_package_analyze alias) run as a user runs them: the
 * built binaries, real files, real exit codes, stdout/stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SpecInput } from '@poncho/core/spec';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = resolve('packages/analyzer/bin');
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-analyze-cli-'));
  env = { ...process.env, XDG_CACHE_HOME: join(work, 'xdg-cache'), NO_COLOR: '1' };
  delete env.CONDA_PREFIX;
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function run(
  args: string[],
  options: { cwd?: string; input?: string | Buffer; tool?: string } = {},
) {
  const result = spawnSync(
    process.execPath,
    [join(BIN, `${options.tool ?? 'poncho_package_analyze'}.js`), ...args],
    {
      cwd: options.cwd ?? work,
      env,
      input: options.input,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function files(dir: string, content: Record<string, string | Buffer>): Promise<string> {
  const root = join(work, dir);
  for (const [path, text] of Object.entries(content)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), text);
  }
  return root;
}

// The man page's example script.
const EXAMPLE =
  'import os\nimport sys\nimport pickle\n\nimport antigravity\nimport matplotlib\n\n\nif __name__ == "__main__":\n    print("example")\n';

describe('poncho_package_analyze CLI', () => {
  it('writes the spec for the man page example, deterministically, and python_package_analyze agrees', async () => {
    const root = await files('example', { 'example.py': EXAMPLE });
    const first = run(['--python-version', '3.11', 'example.py', 'dependencies.json'], {
      cwd: root,
    });
    expect(first.stderr).toBe('');
    expect(first.status).toBe(0);
    const spec = await readFile(join(root, 'dependencies.json'), 'utf8');
    expect(spec).toBe(
      '{\n    "conda": {\n        "channels": [\n            "conda-forge"\n        ],\n        "dependencies": [\n' +
        '            "matplotlib-base",\n            "pip",\n            "python=3.11"\n        ]\n    }\n}\n',
    );
    expect(SpecInput.safeParse(JSON.parse(spec)).success).toBe(true);
    const alias = run(['--python-version', '3.11', 'example.py', 'alias.json'], {
      cwd: root,
      tool: 'python_package_analyze',
    });
    expect(alias.status).toBe(0);
    expect(await readFile(join(root, 'alias.json'), 'utf8')).toBe(spec);
    // No temporary files left behind.
    expect((await readdir(root)).sort()).toEqual(['alias.json', 'dependencies.json', 'example.py']);
  });

  it('reads - from stdin and writes - to stdout; --report writes the JSON report', async () => {
    const root = await files('pipe', { 'helper.py': 'import yaml\n' });
    const piped = run(['--python-version', '3.12', '--report', 'report.json', '-', '-'], {
      cwd: root,
      input: 'import helper\nimport requests\nimport distutils\n',
    });
    expect(piped.status).toBe(0);
    expect(JSON.parse(piped.stdout).conda.dependencies).toEqual([
      'pip',
      'python=3.12',
      'pyyaml',
      'requests',
      'setuptools',
    ]);
    const report = JSON.parse(await readFile(join(root, 'report.json'), 'utf8'));
    expect(report.reportVersion).toBe(1);
    expect(report.sources.map((s: { file: string }) => s.file)).toEqual(['<stdin>', 'helper.py']);
    expect(report.imports[0]).toMatchObject({
      module: 'helper',
      file: '<stdin>',
      line: 1,
      resolution: 'local',
    });
    expect(piped.stderr).toMatch(
      /<stdin>:3: "distutils" was removed from the standard library in Python 3\.12 .*using "setuptools"/,
    );
    const reportOut = run(['--python-version', '3.11', '--report', '-', 'helper.py', 'spec.json'], {
      cwd: root,
    });
    expect(JSON.parse(reportOut.stdout).imports[0]).toMatchObject({
      module: 'yaml',
      package: 'pyyaml',
      resolution: 'depfinder',
    });
  });

  it('analyzes Python 2, CRLF and declared-encoding files', async () => {
    const latin = Buffer.concat([
      Buffer.from('# -*- coding: latin-1 -*-\r\nimport urllib2\r\nprint "caf'),
      Buffer.from([0xe9]),
      Buffer.from('"\r\n'),
    ]);
    const root = await files('old', {
      'old.py': latin,
      'crlf.py': 'import numpy\r\n\r\ndef f():\r\n    import scipy\r\n',
    });
    const result = run(
      ['--python-version', '3.11', '--report', 'r.json', 'old.py', 'crlf.py', 'spec.json'],
      { cwd: root },
    );
    expect(result.status).toBe(0);
    const report = JSON.parse(await readFile(join(root, 'r.json'), 'utf8'));
    expect(report.sources.map((s: { encoding: string }) => s.encoding)).toEqual([
      'latin-1',
      'utf-8',
    ]);
    expect(
      report.imports.map((i: { module: string; line: number }) => `${i.module}:${i.line}`),
    ).toEqual(['urllib2:2', 'numpy:1', 'scipy:4']);
  });

  it('follows --function and --toplevel; rejects both together and unknown functions (exit 2)', async () => {
    const root = await files('select', {
      's.py': 'import toplevel_pkg\nclass A:\n    def run(self):\n        import run_pkg\n',
    });
    const fn = run(['--python-version', '3.11', '--function', 'A.run', 's.py', '-'], { cwd: root });
    expect(fn.status).toBe(0);
    expect(JSON.parse(fn.stdout).conda.dependencies).toEqual(['pip', 'python=3.11', 'run-pkg']);
    const both = run(['--toplevel', '--function', 'A.run', 's.py', 'out.json'], { cwd: root });
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--toplevel and --function exclude each other/);
    const unknown = run(['--python-version', '3.11', '--function', 'run', 's.py', 'out.json'], {
      cwd: root,
    });
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(
      /no function named "run"[\s\S]*hint: Functions defined there: A\.run/,
    );
    expect(existsSync(join(root, 'out.json'))).toBe(false);
  });

  it('bad input: one message with a hint, a non-zero exit, no output file', async () => {
    const root = await files('bad', {
      'ok.py': 'import yaml\n',
      'broken.py': 'import yaml\ndef f(:\n    import os\n',
      'binary.py': Buffer.from([0x69, 0x6d, 0x70, 0x0a, 0xff, 0xfe, 0x00, 0x0a]),
      'empty/notes.txt': 'nothing',
      'py2.py': 'import os\nprint "hello"\n',
    });
    const cases: Array<{ args: string[]; status: number; message: RegExp }> = [
      {
        args: ['missing.py', 'out.json'],
        status: 1,
        message: /source file not found: missing\.py/,
      },
      {
        args: ['empty', 'out.json'],
        status: 1,
        message:
          /no Python files \(\*\.py, \*\.ipynb, scripts with a python shebang\) found under empty/,
      },
      {
        args: ['binary.py', 'out.json'],
        status: 1,
        message: /binary\.py:2: the file is not valid UTF-8[\s\S]*hint: Add a PEP 263 coding line/,
      },
      {
        args: ['ok.py', 'no/such/dir/out.json'],
        status: 1,
        message: /the folder for the spec file does not exist/,
      },
      {
        args: ['--strict', 'broken.py', 'out.json'],
        status: 1,
        message: /broken\.py:2:\d+: syntax error/,
      },
      {
        args: ['ok.py'],
        status: 2,
        message: /missing OUT after ok\.py[\s\S]*hint: Give the sources, then the spec file/,
      },
      {
        args: ['ok.py', 'broken.py'],
        status: 2,
        message: /the output broken\.py is a Python file/,
      },
      { args: ['--report', '-', 'ok.py', '-'], status: 2, message: /cannot both go to stdout/ },
      {
        args: ['--pkg-mapping', 'yaml', 'ok.py', 'out.json'],
        status: 2,
        message: /not IMPORT=NAME/,
      },
      {
        args: ['--python-version', '2.7', 'ok.py', 'out.json'],
        status: 2,
        message: /not a Python 3 version/,
      },
      { args: ['--bogus', 'ok.py', 'out.json'], status: 2, message: /unknown option '--bogus'/ },
      {
        args: ['--threads', 'many', 'ok.py', 'out.json'],
        status: 2,
        message: /--threads many is not a whole number/,
      },
      {
        args: ['-', '-', 'out.json'],
        status: 2,
        message: /standard input \(-\) can be given only once/,
      },
      // Option values are checked before anything is written.
      {
        args: ['--extra-pkg', 'numpy>>1', 'ok.py', 'out.json'],
        status: 2,
        message: /--extra-pkg "numpy>>1": ">>1" is not a version constraint/,
      },
      {
        args: ['--extra-pkg', 'pip:uproot=5', 'ok.py', 'out.json'],
        status: 2,
        message: /--extra-pkg "pip:uproot=5": "=5" is not a version specifier/,
      },
      {
        args: ['--pkg-mapping', 'x=pip:', 'ok.py', 'out.json'],
        status: 2,
        message: /--pkg-mapping "x=pip:": no package named after "pip:"/,
      },
      {
        args: ['--pkg-mapping', 'x=not a name', 'ok.py', 'out.json'],
        status: 2,
        message: /--pkg-mapping "x=not a name"/,
      },
      {
        args: ['--strict', 'py2.py', 'out.json'],
        status: 1,
        message: /py2\.py:2:1: syntax error: Python 2 print statement/,
      },
    ];
    for (const { args, status, message } of cases) {
      const result = run(['--python-version', '3.11', ...args], { cwd: root });
      expect(result.status, `${args.join(' ')}: ${result.stderr}`).toBe(status);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/^poncho_package_analyze: error: /);
      // Every error says what to do.
      expect(result.stderr, args.join(' ')).toMatch(/\n {2}hint: \S/);
      expect(existsSync(join(root, 'out.json')), args.join(' ')).toBe(false);
    }
    // A syntax error without --strict is a warning with file:line, and the spec is written.
    const tolerant = run(['--python-version', '3.11', 'broken.py', 'out.json'], { cwd: root });
    expect(tolerant.status).toBe(0);
    expect(tolerant.stderr).toMatch(/warning: broken\.py:2:\d+: syntax error/);
    expect(JSON.parse(await readFile(join(root, 'out.json'), 'utf8')).conda.dependencies).toContain(
      'pyyaml',
    );
  });

  it('prints help (exit 0) with every option', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    for (const option of [
      '--toplevel',
      '--function',
      '--pkg-mapping',
      '--extra-pkg',
      '--channel',
      '--python-version',
      '--python',
      '--prefix',
      '--source-root',
      '--report',
      '--strict',
      '--no-cache',
    ]) {
      expect(help.stdout).toContain(option);
    }
    expect(run(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('uses the active conda environment ($CONDA_PREFIX) for exact pins', async () => {
    const site = 'lib/python3.11/site-packages';
    const prefix = await files('env', {
      'conda-meta/python-3.11.3-h2755cc3_0_cpython.json': JSON.stringify({
        name: 'python',
        version: '3.11.3',
        build: 'h2755cc3_0_cpython',
        files: [],
      }),
      'conda-meta/pip-23.1.2-pyhd8ed1ab_0.json': JSON.stringify({
        name: 'pip',
        version: '23.1.2',
        build: 'pyhd8ed1ab_0',
        files: [`${site}/pip/__init__.py`],
      }),
      'conda-meta/matplotlib-base-3.7.1-py311h38be061_0.json': JSON.stringify({
        name: 'matplotlib-base',
        version: '3.7.1',
        build: 'py311h38be061_0',
        files: [`${site}/matplotlib/__init__.py`],
      }),
      [`${site}/uproot-5.0.5.dist-info/METADATA`]: 'Name: uproot\nVersion: 5.0.5\n',
      [`${site}/uproot-5.0.5.dist-info/top_level.txt`]: 'uproot\n',
    });
    const root = await files('env-src', { 'job.py': 'import matplotlib\nimport uproot\n' });
    const previous = env.CONDA_PREFIX;
    env.CONDA_PREFIX = prefix;
    try {
      const result = run(['job.py', '-'], { cwd: root });
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({
        conda: {
          channels: ['conda-forge'],
          dependencies: [
            'matplotlib-base=3.7.1=py311h38be061_0',
            'pip=23.1.2=pyhd8ed1ab_0',
            'python=3.11.3=h2755cc3_0_cpython',
            { pip: ['uproot==5.0.5'] },
          ],
        },
      });
      const noEnv = run(['--no-env', '--python-version', '3.11', 'job.py', '-'], { cwd: root });
      expect(JSON.parse(noEnv.stdout).conda.dependencies).toEqual([
        'matplotlib-base',
        'pip',
        'python=3.11',
        'uproot-base',
      ]);
    } finally {
      env.CONDA_PREFIX = previous;
    }
  });

  it('accepts good option values as given, and warns about a mapping of a standard-library name', async () => {
    const root = await files('options', { 'ok.py': 'import yaml\n' });
    const result = run(
      [
        '--python-version',
        '3.11',
        '--extra-pkg',
        'numpy >=1.24, <2',
        '--extra-pkg',
        'pip:uproot==5.0.5',
        '--pkg-mapping',
        'os=foo',
        'ok.py',
        '-',
      ],
      { cwd: root },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).conda.dependencies).toEqual([
      'numpy >=1.24, <2',
      'pip',
      'python=3.11',
      'pyyaml',
      { pip: ['uproot==5.0.5'] },
    ]);
    expect(result.stderr).toMatch(
      /--pkg-mapping os=foo has no effect: os is in the standard library of Python 3\.11/,
    );
  });

  it('analyzes a 22 MB file in bounded memory: never exit 70', async () => {
    // The word import inside makes it a statement that could hold an import.
    const literal = `TABLE = [\n${'    ("import", 2),\n'.repeat(1_200_000)}]\n`;
    const root = await files('huge', { 'gen.py': `import numpy\n${literal}import yaml\n` });
    const result = run(['--python-version', '3.11', 'gen.py', '-'], { cwd: root });
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).conda.dependencies).toEqual([
      'numpy',
      'pip',
      'python=3.11',
      'pyyaml',
    ]);
    expect(result.stderr).toMatch(/gen\.py:2:1: a statement of 22 MB is too large to parse/);
    const strict = run(['--python-version', '3.11', '--strict', 'gen.py', 'out.json'], {
      cwd: root,
    });
    expect(strict.status).toBe(1);
    expect(strict.stderr).toMatch(/error: gen\.py:2:1: a statement of 22 MB is too large/);
    expect(existsSync(join(root, 'out.json'))).toBe(false);
  });
});
