import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AnalyzeOptions, analyze } from '@poncho/analyzer';
import { SpecInput, serializeSpec } from '@poncho/core/spec';
import { describe, expect, it } from 'vitest';
import { tempProjects } from './temp-projects.js';

const project = tempProjects('poncho-analyze-');

const base: AnalyzeOptions = { pythonVersion: '3.11', prefix: null, cache: false, threads: 0 };

function deps(result: Awaited<ReturnType<typeof analyze>>) {
  return result.spec.conda.dependencies;
}

describe('analyze()', () => {
  it('merges several sources into one spec with python and pip, sorted, valid for conda env create', async () => {
    const root = await project('merge', {
      'a.py': 'import yaml\nimport os\n',
      'b.py': 'from sklearn import svm\nimport cv2\nfrom PIL import Image\nimport numpy\n',
    });
    const result = await analyze(['a.py', 'b.py'], { ...base, cwd: root });
    expect(result.spec).toEqual({
      conda: {
        channels: ['conda-forge'],
        dependencies: ['numpy', 'opencv', 'pillow', 'pip', 'python=3.11', 'pyyaml', 'scikit-learn'],
      },
    });
    expect(SpecInput.safeParse(result.spec).success).toBe(true);
    const again = await analyze(['a.py', 'b.py'], { ...base, cwd: root });
    expect(serializeSpec(again.spec)).toBe(serializeSpec(result.spec));
    expect(JSON.stringify(again.report)).toBe(JSON.stringify(result.report));
  });

  it('expands a folder to its *.py files, skipping .git, virtual environments, node_modules, __pycache__', async () => {
    const root = await project('tree', {
      'src/main.py': 'import requests\n',
      'src/pkg/__init__.py': '',
      'src/pkg/util.py': 'import lxml\n',
      'src/.git/hooks/x.py': 'import gitonly\n',
      'src/.venv/lib/site.py': 'import venvonly\n',
      'src/myenv/pyvenv.cfg': 'home = /usr\n',
      'src/myenv/lib/python3.11/site-packages/z.py': 'import venvonly2\n',
      'src/condaenv/conda-meta/history': '',
      'src/condaenv/lib/q.py': 'import condaonly\n',
      'src/node_modules/n/y.py': 'import nodeonly\n',
      'src/__pycache__/c.py': 'import cacheonly\n',
      'src/README.txt': 'not python',
    });
    const result = await analyze(['src'], { ...base, cwd: root });
    expect(result.report.sources.map((s) => s.file)).toEqual([
      'src/main.py',
      'src/pkg/__init__.py',
      'src/pkg/util.py',
    ]);
    expect(deps(result)).toEqual(['lxml', 'pip', 'python=3.11', 'requests']);
  });

  it('treats relative imports and local modules as local, follows them transitively once each', async () => {
    const root = await project('local', {
      'job.py':
        'import helper\nfrom lib import tools\nfrom . import sibling\nimport missing_pkg_xyz\n',
      'helper.py': 'import numpy\nimport job\nimport helper\n',
      'lib/__init__.py': 'from .core import run\n',
      'lib/core.py': 'import scipy\nfrom .. import helper\n',
      'lib/tools.py': 'import pandas\n',
      'sibling.py': 'import h5py\n',
      'nspkg/mod.py': 'import numba\n',
      'nspkg/data.txt': 'not python',
    });
    await writeFile(
      join(root, 'job.py'),
      'import helper\nfrom lib import tools\nfrom . import sibling\nimport missing_pkg_xyz\nimport nspkg.mod\n',
    );
    const result = await analyze(['job.py'], { ...base, cwd: root });
    const files = result.report.sources.map((s) => s.file);
    expect(files).toEqual([
      'job.py',
      'helper.py',
      'lib/__init__.py',
      'lib/tools.py',
      'sibling.py',
      'nspkg/mod.py',
      'lib/core.py',
    ]);
    expect(result.report.sources[1]?.followedFrom).toBe('job.py:1');
    expect(deps(result)).toEqual([
      'h5py',
      'missing-pkg-xyz',
      'numba',
      'numpy',
      'pandas',
      'pip',
      'python=3.11',
      'scipy',
    ]);
    const byModule = Object.fromEntries(
      result.report.imports.filter((i) => i.file === 'job.py').map((i) => [i.module, i]),
    );
    expect(byModule.helper).toMatchObject({
      resolution: 'local',
      excluded: 'local',
      location: 'helper.py',
    });
    expect(byModule['.']).toMatchObject({ resolution: 'relative', excluded: 'local' });
    expect(byModule.missing_pkg_xyz).toMatchObject({
      resolution: 'name',
      package: 'missing-pkg-xyz',
    });
    expect(result.report.warnings.join('\n')).toMatch(
      /job\.py:4: no known package provides "missing_pkg_xyz"/,
    );
  });

  it('finds local packages of a folder source (src layout) and --source-root folders', async () => {
    const root = await project('layout', {
      'proj/src/mypkg/__init__.py': 'from mypkg import sub\n',
      'proj/src/mypkg/sub.py': 'import mypkg.other\nimport shared_lib\n',
      'proj/src/mypkg/other.py': 'import toolz\n',
      // Inside a package, `import yaml` is PyYAML even beside a module named yaml.py.
      'proj/src/mypkg/yaml.py': 'import yaml\n',
      'vendor/shared_lib.py': 'import attr\n',
    });
    const without = await analyze(['proj'], { ...base, cwd: root });
    expect(deps(without)).toEqual(['pip', 'python=3.11', 'pyyaml', 'shared-lib', 'toolz']);
    const withRoot = await analyze(['proj'], { ...base, cwd: root, sourceRoots: ['vendor'] });
    expect(deps(withRoot)).toEqual(['attrs', 'pip', 'python=3.11', 'pyyaml', 'toolz']);
    await expect(analyze(['proj'], { ...base, cwd: root, sourceRoots: ['nope'] })).rejects.toThrow(
      /--source-root folder not found: nope/,
    );
  });

  it('drops __future__, TYPE_CHECKING imports and the standard library of the target version', async () => {
    const root = await project('filters', {
      's.py': [
        'from __future__ import annotations',
        'from typing import TYPE_CHECKING',
        'if TYPE_CHECKING:',
        '    import pandas',
        'import distutils.core',
        'import telnetlib',
        'import tomllib',
      ].join('\n'),
    });
    const at = (pythonVersion: string) => analyze(['s.py'], { ...base, cwd: root, pythonVersion });
    expect(deps(await at('3.11'))).toEqual(['pip', 'python=3.11']);
    // Removed modules are no made-up packages: setuptools provides distutils, nothing telnetlib.
    expect(deps(await at('3.13'))).toEqual(['pip', 'python=3.13', 'setuptools']);
    expect(deps(await at('3.10'))).toEqual(['pip', 'python=3.10']);
    const report = (await at('3.11')).report;
    expect(report.imports.find((i) => i.module === 'pandas')).toMatchObject({
      typeChecking: true,
      excluded: 'type-checking',
    });
    expect(report.imports.find((i) => i.module === '__future__')).toMatchObject({
      resolution: 'future',
      excluded: 'future',
    });
  });

  it('keeps optional imports that map to a package and leaves out unknown ones, with a warning', async () => {
    const root = await project('optional', {
      's.py':
        'try:\n    import ujson\nexcept ImportError:\n    import json\ntry:\n    import speedups_xyz\nexcept ImportError:\n    speedups_xyz = None\ntry:\n    import cPickle\nexcept ImportError:\n    import pickle\n',
    });
    const result = await analyze(['s.py'], { ...base, cwd: root });
    expect(deps(result)).toEqual(['pip', 'python=3.11', 'ujson']);
    expect(result.report.imports.find((i) => i.module === 'ujson')).toMatchObject({
      optional: true,
      resolution: 'depfinder',
    });
    expect(result.report.imports.find((i) => i.module === 'speedups_xyz')).toMatchObject({
      optional: true,
      excluded: 'optional-unresolved',
    });
    expect(result.report.warnings.join('\n')).toMatch(/s\.py:6: optional import "speedups_xyz"/);
    // A Python 2 fallback import is neither a package nor worth a warning.
    expect(result.report.imports.find((i) => i.module === 'cPickle')).toMatchObject({
      optional: true,
      excluded: 'python2-stdlib',
    });
    expect(result.report.warnings.join('\n')).not.toMatch(/cPickle/);
    const mapped = await analyze(['s.py'], { ...base, cwd: root, pkgMapping: ['cPickle=pickle5'] });
    expect(deps(mapped)).toContain('pickle5');
  });

  it('--toplevel and --function select imports; an unknown function lists those that exist', async () => {
    const root = await project('select', {
      's.py': [
        'import toplevel_pkg',
        'def work():',
        '    import work_pkg',
        'class Model:',
        '    def fit(self):',
        '        import fit_pkg',
        '    def predict(self):',
        '        import predict_pkg',
      ].join('\n'),
    });
    const run = (o: AnalyzeOptions) => analyze(['s.py'], { ...base, cwd: root, ...o });
    const names = async (o: AnalyzeOptions) =>
      (await run(o)).report.packages.conda.filter((d) => d.endsWith('-pkg'));
    expect(await names({})).toEqual(['fit-pkg', 'predict-pkg', 'toplevel-pkg', 'work-pkg']);
    expect(await names({ toplevel: true })).toEqual(['toplevel-pkg']);
    expect(await names({ function: 'work' })).toEqual(['work-pkg']);
    expect(await names({ function: 'Model.fit' })).toEqual(['fit-pkg']);
    const excluded = (await run({ function: 'work' })).report.imports.find(
      (i) => i.module === 'toplevel_pkg',
    );
    expect(excluded?.excluded).toBe('outside-function');
    await expect(run({ function: 'fit' })).rejects.toMatchObject({
      code: 'ERR_UNKNOWN_FUNCTION',
      exitCode: 2,
      hint: expect.stringContaining('Model.fit, Model.predict, work'),
    });
    await expect(run({ toplevel: true, function: 'work' })).rejects.toMatchObject({
      code: 'ERR_USAGE',
      exitCode: 2,
    });
  });

  it('applies --pkg-mapping, --exclude, --extra-pkg and --channel', async () => {
    const root = await project('options', {
      's.py': 'import yaml\nimport internal_tool\nimport google.cloud.storage\n',
    });
    const result = await analyze(['s.py'], {
      ...base,
      cwd: root,
      pkgMapping: ['yaml=pip:PyYAML', 'google.cloud.storage=google-cloud-storage'],
      exclude: ['internal_tool'],
      extraPkgs: ['git', 'python=3.11.9', 'pip:uproot==5.0.5'],
      channels: ['bioconda', 'conda-forge'],
    });
    expect(result.spec).toEqual({
      conda: {
        channels: ['bioconda', 'conda-forge'],
        dependencies: [
          'git',
          'google-cloud-storage',
          'pip',
          'python=3.11.9',
          { pip: ['PyYAML', 'uproot==5.0.5'] },
        ],
      },
    });
    expect(result.report.imports.find((i) => i.module === 'internal_tool')?.excluded).toBe(
      'user-excluded',
    );
    await expect(analyze(['s.py'], { ...base, cwd: root, pkgMapping: ['yaml'] })).rejects.toThrow(
      /not IMPORT=NAME/,
    );
  });

  it('warns about syntax errors with file:line and fails on them with strict', async () => {
    const root = await project('syntax', {
      's.py': 'import yaml\nif x\n    import os\nimport numpy\n',
      // The error is in a statement that cannot hold an import: only --strict parses it.
      'elsewhere.py': 'import yaml\ndef f(:\n    return 1\n',
    });
    const result = await analyze(['s.py'], { ...base, cwd: root });
    expect(deps(result)).toEqual(['numpy', 'pip', 'python=3.11', 'pyyaml']);
    expect(result.report.warnings[0]).toMatch(/^s\.py:2:\d+: syntax error/);
    await expect(analyze(['s.py'], { ...base, cwd: root, strict: true })).rejects.toMatchObject({
      code: 'ERR_SYNTAX',
      message: expect.stringMatching(/^s\.py:2:/),
    });
    expect((await analyze(['elsewhere.py'], { ...base, cwd: root })).report.warnings).toEqual([]);
    await expect(
      analyze(['elsewhere.py'], { ...base, cwd: root, strict: true }),
    ).rejects.toMatchObject({
      code: 'ERR_SYNTAX',
      message: expect.stringMatching(/^elsewhere\.py:2:/),
    });
  });

  it('fails clearly on missing sources, empty folders and undecodable files', async () => {
    const root = await project('bad', {
      'empty/readme.txt': 'no python here',
      'latin.py': Buffer.concat([
        Buffer.from('import os\ns = "caf'),
        Buffer.from([0xe9]),
        Buffer.from('"\n'),
      ]),
    });
    await expect(analyze(['nope.py'], { ...base, cwd: root })).rejects.toMatchObject({
      code: 'ERR_FILE_NOT_FOUND',
    });
    await expect(analyze(['empty'], { ...base, cwd: root })).rejects.toMatchObject({
      code: 'ERR_NO_PYTHON_FILES',
    });
    await expect(analyze(['latin.py'], { ...base, cwd: root })).rejects.toMatchObject({
      code: 'ERR_SOURCE_ENCODING',
      message: 'latin.py:2: the file is not valid UTF-8 and declares no encoding',
    });
    await expect(analyze(['-', '-'], { ...base, cwd: root })).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
  });

  it('reads standard input for -', async () => {
    const root = await project('stdin', { 'helper.py': 'import yaml\n' });
    const result = await analyze(['-'], {
      ...base,
      cwd: root,
      stdin: Buffer.from('import helper\nimport numpy\n'),
    });
    expect(deps(result)).toEqual(['numpy', 'pip', 'python=3.11', 'pyyaml']);
    expect(result.report.sources[0]?.file).toBe('<stdin>');
  });

  it('pins packages from a conda environment (conda-meta and dist-info), like the reference', async () => {
    const site = 'lib/python3.11/site-packages';
    const record = (name: string, version: string, build: string, files: string[]) =>
      JSON.stringify({ name, version, build, files });
    const prefix = await project('prefix', {
      'conda-meta/python-3.11.3-h2755cc3_0_cpython.json': record(
        'python',
        '3.11.3',
        'h2755cc3_0_cpython',
        ['bin/python3.11', 'lib/python3.11/os.py'],
      ),
      'conda-meta/pip-23.1.2-pyhd8ed1ab_0.json': record('pip', '23.1.2', 'pyhd8ed1ab_0', [
        `${site}/pip/__init__.py`,
        `${site}/pip-23.1.2.dist-info/METADATA`,
      ]),
      'conda-meta/yaml-0.2.5-h7f98852_2.json': record('yaml', '0.2.5', 'h7f98852_2', [
        'lib/libyaml.so',
      ]),
      'conda-meta/pyyaml-6.0-py311hd4cff14_5.json': record('pyyaml', '6.0', 'py311hd4cff14_5', [
        `${site}/yaml/__init__.py`,
        `${site}/_yaml/__init__.py`,
      ]),
      'conda-meta/matplotlib-base-3.7.1-py311h8597a09_0.json': record(
        'matplotlib-base',
        '3.7.1',
        'py311h8597a09_0',
        [`${site}/matplotlib/__init__.py`, `${site}/pylab.py`],
      ),
      [`${site}/pip-23.1.2.dist-info/METADATA`]: 'Name: pip\nVersion: 23.1.2\n',
      [`${site}/uproot-5.0.5.dist-info/METADATA`]:
        'Metadata-Version: 2.1\nName: uproot\nVersion: 5.0.5\n',
      [`${site}/uproot-5.0.5.dist-info/RECORD`]:
        'uproot/__init__.py,sha256=x,1\nuproot-5.0.5.dist-info/METADATA,,\n../../../bin/x,,\n',
      [`${site}/awkward-2.2.0.dist-info/METADATA`]: 'Name: awkward\nVersion: 2.2.0\n',
      [`${site}/awkward-2.2.0.dist-info/top_level.txt`]: 'awkward\n',
    });
    const root = await project('prefix-src', {
      's.py': 'import yaml, matplotlib.pyplot, uproot, awkward, pylab, requests\n',
    });
    const result = await analyze(['s.py'], {
      ...base,
      cwd: root,
      prefix: undefined,
      pythonVersion: undefined,
      env: { CONDA_PREFIX: prefix },
    });
    expect(result.spec.conda.dependencies).toEqual([
      'matplotlib-base=3.7.1=py311h8597a09_0',
      'pip=23.1.2=pyhd8ed1ab_0',
      'python=3.11.3=h2755cc3_0_cpython',
      'pyyaml=6.0=py311hd4cff14_5',
      'requests',
      { pip: ['awkward==2.2.0', 'uproot==5.0.5'] },
    ]);
    expect(result.report.python).toEqual({
      version: '3.11.3',
      from: `conda environment ${prefix}`,
    });
    expect(result.report.warnings.join('\n')).toMatch(
      /"requests" is not installed in .*prefix; using "requests"/,
    );
    const ignored = await analyze(['s.py'], {
      ...base,
      cwd: root,
      env: { CONDA_PREFIX: prefix },
      prefix: null,
    });
    expect(ignored.report.prefix).toBeNull();
    await expect(analyze(['s.py'], { ...base, cwd: root, prefix: root })).rejects.toMatchObject({
      code: 'ERR_PREFIX',
    });
  });

  it('takes the target version from python3 on PATH when none is given', async () => {
    const root = await project('pyver', { 's.py': 'import os\n' });
    const result = await analyze(['s.py'], { ...base, cwd: root, pythonVersion: undefined });
    expect(result.report.python.from).toBe('python3 on PATH');
    expect(result.spec.conda.dependencies).toContain(
      `python=${result.report.python.version.split('.').slice(0, 2).join('.')}`,
    );
    await expect(
      analyze(['s.py'], {
        ...base,
        cwd: root,
        pythonVersion: undefined,
        python: join(root, 'no-such-python'),
      }),
    ).rejects.toMatchObject({ code: 'ERR_PYTHON' });
    const debian = await analyze(['s.py'], {
      ...base,
      cwd: root,
      pythonVersion: undefined,
      python: '/usr/bin/python3.11',
    });
    expect(debian.report.python).toMatchObject({
      version: expect.stringMatching(/^3\.11\.\d+$/),
      from: '--python /usr/bin/python3.11',
    });
    expect(debian.spec.conda.dependencies).toContain('python=3.11');
    expect(debian.report.sources[0]?.lines).toBe(1);
    await expect(
      analyze(['s.py'], { ...base, cwd: root, pythonVersion: '3.7' }),
    ).rejects.toMatchObject({ code: 'ERR_PYTHON_VERSION' });
  });

  it('caches scans by content and gives the same result from worker threads', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`m${i}.py`] = `import os\nimport pkg_${i}\n`;
    const root = await project('cache', files);
    const cache = join(root, '..', 'cache-dir');
    const cold = await analyze(['.'], { ...base, cwd: root, cache, threads: 2 });
    expect(cold.stats).toMatchObject({ files: 40, cacheHits: 0, parsed: 40, threads: 2 });
    const warm = await analyze(['.'], { ...base, cwd: root, cache, threads: 2 });
    expect(warm.stats).toMatchObject({ files: 40, cacheHits: 40, parsed: 0 });
    const inline = await analyze(['.'], { ...base, cwd: root, threads: 0 });
    expect(JSON.stringify(warm.report)).toBe(JSON.stringify(cold.report));
    expect(JSON.stringify(inline.report)).toBe(JSON.stringify(cold.report));
    // One pack per shard the run added to (see cache.ts), named <shard>-<time>-<pid>-<random>.
    expect(await readdir(cache)).toEqual(['packs']);
    const packs = await readdir(join(cache, 'packs'));
    expect(packs.length).toBeGreaterThan(0);
    for (const pack of packs) expect(pack).toMatch(/^[0-9a-f]-[0-9a-z]+-\d+-[0-9a-f]{8}\.json$/);
    // Same content under another name: still a hit.
    await writeFile(join(root, 'copy.py'), 'import os\nimport pkg_0\n');
    const copy = await analyze(['copy.py'], { ...base, cwd: root, cache });
    expect(copy.stats.cacheHits).toBe(1);
  });
});
