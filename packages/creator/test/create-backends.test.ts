/**
 * conda, mamba and micromamba are not installed on the machines these tests run on, so this
 * checks what poncho can check without them: how a backend is chosen, the exact commands and
 * explicit files it would run, and the messages when one is missing. A real run of each tool is
 * not tested here.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backendKindOf,
  createCommand,
  explicitCommand,
  explicitFile,
  selectBackend,
} from '../dist/backends/index.js';
import { pipArguments, pipInstallCommand } from '../dist/pip.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poncho-backends-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('backend selection', () => {
  it('uses the embedded installer by default and for auto when nothing is installed', async () => {
    expect(await selectBackend()).toEqual({ kind: 'embedded' });
    expect(await selectBackend('auto', undefined, { PATH: dir })).toEqual({ kind: 'embedded' });
  });

  it('says what is missing for an explicit backend', async () => {
    await expect(selectBackend('micromamba', undefined, { PATH: dir })).rejects.toMatchObject({
      code: 'ERR_BACKEND_NOT_FOUND',
      message: expect.stringContaining('no micromamba executable found on PATH'),
      hint: expect.stringContaining('--backend embedded'),
    });
    await expect(selectBackend('embedded', join(dir, 'missing-conda'))).rejects.toMatchObject({
      message: expect.stringContaining('is not an executable file'),
    });
  });

  it('finds an executable on PATH and tells the kind from its name', async () => {
    const exe = join(dir, 'micromamba');
    await writeFile(exe, '#!/bin/sh\nexit 0\n');
    await chmod(exe, 0o755);
    expect(await selectBackend('auto', undefined, { PATH: dir })).toEqual({
      kind: 'micromamba',
      executable: exe,
    });
    expect(await selectBackend('embedded', exe)).toEqual({ kind: 'micromamba', executable: exe });
    expect(backendKindOf('/opt/conda/bin/mamba')).toBe('mamba');
    expect(backendKindOf('/opt/conda/bin/conda')).toBe('conda');
  });
});

describe('backend commands', () => {
  it('builds create commands with strict channels and the target platform', () => {
    expect(
      createCommand(
        { kind: 'conda', executable: '/c/conda' },
        '/p',
        ['python=3.11', 'numpy'],
        ['conda-forge', 'bioconda'],
        'linux-aarch64',
      ),
    ).toEqual({
      file: '/c/conda',
      args: [
        'create',
        '--yes',
        '--prefix',
        '/p',
        '--override-channels',
        '--channel',
        'conda-forge',
        '--channel',
        'bioconda',
        'python=3.11',
        'numpy',
      ],
      env: { CONDA_SUBDIR: 'linux-aarch64' },
    });
    expect(
      createCommand({ kind: 'micromamba', executable: 'mm' }, '/p', ['python'], ['c'], 'osx-arm64')
        .args,
    ).toEqual([
      'create',
      '--yes',
      '--prefix',
      '/p',
      '--override-channels',
      '--channel',
      'c',
      '--platform',
      'osx-arm64',
      'python',
    ]);
    expect(
      explicitCommand({ kind: 'mamba', executable: 'mamba' }, '/p', '/tmp/e.txt').args,
    ).toEqual(['create', '--yes', '--prefix', '/p', '--file', '/tmp/e.txt']);
  });

  it('writes an @EXPLICIT file with checksums', () => {
    const pkg = {
      name: 'x',
      version: '1',
      build: '0',
      buildNumber: 0,
      subdir: 'noarch',
      channel: 'https://c',
      fileName: 'x-1-0.conda',
      depends: [],
    };
    const text = explicitFile({
      lockVersion: 1,
      platform: 'linux-64',
      channels: ['https://c'],
      specs: ['x'],
      pip: [],
      packages: [
        {
          ...pkg,
          url: 'https://c/noarch/x-1-0.conda',
          sha256: 'a'.repeat(64),
          md5: 'b'.repeat(32),
        },
        { ...pkg, name: 'y', url: 'https://c/noarch/y-1-0.conda', sha256: 'c'.repeat(64) },
      ],
    });
    expect(text.split('\n').slice(2)).toEqual([
      '@EXPLICIT',
      `https://c/noarch/x-1-0.conda#${'b'.repeat(32)}`,
      `https://c/noarch/y-1-0.conda#sha256:${'c'.repeat(64)}`,
      '',
    ]);
  });
});

describe('pip arguments', () => {
  it('makes local paths absolute, installs editables as copies, splits options', () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m) } as never;
    expect(
      pipArguments(
        [
          'numpy==1.24',
          './wheels/a-1.0-py3-none-any.whl',
          '-e ../src/b',
          '-r reqs.txt',
          '--pre',
          'c @ file:///x/c.whl',
        ],
        '/spec',
        logger,
      ),
    ).toEqual([
      'numpy==1.24',
      '/spec/wheels/a-1.0-py3-none-any.whl',
      '/src/b',
      '-r',
      '/spec/reqs.txt',
      '--pre',
      'c @ file:///x/c.whl',
    ]);
    expect(warnings[0]).toContain('not editable');
  });

  it('refuses pip options that would write outside the environment', () => {
    for (const item of [
      '--target /home/u/lib',
      '-t /x',
      '-t/x',
      '--prefix=/usr/local',
      '--root /',
      '--user',
      '--src ../../src',
      '--log /home/u/.bashrc',
    ]) {
      expect(() => pipArguments([item], '/spec'), item).toThrow(
        expect.objectContaining({ code: 'ERR_PIP_OPTION' }),
      );
    }
    // Index options keep their inline value.
    expect(pipArguments(['--index-url=http://i/simple', '--extra-index-url x'], '/s')).toEqual([
      '--index-url=http://i/simple',
      '--extra-index-url',
      'x',
    ]);
  });

  it('runs the environment python with the index options', () => {
    const { file, args } = pipInstallCommand('/env', ['x'], {
      baseDir: '/s',
      findLinks: ['/w'],
      noIndex: true,
      exact: true,
    });
    expect(file).toBe('/env/bin/python');
    expect(args).toEqual([
      '-m',
      'pip',
      'install',
      '--no-warn-script-location',
      '--no-compile',
      '--no-deps',
      '--no-index',
      '--find-links',
      '/w',
      'x',
    ]);
    expect(
      pipInstallCommand('/env', ['x'], { baseDir: '/s', indexUrl: 'http://i/simple' }).args,
    ).toContain('--index-url');
  });
});
