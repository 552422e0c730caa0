import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PackageMapper, parsePackageMappings, readPrefix } from '@poncho/analyzer';
import { afterAll, describe, expect, it } from 'vitest';

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

async function prefixWith(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'poncho-prefix-'));
  made.push(root);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

const site = 'lib/python3.12/site-packages';
const meta = (name: string, version: string, build: string, files: string[]) =>
  JSON.stringify({ name, version, build, files });

describe('reading a conda environment', () => {
  it('maps modules to conda packages, pip dist-info and egg-info, ignoring what conda owns', async () => {
    const prefix = await prefixWith({
      'conda-meta/history': '',
      'conda-meta/numpy-1.26.4-py312h.json': meta('numpy', '1.26.4', 'py312h', [
        `${site}/numpy/__init__.py`,
        `${site}/numpy-1.26.4.dist-info/METADATA`,
        `${site}/_numpy_ext.cpython-312-x86_64-linux-gnu.so`,
      ]),
      [`${site}/numpy-1.26.4.dist-info/METADATA`]: 'Name: numpy\nVersion: 1.26.4\n',
      [`${site}/numpy-1.26.4.dist-info/top_level.txt`]: 'numpy\n',
      [`${site}/legacy-0.3.egg-info/PKG-INFO`]:
        'Metadata-Version: 1.0\nName: legacy\nVersion: 0.3\n',
      [`${site}/legacy-0.3.egg-info/installed-files.txt`]:
        '../legacy_mod.py\n../legacy_pkg/__init__.py\nPKG-INFO\n',
      [`${site}/six-1.16.0.dist-info/METADATA`]: 'Name: six\nVersion: 1.16.0\n',
      [`${site}/six-1.16.0.dist-info/RECORD`]:
        'six.py,sha256=a,1\n__pycache__/six.cpython-312.pyc,,\n',
    });
    const index = await readPrefix(prefix);
    const owner = (module: string) => index.modules.get(module);
    expect(owner('numpy')).toEqual({
      kind: 'conda',
      name: 'numpy',
      version: '1.26.4',
      build: 'py312h',
    });
    expect(owner('_numpy_ext')?.kind).toBe('conda');
    expect(owner('legacy_mod')).toEqual({ kind: 'pip', name: 'legacy', version: '0.3' });
    expect(owner('legacy_pkg')?.name).toBe('legacy');
    expect(owner('six')).toEqual({ kind: 'pip', name: 'six', version: '1.16.0' });
    expect(index.pip.has('numpy')).toBe(false);
    expect(owner('__pycache__')).toBeUndefined();

    const mapper = new PackageMapper(
      parsePackageMappings(['legacy_mod=legacy', 'six=pip:six']),
      index,
    );
    expect(mapper.resolve('numpy.linalg')).toEqual({
      resolution: 'conda-prefix',
      spec: 'numpy=1.26.4=py312h',
      section: 'conda',
    });
    // A mapping to a pip-installed distribution is pinned from the environment.
    expect(mapper.resolve('legacy_mod')).toEqual({
      resolution: 'mapping',
      spec: 'legacy==0.3',
      section: 'pip',
    });
    expect(mapper.resolve('six')).toEqual({
      resolution: 'mapping',
      spec: 'six==1.16.0',
      section: 'pip',
    });
    expect(mapper.resolve('yaml')).toEqual({
      resolution: 'depfinder',
      spec: 'pyyaml',
      section: 'conda',
    });
    expect(mapper.resolve('NotAPackage.sub')).toEqual({
      resolution: 'name',
      spec: 'notapackage',
      section: 'conda',
    });
  });

  it('rejects a folder that is not an environment, and a damaged package record', async () => {
    await expect(readPrefix(await prefixWith({ 'bin/python': '' }))).rejects.toMatchObject({
      code: 'ERR_PREFIX',
    });
    const damaged = await prefixWith({ 'conda-meta/x-1-0.json': '{not json' });
    await expect(readPrefix(damaged)).rejects.toThrow(
      /unreadable conda package record .*x-1-0\.json/,
    );
  });
});
