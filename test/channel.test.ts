/**
 * The test channel itself: built and cached, valid for independent readers (GNU tar, Python's
 * zipfile) and for the real solver (@conda-org/rattler), served over HTTP, with a relocatable
 * python and relocatable placeholders.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  access,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { simpleSolve } from '@conda-org/rattler';
import { relocateFile } from '@poncho/core/relocate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDebianPythonPrefix,
  buildHostileChannel,
  buildPrefixPlaceholder,
  ensureTestChannel,
  extractPackage,
  type Repodata,
  type ServedChannel,
  serveChannel,
  writeVirtualPackageChannel,
} from './channel/index.js';

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..');

/** Writes a minimal pure-Python wheel (argv[1]) so pip can install something offline. */
const TINY_WHEEL_SCRIPT = `
import base64, hashlib, sys, zipfile
files = {
    "tinywheel/__init__.py": b"VALUE = 42\\n",
    "tinywheel-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: tinywheel\\nVersion: 1.0\\n",
    "tinywheel-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as wheel:
    for name, data in files.items():
        wheel.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinywheel-1.0.dist-info/RECORD,,")
    wheel.writestr("tinywheel-1.0.dist-info/RECORD", "\\n".join(record) + "\\n")
`;

let channel: string;
let served: ServedChannel;
let scratch: string;

beforeAll(async () => {
  channel = await ensureTestChannel();
  served = await serveChannel(channel);
  scratch = await mkdtemp(join(tmpdir(), 'poncho-channel-test-'));
});

afterAll(async () => {
  await served?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

async function fetchRepodata(subdir: string): Promise<Repodata> {
  const response = await fetch(`${served.url}/${subdir}/repodata.json`);
  expect(response.status).toBe(200);
  return (await response.json()) as Repodata;
}

function allRecords(repodata: Repodata) {
  return [
    ...Object.entries(repodata.packages).map(([file, record]) => ({ file, record })),
    ...Object.entries(repodata['packages.conda']).map(([file, record]) => ({ file, record })),
  ];
}

async function extractFromChannel(subdir: string, fileName: string, dest: string) {
  await extractPackage(join(channel, subdir, fileName), dest);
}

describe('test channel layout and repodata over HTTP', () => {
  it('serves noarch, linux-64 and an empty osx-arm64, with both archive formats', async () => {
    const noarch = await fetchRepodata('noarch');
    const linux = await fetchRepodata('linux-64');
    const osx = await fetchRepodata('osx-arm64');
    expect(noarch.info.subdir).toBe('noarch');
    expect(linux.info.subdir).toBe('linux-64');
    expect(allRecords(osx)).toHaveLength(0);

    const names = (r: Repodata) => new Set(allRecords(r).map((x) => x.record.name));
    expect([...names(linux)].sort()).toEqual(['legacy-oldstyle', 'prefix-echo', 'python']);
    for (const name of ['pip', 'chain-top', 'chain-mid', 'chain-base', 'hello-cli']) {
      expect(names(noarch)).toContain(name);
    }
    // Both formats exist, some packages only in one of them.
    expect(Object.keys(linux.packages)).toContain('legacy-oldstyle-1.0.0-0.tar.bz2');
    expect(Object.keys(linux['packages.conda'])).toContain('prefix-echo-1.0.0-h_test_0.conda');
    expect(Object.keys(linux['packages.conda']).some((f) => f.startsWith('python-3.11.'))).toBe(
      true,
    );
    expect(Object.keys(linux.packages).some((f) => f.startsWith('python-3.11.'))).toBe(true);
    expect(Object.keys(noarch.packages)).not.toContain('generic-data-1.0.0-h_test_0.tar.bz2');
    const python = allRecords(linux).find((x) => x.record.name === 'python')?.record;
    expect(python?.depends).toEqual(['__glibc >=2.17']);
    expect(python?.version).toMatch(/^3\.11\.\d+$/);

    const missing = await fetch(`${served.url}/noarch/no-such-file.conda`);
    expect(missing.status).toBe(404);
    const traversal = await fetch(`${served.url}/..%2f..%2fetc/passwd`);
    expect([403, 404]).toContain(traversal.status);
  });

  it('every record: key, sha256, md5 and size match the archive downloaded over HTTP', async () => {
    for (const subdir of ['noarch', 'linux-64']) {
      for (const { file, record } of allRecords(await fetchRepodata(subdir))) {
        expect(file.startsWith(`${record.name}-${record.version}-${record.build}.`)).toBe(true);
        expect(record.subdir).toBe(subdir);
        const response = await fetch(`${served.url}/${subdir}/${file}`);
        expect(response.status, file).toBe(200);
        const data = Buffer.from(await response.arrayBuffer());
        expect(createHash('sha256').update(data).digest('hex'), file).toBe(record.sha256);
        expect(createHash('md5').update(data).digest('hex'), file).toBe(record.md5);
        expect(data.length, file).toBe(record.size);
      }
    }
  });

  it('every archive unpacks with GNU tar / zipfile, and info/ matches repodata and payload', async () => {
    for (const subdir of ['noarch', 'linux-64']) {
      for (const { file, record } of allRecords(await fetchRepodata(subdir))) {
        if (record.name === 'python' || record.name === 'pip') continue; // big; checked below
        const dest = join(scratch, 'unpacked', file);
        await extractFromChannel(subdir, file, dest);
        const index = JSON.parse(await readFile(join(dest, 'info/index.json'), 'utf8'));
        for (const key of ['name', 'version', 'build', 'build_number', 'depends', 'subdir']) {
          expect(index[key], `${file} ${key}`).toEqual(record[key as keyof typeof record]);
        }
        const files = (await readFile(join(dest, 'info/files'), 'utf8')).trim().split('\n');
        if (record.name === 'legacy-oldstyle') {
          await expect(access(join(dest, 'info/paths.json'))).rejects.toThrow();
          expect(await readFile(join(dest, 'info/has_prefix'), 'utf8')).toBe('bin/legacy-tool\n');
          continue;
        }
        const { paths } = JSON.parse(await readFile(join(dest, 'info/paths.json'), 'utf8'));
        expect(paths.map((p: { _path: string }) => p._path)).toEqual(files);
        for (const entry of paths) {
          const full = join(dest, entry._path);
          if (entry.path_type === 'softlink') {
            expect((await lstat(full)).isSymbolicLink()).toBe(true);
            continue;
          }
          const data = await readFile(full);
          expect(createHash('sha256').update(data).digest('hex'), entry._path).toBe(entry.sha256);
          expect(data.length).toBe(entry.size_in_bytes);
          if (entry.prefix_placeholder) {
            expect(data.includes(entry.prefix_placeholder)).toBe(true);
          }
        }
      }
    }
  });

  it('records placeholders: binary in prefix-echo (255 chars), text in text-config', async () => {
    const echo = join(scratch, 'meta-prefix-echo');
    await extractFromChannel('linux-64', 'prefix-echo-1.0.0-h_test_0.conda', echo);
    const echoPaths = JSON.parse(await readFile(join(echo, 'info/paths.json'), 'utf8')).paths;
    const binary = echoPaths.find((p: { _path: string }) => p._path === 'bin/prefix-echo');
    expect(binary.file_mode).toBe('binary');
    expect(binary.prefix_placeholder).toHaveLength(255);
    expect(binary.prefix_placeholder).toBe(buildPrefixPlaceholder('prefix-echo'));

    const text = join(scratch, 'meta-text-config');
    await extractFromChannel('noarch', 'text-config-1.0.0-h_test_0.tar.bz2', text);
    const textPaths = JSON.parse(await readFile(join(text, 'info/paths.json'), 'utf8')).paths;
    const modes = Object.fromEntries(
      textPaths.map((p: { _path: string; file_mode?: string }) => [p._path, p.file_mode]),
    );
    expect(modes).toEqual({
      'bin/text-config-python': 'text',
      'bin/text-config-show': 'text',
      'etc/text-config/config.ini': 'text',
      'share/text-config/readme.txt': undefined,
    });

    const hello = join(scratch, 'meta-hello');
    await extractFromChannel('noarch', 'hello-cli-1.0.0-pyh_test_0.conda', hello);
    const link = JSON.parse(await readFile(join(hello, 'info/link.json'), 'utf8'));
    expect(link.noarch).toEqual({
      type: 'python',
      entry_points: ['hello-poncho = hello_cli.main:main'],
    });

    const soft = join(scratch, 'meta-softlink');
    await extractFromChannel('noarch', 'softlink-demo-1.0.0-h_test_0.conda', soft);
    expect(await readlink(join(soft, 'bin/softlink-demo'))).toBe('../share/softlink-demo/run.sh');
    expect((await run(join(soft, 'bin/softlink-demo'))).stdout).toBe('softlink target\n');
  });
});

describe('the C program with a binary placeholder', () => {
  it('prints its compiled-in prefix, and the relocated prefix after binary relocation', async () => {
    const prefix = join(scratch, 'echo-env');
    await extractFromChannel('linux-64', 'prefix-echo-1.0.0-h_test_0.conda', prefix);
    const placeholder = buildPrefixPlaceholder('prefix-echo');
    const before = await run(join(prefix, 'bin/prefix-echo')).catch((error) => error);
    expect(before.stdout).toBe(`${placeholder}/share/prefix-echo\n`);

    const sizeBefore = (await lstat(join(prefix, 'bin/prefix-echo'))).size;
    await relocateFile(join(prefix, 'bin/prefix-echo'), { placeholder, mode: 'binary' }, prefix);
    expect((await lstat(join(prefix, 'bin/prefix-echo'))).size).toBe(sizeBefore);
    const after = await run(join(prefix, 'bin/prefix-echo'));
    expect(after.stdout).toBe(
      `${prefix}/share/prefix-echo\nhello from the prefix-echo data file\n`,
    );
  });
});

describe('the Debian python prefix', () => {
  it('runs from wherever it is moved: sys.prefix is its folder, site-packages on sys.path', async () => {
    const built = join(scratch, 'py-built');
    await buildDebianPythonPrefix(built);
    const moved = join(scratch, 'elsewhere', 'deeper', 'py-moved');
    await mkdir(join(scratch, 'elsewhere', 'deeper'), { recursive: true });
    await rename(built, moved);
    const copied = join(scratch, 'py-copied');
    await cp(moved, copied, { recursive: true, verbatimSymlinks: true });
    const script = [
      'import json, sys, sysconfig, ssl, sqlite3, ctypes, hashlib, json, zlib, bz2, lzma',
      'print(json.dumps({"prefix": sys.prefix, "exec_prefix": sys.exec_prefix, "path": sys.path,',
      '  "purelib": sysconfig.get_paths()["purelib"], "scripts": sysconfig.get_paths()["scripts"]}))',
    ].join('\n');
    for (const prefix of [moved, copied]) {
      for (const exe of ['bin/python', 'bin/python3', 'bin/python3.11']) {
        const { stdout } = await run(join(prefix, exe), ['-c', script], { cwd: '/' });
        const info = JSON.parse(stdout);
        expect(info.prefix).toBe(prefix);
        expect(info.exec_prefix).toBe(prefix);
        expect(info.path).toContain(join(prefix, 'lib/python3.11/site-packages'));
        expect(info.path).toContain(join(prefix, 'lib/python3.11/lib-dynload'));
        expect(info.path.some((p: string) => p.startsWith('/usr/'))).toBe(false);
        expect(info.purelib).toBe(join(prefix, 'lib/python3.11/site-packages'));
        expect(info.scripts).toBe(join(prefix, 'bin'));
      }
    }
    expect(await readlink(join(copied, 'bin/python'))).toBe('python3.11');
  });

  it('needs only system libraries this machine has (ldd finds every one)', async () => {
    const prefix = join(scratch, 'py-ldd');
    await buildDebianPythonPrefix(prefix);
    const dynload = join(prefix, 'lib/python3.11/lib-dynload');
    const binaries = [
      join(prefix, 'bin/python3.11'),
      ...(await readdir(dynload)).map((name) => join(dynload, name)),
    ];
    expect(binaries.length).toBeGreaterThan(30);
    for (const binary of binaries) {
      const { stdout } = await run('ldd', [binary]);
      expect(stdout, binary).not.toContain('not found');
    }
  });

  it('the python and pip packages make a working environment (python -m pip)', async () => {
    const linux = await fetchRepodata('linux-64');
    const noarch = await fetchRepodata('noarch');
    const pythonFile = Object.keys(linux['packages.conda']).find((f) => f.startsWith('python-'));
    const pipFile = Object.keys(noarch.packages).find((f) => f.startsWith('pip-'));
    if (!pythonFile || !pipFile) throw new Error('python or pip missing from the channel');
    const prefix = join(scratch, 'py-env');
    await extractFromChannel('linux-64', pythonFile, prefix);
    const pip = join(scratch, 'pip-unpacked');
    await extractFromChannel('noarch', pipFile, pip);
    // Link by hand the way noarch: python packages are linked: site-packages/ to lib/python3.11/.
    for (const name of await readdir(join(pip, 'site-packages'))) {
      await cp(
        join(pip, 'site-packages', name),
        join(prefix, 'lib/python3.11/site-packages', name),
        {
          recursive: true,
        },
      );
    }
    const { stdout } = await run(join(prefix, 'bin/python'), ['-m', 'pip', '--version'], {
      cwd: '/',
    });
    expect(stdout).toContain(`from ${join(prefix, 'lib/python3.11/site-packages/pip')}`);
    expect(stdout).toContain('(python 3.11)');

    // pip installs into <prefix>/lib/python3.11/site-packages (conda's scheme, not Debian's).
    const wheel = join(scratch, 'tinywheel-1.0-py3-none-any.whl');
    await run(join(prefix, 'bin/python'), ['-c', TINY_WHEEL_SCRIPT, wheel]);
    await run(
      join(prefix, 'bin/python'),
      ['-m', 'pip', 'install', '--no-index', '--no-deps', wheel],
      {
        cwd: '/',
        env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_ROOT_USER_ACTION: 'ignore' },
      },
    );
    const imported = await run(
      join(prefix, 'bin/python'),
      ['-c', 'import tinywheel; print(tinywheel.__file__)'],
      {
        cwd: '/',
      },
    );
    expect(imported.stdout.trim()).toBe(
      join(prefix, 'lib/python3.11/site-packages/tinywheel/__init__.py'),
    );
  });
});

describe('the real solver (@conda-org/rattler) accepts the channel', () => {
  let virtual: ServedChannel;
  beforeAll(async () => {
    const dir = join(scratch, 'virtual');
    await writeVirtualPackageChannel(dir);
    virtual = await serveChannel(dir);
  });
  afterAll(async () => {
    await virtual?.close();
  });

  it('solves python, pip and the chain, picking the versions the constraints force', async () => {
    const solved = await simpleSolve(
      ['python 3.11.*', 'pip', 'chain-top'],
      [served.url, virtual.url],
      ['linux-64', 'noarch'],
      [],
    );
    const picked = Object.fromEntries(
      solved
        .filter((p) => !p.packageName.startsWith('__'))
        .map((p) => [p.packageName, `${p.version}-${p.build}`]),
    );
    expect(Object.keys(picked).sort()).toEqual([
      'chain-base',
      'chain-mid',
      'chain-top',
      'pip',
      'python',
    ]);
    expect(picked['chain-top']).toBe('1.0.0-pyh_test_0');
    expect(picked['chain-mid']).toBe('1.5.0-pyh_test_0'); // 2.0.0 is newer but excluded by <2
    expect(picked['chain-base']).toBe('2.1.0-pyh_test_1'); // 3.0.0 excluded by <3; newest build
    for (const p of solved.filter((x) => !x.packageName.startsWith('__'))) {
      expect(p.url.startsWith(served.url)).toBe(true);
      expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('cannot install python without the __glibc virtual package, nor needs-missing', async () => {
    await expect(simpleSolve(['python'], [served.url], ['linux-64', 'noarch'], [])).rejects.toMatch(
      /__glibc/,
    );
    await expect(
      simpleSolve(['needs-missing'], [served.url, virtual.url], ['linux-64', 'noarch'], []),
    ).rejects.toMatch(/no-such-package/);
  });
});

describe('caching and the CLI', () => {
  it('ensureTestChannel is cached: a second call returns the same folder quickly', async () => {
    const again = await ensureTestChannel();
    expect(again).toBe(channel);
  });

  it('two processes building a cold cache at once produce one valid channel', async () => {
    const cache = join(scratch, 'cold-cache');
    const env = { ...process.env, PONCHO_TEST_CACHE: cache };
    const cli = join(repoRoot, 'test/channel/cli.ts');
    const build = () => run(process.execPath, ['--import', 'tsx', cli], { env, cwd: repoRoot });
    const [first, second] = await Promise.all([build(), build()]);
    expect(first.stdout).toBe(second.stdout);
    const dir = first.stdout.trim();
    expect(dir.startsWith(join(cache, 'channel'))).toBe(true);
    expect((await readdir(join(cache, 'channel'))).filter((n) => !n.endsWith('.lock'))).toEqual([
      dir.split('/').at(-1),
    ]);
    // Deterministic: the cold build is byte-identical to the cached one.
    expect(await readFile(join(dir, 'noarch/repodata.json'), 'utf8')).toBe(
      await readFile(join(channel, 'noarch/repodata.json'), 'utf8'),
    );
  });

  it('cli.ts --serve prints the folder and a URL serving it until killed', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/channel/cli.ts', '--serve', '--json'],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
        });
        child.once('exit', (code) => reject(new Error(`cli exited early with ${code}`)));
      });
      const { dir, url } = JSON.parse(line);
      expect(dir).toBe(channel);
      const response = await fetch(`${url}/linux-64/repodata.json`);
      expect(response.status).toBe(200);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});

describe('the hostile channel', () => {
  it('builds each broken case as described', async () => {
    const hostile = await buildHostileChannel(join(scratch, 'hostile'));
    const repodata = JSON.parse(await readFile(join(hostile.dir, 'noarch/repodata.json'), 'utf8'));
    const record = (fileName: string) =>
      repodata.packages[fileName] ?? repodata['packages.conda'][fileName];
    const file = (fileName: string) => readFile(join(hostile.dir, 'noarch', fileName));
    const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

    const bad = hostile.cases['bad-sha256'];
    expect(sha(await file(bad.fileName))).not.toBe(record(bad.fileName).sha256);
    const missing = hostile.cases['missing-archive'];
    expect(record(missing.fileName)).toBeDefined();
    await expect(file(missing.fileName)).rejects.toThrow(/ENOENT/);
    for (const kind of ['truncated-conda', 'truncated-tarbz2'] as const) {
      const info = hostile.cases[kind];
      expect(sha(await file(info.fileName))).toBe(record(info.fileName).sha256);
      await expect(
        extractPackage(join(hostile.dir, 'noarch', info.fileName), join(scratch, kind)),
      ).rejects.toThrow();
    }
    const { stdout: listing } = await run('tar', [
      '-tjf',
      join(hostile.dir, 'noarch', hostile.cases['dotdot-path'].fileName),
    ]);
    expect(listing).toContain('../poncho-hostile-dotdot-escape.txt');
    const chain = join(scratch, 'symlink-chain-escape');
    await extractPackage(
      join(hostile.dir, 'noarch', hostile.cases['symlink-chain-escape'].fileName),
      chain,
    );
    expect(await readlink(join(chain, 'share/symlink-chain-escape/root'))).toBe('../..');
    expect(await readlink(join(chain, 'share/out'))).toBe('symlink-chain-escape/root/..');
    await expect(
      readFile(join(hostile.brokenRepodataDir, 'noarch/repodata.json'), 'utf8').then(JSON.parse),
    ).rejects.toThrow(SyntaxError);
  });
});
