import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSpecSource } from '../dist/spec-input.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poncho-spec-input-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fromText(name: string, text: string) {
  await writeFile(join(dir, name), text);
  return readSpecSource(join(dir, name));
}

describe('readSpecSource', () => {
  it('reads the current format', async () => {
    const source = await fromText(
      'current.json',
      JSON.stringify({
        conda: {
          channels: ['conda-forge'],
          dependencies: ['python=3.11', 'pip', { pip: ['uproot==5.0.5'] }],
        },
      }),
    );
    expect(source).toMatchObject({
      kind: 'spec',
      spec: {
        conda: {
          channels: ['conda-forge'],
          dependencies: ['python=3.11', 'pip', { pip: ['uproot==5.0.5'] }],
        },
      },
      baseDir: dir,
    });
  });

  it('reads the old format with pinned, git and http sections', async () => {
    const source = await fromText(
      'old.json',
      JSON.stringify({
        conda: { channels: ['defaults'], packages: ['python=3.9', 'numpy'] },
        pip: ['requests'],
        pinned: { conda: { numpy: '1.24' } },
        git: { DATA_DIR: { remote: 'https://example.invalid/repo.git', ref: 'main' } },
        http: {
          DB: { url: 'https://example.invalid/db.tar.gz', type: 'tar', compression: 'gzip' },
        },
        comment: 'ignored',
      }),
    );
    expect(source.kind).toBe('spec');
    if (source.kind !== 'spec') return;
    expect(source.spec.conda.dependencies).toEqual(['python=3.9', 'numpy', { pip: ['requests'] }]);
    expect(source.spec.pinned).toEqual({ conda: { numpy: '1.24' } });
    expect(source.spec.git?.DATA_DIR?.remote).toBe('https://example.invalid/repo.git');
    expect(source.spec.http?.DB?.type).toBe('tar');
  });

  it('reads an environment.yml', async () => {
    const source = await fromText(
      'environment.yml',
      [
        'name: work',
        'channels:',
        '  - conda-forge',
        'dependencies:',
        '  - python=3.11',
        '  - pip',
        '  - pip:',
        '    - ./wheels/x.whl',
        '',
      ].join('\n'),
    );
    expect(source).toMatchObject({
      kind: 'spec',
      spec: {
        conda: {
          channels: ['conda-forge'],
          dependencies: ['python=3.11', 'pip', { pip: ['./wheels/x.whl'] }],
        },
      },
    });
  });

  it('reads a spec from stdin', async () => {
    const source = await readSpecSource('-', {
      stdin: Readable.from([Buffer.from('{"conda": {"dependencies": ["python"]}}')]),
      cwd: dir,
    });
    expect(source).toMatchObject({
      kind: 'spec',
      spec: { conda: { channels: ['conda-forge', 'defaults'], dependencies: ['python'] } },
      baseDir: dir,
    });
  });

  it('recognises a lock file and a conda prefix', async () => {
    const lock = {
      lockVersion: 1,
      platform: 'linux-64',
      channels: ['c'],
      specs: ['python'],
      packages: [],
      pip: [],
    };
    expect((await fromText('env.lock.json', JSON.stringify(lock))).kind).toBe('lock');
    await mkdir(join(dir, 'prefix', 'conda-meta'), { recursive: true });
    expect(await readSpecSource(join(dir, 'prefix'))).toMatchObject({
      kind: 'prefix',
      prefix: join(dir, 'prefix'),
    });
  });

  it('names the wrong field and what was expected', async () => {
    await expect(
      fromText('bad1.json', '{"conda": {"dependencies": ["python", 3]}}'),
    ).rejects.toMatchObject({
      code: 'ERR_SPEC_INVALID',
      message: expect.stringMatching(
        /field conda\.dependencies\[1\]: expected a match spec string .* or \{"pip"/,
      ),
    });
    await expect(
      fromText('bad2.json', '{"conda": {"channels": "conda-forge"}}'),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/field conda\.channels: .*expected array/),
    });
    await expect(
      fromText('bad3.json', '{"conda": {"dependencies": []}, "git": {"1BAD": {"remote": "x"}}}'),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/field git.*valid environment variable name/),
      hint: expect.stringContaining('git data section'),
    });
    await expect(fromText('bad4.yml', 'dependencies:\n  - python\n  - 12\n')).rejects.toMatchObject(
      {
        message: expect.stringMatching(
          /bad4\.yml: invalid environment\.yml: field dependencies\[1\]/,
        ),
      },
    );
    await expect(
      fromText(
        'bad5.json',
        '{"lockVersion": 1, "platform": "linux-64", "channels": [], "specs": [], "packages": [{"name": "x"}]}',
      ),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/invalid lock file: field packages\[0\]\.version/),
    });
    const lockWith = (fields: Record<string, unknown>, pkg: Record<string, unknown> = {}) =>
      JSON.stringify({
        lockVersion: 1,
        platform: 'linux-64',
        channels: [],
        specs: [],
        packages: [
          {
            name: 'a',
            version: '1',
            build: '0',
            buildNumber: 0,
            subdir: 'noarch',
            channel: 'https://c',
            url: 'https://c/noarch/a-1-0.conda',
            fileName: 'a-1-0.conda',
            sha256: 'a'.repeat(64),
            depends: [],
            ...pkg,
          },
        ],
        ...fields,
      });
    await expect(fromText('ok.lock.json', lockWith({}))).resolves.toMatchObject({ kind: 'lock' });
    await expect(fromText('bad6.json', lockWith({}, { sha256: 'nope' }))).rejects.toMatchObject({
      message: expect.stringMatching(/bad6\.json: invalid lock file: field packages\[0\]\.sha256/),
    });
    await expect(fromText('bad7.json', lockWith({ lockVersion: 2 }))).rejects.toMatchObject({
      message: expect.stringMatching(/bad7\.json: .*lockVersion/),
    });
  });

  it('reports syntax errors with the place', async () => {
    await expect(fromText('syntax.json', '{"conda": ')).rejects.toMatchObject({
      code: 'ERR_SPEC_SYNTAX',
      message: expect.stringContaining('invalid JSON'),
    });
    await expect(fromText('syntax.yml', 'channels: [a\ndependencies: :\n')).rejects.toMatchObject({
      code: 'ERR_SPEC_SYNTAX',
      message: expect.stringMatching(/syntax\.yml:\d+:\d+: invalid YAML/),
    });
    await expect(fromText('empty.json', '  \n')).rejects.toMatchObject({
      message: expect.stringContaining('empty'),
    });
    await expect(fromText('list.json', '[1, 2]')).rejects.toMatchObject({
      message: expect.stringContaining('not a list'),
    });
    await expect(fromText('other.json', '{"name": "x"}')).rejects.toMatchObject({
      message: expect.stringContaining('no "conda" section'),
    });
  });

  it('explains a missing file and a folder that is not an environment', async () => {
    await expect(readSpecSource(join(dir, 'nope.json'))).rejects.toMatchObject({
      code: 'ERR_SPEC_NOT_FOUND',
    });
    await mkdir(join(dir, 'plain-folder'));
    await expect(readSpecSource(join(dir, 'plain-folder'))).rejects.toMatchObject({
      code: 'ERR_NOT_A_CONDA_PREFIX',
    });
  });
});
