/**
 * Extraction (.tar.bz2 and .conda, with its safety checks) and linking (hard links, copies,
 * softlinks, text and binary placeholders, noarch python, entry points, old-style metadata) on
 * archives and package folders made here with Python's tarfile/zipfile and the zstd CLI.
 */
import { execFileSync } from 'node:child_process';
import {
  access,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractArchive } from '../dist/install/extract.js';
import { entryPointScript, executeLink, planLink, pythonLayout } from '../dist/install/link.js';
import { pythonString, specName } from '../dist/install/meta.js';
import { readPackageMetadata } from '../dist/install/package-metadata.js';
import { assertSafeRelativePath, assertSafeSymlink } from '../dist/install/safe-path.js';

let work: string;
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

interface Entry {
  name: string;
  type?: 'file' | 'symlink' | 'hardlink' | 'fifo' | 'dir';
  data?: string;
  link?: string;
}

/** Writes a tar (optionally bzip2-compressed) with exactly these entries, as Python's tarfile does. */
function writeTar(out: string, entries: Entry[], mode: 'w' | 'w:bz2' = 'w:bz2') {
  const script = `
import io, json, sys, tarfile
out, mode, entries = sys.argv[1], sys.argv[2], json.load(sys.stdin)
with tarfile.open(out, mode) as tar:
    for e in entries:
        info = tarfile.TarInfo(e['name'])
        t = e.get('type', 'file')
        data = e.get('data', '').encode()
        if t == 'symlink': info.type, info.linkname = tarfile.SYMTYPE, e['link']
        elif t == 'hardlink': info.type, info.linkname = tarfile.LNKTYPE, e['link']
        elif t == 'fifo': info.type = tarfile.FIFOTYPE
        elif t == 'dir': info.type, info.mode = tarfile.DIRTYPE, 0o755
        else: info.size = len(data); info.mode = 0o755
        tar.addfile(info, io.BytesIO(data) if t == 'file' else None)
`;
  execFileSync('python3', ['-c', script, out, mode], { input: JSON.stringify(entries) });
}

/** A .conda: stored zip of metadata.json, pkg-*.tar.zst and info-*.tar.zst. */
function writeConda(out: string, pkg: Entry[], info: Entry[]) {
  const base = out.replace(/\.conda$/, '');
  const stem = base.split('/').pop() as string;
  writeTar(`${base}.pkg.tar`, pkg, 'w');
  writeTar(`${base}.info.tar`, info, 'w');
  for (const part of ['pkg', 'info'])
    execFileSync('zstd', ['-q', '-f', `${base}.${part}.tar`, '-o', `${base}.${part}.tar.zst`]);
  const script = `
import sys, zipfile
out, base, stem = sys.argv[1:4]
with zipfile.ZipFile(out, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('metadata.json', '{"conda_pkg_format_version": 2}')
    z.write(base + '.pkg.tar.zst', 'pkg-' + stem + '.tar.zst')
    z.write(base + '.info.tar.zst', 'info-' + stem + '.tar.zst')
`;
  execFileSync('python3', ['-c', script, out, base, stem]);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-extract-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('safe paths', () => {
  it('accepts relative paths inside and refuses escapes', () => {
    expect(assertSafeRelativePath('lib/./a/b.txt', 'x')).toBe('lib/a/b.txt');
    for (const bad of ['../a', 'a/../../b', '/etc/passwd', '..', '', 'a\0b']) {
      expect(() => assertSafeRelativePath(bad, 'x')).toThrow(
        expect.objectContaining({ code: 'ERR_UNSAFE_PATH' }),
      );
    }
    expect(() => assertSafeSymlink('bin/a', '../lib/x', 'x')).not.toThrow();
    expect(() => assertSafeSymlink('bin/a', '../../x', 'x')).toThrow(/points outside/);
    expect(() => assertSafeSymlink('bin/a', '/usr/bin/x', 'x')).toThrow(/points outside/);
  });
});

describe.each(['tools', 'js'])('extract (%s decoders)', (mode) => {
  beforeAll(async () => {
    await mkdir(join(work, mode), { recursive: true });
    if (mode === 'js') process.env.PONCHO_DECOMPRESSORS = 'js';
  });
  afterAll(() => {
    delete process.env.PONCHO_DECOMPRESSORS;
  });

  it('extracts .tar.bz2 and .conda archives with files and inner symlinks', async () => {
    const entries: Entry[] = [
      { name: 'bin/tool', data: '#!/bin/sh\necho hi\n' },
      { name: 'share/x/data.txt', data: 'data\n' },
      { name: 'share/x/link.txt', type: 'symlink', link: 'data.txt' },
    ];
    writeTar(join(work, mode, 'ok-1-0.tar.bz2'), [
      ...entries,
      { name: 'info/index.json', data: '{}' },
    ]);
    await mkdir(join(work, mode, 'out-bz2'));
    await extractArchive(join(work, mode, 'ok-1-0.tar.bz2'), join(work, mode, 'out-bz2'));
    expect(await readFile(join(work, mode, 'out-bz2/share/x/data.txt'), 'utf8')).toBe('data\n');
    expect(await readlink(join(work, mode, 'out-bz2/share/x/link.txt'))).toBe('data.txt');
    expect((await stat(join(work, mode, 'out-bz2/bin/tool'))).mode & 0o111).not.toBe(0);

    writeConda(join(work, mode, 'ok-1-0.conda'), entries, [
      { name: 'info/index.json', data: '{"name":"ok"}' },
    ]);
    await mkdir(join(work, mode, 'out-conda'));
    await extractArchive(join(work, mode, 'ok-1-0.conda'), join(work, mode, 'out-conda'));
    expect(await readFile(join(work, mode, 'out-conda/info/index.json'), 'utf8')).toBe(
      '{"name":"ok"}',
    );
    expect(await readFile(join(work, mode, 'out-conda/bin/tool'), 'utf8')).toContain('echo hi');
  });

  it.each([
    ['a ../ path', [{ name: '../escaped.txt', data: 'x' }], /'\.\.'/],
    [
      'an absolute path',
      [{ name: `${'/tmp'}/poncho-unit-escape-abs.txt`, data: 'x' }],
      /absolute path/,
    ],
    ['a symlink out', [{ name: 'share/out', type: 'symlink', link: '../../..' }], /points outside/],
    ['an absolute symlink', [{ name: 'share/out', type: 'symlink', link: '/etc' }], /absolute/],
    [
      'a hard link out',
      [{ name: 'share/pw', type: 'hardlink', link: '/etc/passwd' }],
      /hard link that points outside/,
    ],
    ['a fifo', [{ name: 'share/pipe', type: 'fifo' }], /FIFO/],
    [
      'a symlink that leaves only through another link',
      [
        { name: 'share/root', type: 'symlink', link: '..' },
        { name: 'sneaky', type: 'symlink', link: 'share/root/..' },
      ],
      /"sneaky" -> "share\/root\/.." resolves outside/,
    ],
    [
      'a folder entry over such a link, then a file through it',
      [
        { name: 'share/root', type: 'symlink', link: '..' },
        { name: 'sneaky', type: 'symlink', link: 'share/root/..' },
        { name: 'sneaky/', type: 'dir' },
        { name: 'sneaky/escaped.txt', data: 'x' },
      ],
      /folder entry over a symbolic link/,
    ],
    [
      'a hard link to a folder',
      [{ name: 'share/hard', type: 'hardlink', link: 'share' }],
      /not a file of the archive/,
    ],
  ] as Array<[string, Entry[], RegExp]>)(
    'refuses %s (both formats) and writes nothing outside',
    async (label, bad, reason) => {
      const slug = label.replace(/\W+/g, '-');
      for (const format of ['tar.bz2', 'conda'] as const) {
        // The same archive serves both decoder modes (making it costs several processes).
        const archive = join(work, `bad${slug}-1-0.${format}`);
        if (!(await exists(archive))) {
          const entries = [{ name: 'share/ok.txt', data: 'ok' }, ...bad];
          if (format === 'conda')
            writeConda(archive, entries, [{ name: 'info/index.json', data: '{}' }]);
          else writeTar(archive, entries);
        }
        const dest = join(work, mode, `dest${slug}-${format}`, 'inner');
        await mkdir(dest, { recursive: true });
        const error = await extractArchive(archive, dest).then(
          () => undefined,
          (e: unknown) => e as { code?: string; message?: string },
        );
        expect(error?.code).toBe('ERR_UNSAFE_PATH');
        expect(error?.message).toContain(archive);
        expect(error?.message).toMatch(reason);
        expect(await exists(join(dest, '..', 'escaped.txt'))).toBe(false);
        expect(await exists('/tmp/poncho-unit-escape-abs.txt')).toBe(false);
      }
    },
  );

  it('reports truncated and non-archive files as corrupt, naming the file', async () => {
    writeTar(join(work, mode, 'big-1-0.tar.bz2'), [
      { name: 'a.txt', data: 'x'.repeat(200_000) + Math.random() },
    ]);
    const data = await readFile(join(work, mode, 'big-1-0.tar.bz2'));
    await writeFile(
      join(work, mode, 'cut-1-0.tar.bz2'),
      data.subarray(0, Math.floor(data.length / 2)),
    );
    await mkdir(join(work, mode, 'cut-out'));
    await expect(
      extractArchive(join(work, mode, 'cut-1-0.tar.bz2'), join(work, mode, 'cut-out')),
    ).rejects.toMatchObject({
      code: 'ERR_CORRUPT_ARCHIVE',
      message: expect.stringContaining('cut-1-0.tar.bz2'),
    });
    await writeFile(join(work, mode, 'junk-1-0.conda'), 'not a zip at all');
    await expect(
      extractArchive(join(work, mode, 'junk-1-0.conda'), join(work, mode, 'cut-out')),
    ).rejects.toMatchObject({ code: 'ERR_CORRUPT_ARCHIVE' });
  });
});

const PLACEHOLDER = `/opt/conda-bld/demo_${'_placehold'.repeat(20)}`.slice(0, 200);

async function put(root: string, path: string, content: string | Buffer, mode = 0o644) {
  await mkdir(join(root, path, '..'), { recursive: true });
  await writeFile(join(root, path), content, { mode });
}

/** Writes the package's info/paths.json listing `paths`. */
function putPaths(root: string, paths: Array<Record<string, unknown>>) {
  return put(root, 'info/paths.json', JSON.stringify({ paths_version: 1, paths }));
}

function locked(name: string, extra = {}) {
  return {
    name,
    version: '1.0',
    build: '0',
    buildNumber: 0,
    subdir: 'linux-64',
    channel: 'file:///c',
    url: `file:///c/linux-64/${name}-1.0-0.conda`,
    fileName: `${name}-1.0-0.conda`,
    sha256: 'a'.repeat(64),
    depends: [],
    ...extra,
  };
}

describe('link', () => {
  it('hard-links, copies, patches placeholders and recreates softlinks', async () => {
    const pkg = join(work, 'pkg-native');
    const binary = Buffer.concat([
      Buffer.from('\x7fELF....'),
      Buffer.from(`${PLACEHOLDER}/lib/data\0other\0`),
      Buffer.from(`${PLACEHOLDER}\0`),
    ]);
    await put(pkg, 'bin/script', `#!/bin/sh\necho ${PLACEHOLDER}/share\n`, 0o755);
    await put(pkg, 'bin/native', binary, 0o755);
    await put(pkg, 'share/plain.txt', 'plain\n');
    await put(pkg, 'share/copy.txt', 'copy\n');
    await symlink('plain.txt', join(pkg, 'share/link.txt'));
    await put(
      pkg,
      'info/paths.json',
      JSON.stringify({
        paths_version: 1,
        paths: [
          {
            _path: 'bin/script',
            path_type: 'hardlink',
            prefix_placeholder: PLACEHOLDER,
            file_mode: 'text',
          },
          {
            _path: 'bin/native',
            path_type: 'hardlink',
            prefix_placeholder: PLACEHOLDER,
            file_mode: 'binary',
          },
          { _path: 'share/plain.txt', path_type: 'hardlink', sha256: 'b'.repeat(64) },
          { _path: 'share/copy.txt', path_type: 'hardlink', no_link: true },
          { _path: 'share/link.txt', path_type: 'softlink' },
          { _path: 'share/empty', path_type: 'directory' },
        ],
      }),
    );
    const prefix = join(work, 'prefix-native');
    const plan = await planLink(locked('native'), pkg, await readPackageMetadata(pkg), undefined);
    const linked = await executeLink(plan, prefix, undefined);

    expect(await readFile(join(prefix, 'bin/script'), 'utf8')).toBe(
      `#!/bin/sh\necho ${prefix}/share\n`,
    );
    expect((await stat(join(prefix, 'bin/script'))).mode & 0o777).toBe(0o755);
    const patched = await readFile(join(prefix, 'bin/native'));
    expect(patched.length).toBe(binary.length);
    expect(patched.includes(Buffer.from(`${prefix}/lib/data\0`))).toBe(true);
    expect(patched.includes(Buffer.from('\0other\0'))).toBe(true);
    // The cache copy stays pristine.
    expect((await readFile(join(pkg, 'bin/native'))).equals(binary)).toBe(true);
    expect((await stat(join(prefix, 'share/plain.txt'))).ino).toBe(
      (await stat(join(pkg, 'share/plain.txt'))).ino,
    );
    expect((await stat(join(prefix, 'share/copy.txt'))).ino).not.toBe(
      (await stat(join(pkg, 'share/copy.txt'))).ino,
    );
    expect(await readlink(join(prefix, 'share/link.txt'))).toBe('plain.txt');
    expect((await lstat(join(prefix, 'share/empty'))).isDirectory()).toBe(true);
    expect(linked.prefixFiles.map((f) => [f.path, f.mode])).toEqual([
      ['bin/script', 'text'],
      ['bin/native', 'binary'],
    ]);
    const script = linked.paths.find((p) => p._path === 'bin/script');
    expect(script?.sha256_in_prefix).toMatch(/^[0-9a-f]{64}$/);
    expect(script?.sha256_in_prefix).not.toBe(script?.sha256);
  });

  it('maps noarch python packages and writes entry points', async () => {
    const pkg = join(work, 'pkg-noarch');
    await put(pkg, 'site-packages/demo/__init__.py', 'def main():\n    return 0\n');
    await put(pkg, 'python-scripts/demo-tool', '#!python\n');
    await put(
      pkg,
      'info/paths.json',
      JSON.stringify({
        paths_version: 1,
        paths: [
          { _path: 'site-packages/demo/__init__.py', path_type: 'hardlink' },
          { _path: 'python-scripts/demo-tool', path_type: 'hardlink' },
        ],
      }),
    );
    await put(
      pkg,
      'info/link.json',
      JSON.stringify({ noarch: { type: 'python', entry_points: ['demo = demo:main'] } }),
    );
    const python = pythonLayout([locked('python', { version: '3.11.7' })]);
    expect(python).toEqual({ version: '3.11', sitePackages: 'lib/python3.11/site-packages' });
    // A python record's own python_site_packages_path wins (and must stay inside the prefix).
    const threaded = [locked('python', { version: '3.13.1' })];
    expect(pythonLayout(threaded, 'lib/python3.13t/site-packages')).toEqual({
      version: '3.13',
      sitePackages: 'lib/python3.13t/site-packages',
    });
    expect(() => pythonLayout(threaded, '../site-packages')).toThrow(
      expect.objectContaining({ code: 'ERR_UNSAFE_PATH' }),
    );
    const prefix = join(work, 'prefix-noarch');
    const linked = await executeLink(
      await planLink(
        locked('demo', { noarch: 'python' }),
        pkg,
        await readPackageMetadata(pkg),
        python,
      ),
      prefix,
      python,
    );
    expect(await exists(join(prefix, 'lib/python3.11/site-packages/demo/__init__.py'))).toBe(true);
    expect(await exists(join(prefix, 'bin/demo-tool'))).toBe(true);
    const entry = await readFile(join(prefix, 'bin/demo'), 'utf8');
    expect(entry.startsWith(`#!${prefix}/bin/python3.11\n`)).toBe(true);
    expect(entry).toContain('from demo import main');
    expect((await stat(join(prefix, 'bin/demo'))).mode & 0o111).not.toBe(0);
    expect(linked.pythonSources).toEqual(['lib/python3.11/site-packages/demo/__init__.py']);
    // Without python in the environment a noarch: python package cannot be linked.
    await expect(
      planLink(locked('demo'), pkg, await readPackageMetadata(pkg), undefined),
    ).rejects.toMatchObject({ code: 'ERR_NOARCH_PYTHON' });
  });

  it('uses the /bin/sh exec trick for entry points of long prefixes', () => {
    const python = { version: '3.11', sitePackages: 'lib/python3.11/site-packages' };
    const long = `/x/${'p'.repeat(130)}`;
    expect(entryPointScript(long, python, 'm', 'f').split('\n').slice(0, 2)).toEqual([
      '#!/bin/sh',
      `'''exec' "${long}/bin/python3.11" "$0" "$@" #'''`,
    ]);
    expect(entryPointScript('/short', python, 'm', 'a.b').split('\n')[0]).toBe(
      '#!/short/bin/python3.11',
    );
  });

  it("writes entry points with conda's exact template", () => {
    const python = { version: '3.11', sitePackages: 'lib/python3.11/site-packages' };
    expect(entryPointScript('/env', python, 'pkg.mod', 'func')).toBe(
      [
        '#!/env/bin/python3.11',
        '# -*- coding: utf-8 -*-',
        'import re',
        'import sys',
        'from pkg.mod import func',
        "if __name__ == '__main__':",
        "    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])",
        '    sys.exit(func())',
        '',
      ].join('\n'),
    );
    // `module:Class.method` imports the class and calls the method (as conda does).
    const method = entryPointScript('/env', python, 'pkg.mod', 'Tool.main');
    expect(method).toContain('from pkg.mod import Tool\n');
    expect(method).toContain('    sys.exit(Tool.main())\n');
  });

  it('reads old-style metadata (info/files, has_prefix, no_link)', async () => {
    const pkg = join(work, 'pkg-legacy');
    await put(pkg, 'bin/a', 'echo /opt/anaconda1anaconda2anaconda3\n');
    await put(pkg, 'bin/b', 'echo /custom/place\n');
    await put(pkg, 'share/c', 'c\n');
    await put(pkg, 'info/files', 'bin/a\nbin/b\nshare/c\n');
    await put(pkg, 'info/has_prefix', 'bin/a\n/custom/place text bin/b\n');
    await put(pkg, 'info/no_link', 'share/c\n');
    const { paths } = await readPackageMetadata(pkg);
    expect(paths).toEqual([
      {
        _path: 'bin/a',
        path_type: 'hardlink',
        prefix_placeholder: '/opt/anaconda1anaconda2anaconda3',
        file_mode: 'text',
      },
      {
        _path: 'bin/b',
        path_type: 'hardlink',
        prefix_placeholder: '/custom/place',
        file_mode: 'text',
      },
      { _path: 'share/c', path_type: 'hardlink', no_link: true },
    ]);
  });

  it('refuses metadata paths and softlinks that leave the prefix, before writing anything', async () => {
    const pkg = join(work, 'pkg-evil');
    await put(pkg, 'share/ok', 'ok');
    await symlink('../../../../etc/passwd', join(pkg, 'share/pw'));
    const planWith = async (paths: Array<Record<string, unknown>>) => {
      await putPaths(pkg, paths);
      return planLink(locked('evil'), pkg, await readPackageMetadata(pkg), undefined);
    };
    await expect(planWith([{ _path: 'share/pw', path_type: 'softlink' }])).rejects.toMatchObject({
      code: 'ERR_UNSAFE_PATH',
    });
    await expect(planWith([{ _path: '../outside', path_type: 'hardlink' }])).rejects.toMatchObject({
      code: 'ERR_UNSAFE_PATH',
    });
    await putPaths(pkg, [{ _path: 'share/ok', path_type: 'fifo' }]);
    await expect(readPackageMetadata(pkg)).rejects.toMatchObject({ code: 'ERR_CORRUPT_ARCHIVE' });
  });

  it("refuses a package that writes through another package's softlinks out of the prefix", async () => {
    // Each link is inside as text; together `d -> a/..` with `a -> .` is the prefix's parent.
    const links = join(work, 'pkg-links');
    await mkdir(links, { recursive: true });
    await symlink('.', join(links, 'a'));
    await symlink('a/..', join(links, 'd'));
    await putPaths(links, [
      { _path: 'a', path_type: 'softlink' },
      { _path: 'd', path_type: 'softlink' },
    ]);
    const writer = join(work, 'pkg-writer');
    await put(writer, 'd/escaped-by-link.txt', 'x');
    await putPaths(writer, [
      { _path: 'd/escaped-by-link.txt', path_type: 'hardlink', no_link: true },
    ]);
    const prefix = join(work, 'prefix-links', 'env');
    const plan = await planLink(
      locked('links'),
      links,
      await readPackageMetadata(links),
      undefined,
    );
    await executeLink(plan, prefix, undefined);
    const second = await planLink(
      locked('writer'),
      writer,
      await readPackageMetadata(writer),
      undefined,
    );
    await expect(executeLink(second, prefix, undefined)).rejects.toMatchObject({
      code: 'ERR_UNSAFE_PATH',
      message: expect.stringContaining('leads outside the prefix'),
    });
    expect(await exists(join(prefix, '..', 'escaped-by-link.txt'))).toBe(false);
  });

  it("refuses a path below the package's own softlink", async () => {
    const pkg = join(work, 'pkg-below');
    await put(pkg, 'real/x.txt', 'x');
    await mkdir(join(pkg, 'real'), { recursive: true });
    await symlink('real', join(pkg, 'alias'));
    await putPaths(pkg, [
      { _path: 'alias', path_type: 'softlink' },
      { _path: 'alias/x.txt', path_type: 'hardlink' },
    ]);
    await expect(
      planLink(locked('below'), pkg, await readPackageMetadata(pkg), undefined),
    ).rejects.toMatchObject({ code: 'ERR_UNSAFE_PATH', message: expect.stringMatching(/below/) });
  });

  it("writes history specs that Python's literal_eval reads back", () => {
    const specs = ['python 3.11.*', "pkg[version='>1']", 'a\\b "c" \'d\''];
    const list = `[${specs.map(pythonString).join(', ')}]`;
    const back = execFileSync(
      'python3',
      ['-c', 'import ast, json, sys; print(json.dumps(ast.literal_eval(sys.argv[1])))', list],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(back)).toEqual(specs);
  });

  it('finds the package a match spec names', () => {
    expect(specName('numpy >=1.26')).toBe('numpy');
    expect(specName('conda-forge::Python=3.11')).toBe('python');
    expect(specName('pkg[version=">1"]')).toBe('pkg');
  });
});
