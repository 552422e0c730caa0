/**
 * poncho_package_create as conda users expect it, end to end with real packages from the test
 * channel (and small channels built here for the cases the shared one lacks): tarballs whose
 * bytes do not depend on where the caches and the checkout are, `nodefaults`, post-link
 * scripts, damaged package caches, packing an existing prefix that was tampered with, pip
 * pins with hashes (the same from a build's --lock-file and from the library's lockSpec).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuiltArchive,
  buildPackage,
  ensureTestChannel,
  type PackageDefinition,
  type ServedChannel,
  serveChannel,
  writeRepodata,
} from './channel/index.js';
import { CREATE_BIN, isolatedEnv, runNodeCli } from './support/node-cli.js';
import { runRunner } from './support/runner-cli.js';
import { writeWheel } from './support/wheels.js';

let channelDir: string;
let work: string;

beforeAll(async () => {
  channelDir = await ensureTestChannel();
  work = await mkdtemp(join(tmpdir(), 'poncho-create-conda-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A machine of its own: working folder, package cache, tarball cache, repodata cache. */
interface Machine {
  home: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
}

async function machine(name: string): Promise<Machine> {
  const home = join(work, name);
  const cwd = join(home, 'checkout', 'project');
  await mkdir(cwd, { recursive: true });
  // A temporary folder of its own (the names differ in length): the build folder is made in
  // it, and its path must not reach the tarball (.pyc files would carry it).
  await mkdir(join(home, 'tmp'), { recursive: true });
  return { home, cwd, env: isolatedEnv(home) };
}

async function create(on: Machine, args: string[]) {
  const result = await runNodeCli(CREATE_BIN, ['--json', ...args], { cwd: on.cwd, env: on.env });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.toString()) as { sha256: string; path: string };
}

/** The uncompressed tar stream of a tarball, for looking for paths in it. */
function tarBytes(tarball: string): Buffer {
  return execFileSync('gzip', ['-dc', tarball], { maxBuffer: 1 << 30 });
}

describe('the same packages give the same bytes, wherever caches and checkout are', () => {
  it('a local channel named by a relative path, two machines', async () => {
    const machines = [await machine('laptop'), await machine('ci-runner-with-a-longer-name')];
    const shas: string[] = [];
    for (const m of machines) {
      await cp(channelDir, join(m.cwd, 'channel'), { recursive: true });
      await writeFile(
        join(m.cwd, 'spec.json'),
        JSON.stringify({
          conda: {
            channels: ['./channel'],
            dependencies: ['python=3.11', 'chain-top', 'text-config'],
          },
        }),
      );
      const result = await create(m, [
        '--cache-dir',
        join(m.home, 'tarballs'),
        'spec.json',
        'env.tar.gz',
      ]);
      shas.push(result.sha256);
      const bytes = tarBytes(result.path);
      // Neither the caches nor the checkout of this machine are named inside.
      expect(bytes.includes(Buffer.from(m.home))).toBe(false);
      const meta = execFileSync('tar', [
        '-xzOf',
        result.path,
        '--wildcards',
        'conda-meta/python-*.json',
      ]);
      const record = JSON.parse(meta.toString()) as Record<string, unknown>;
      expect(record).toMatchObject({
        extracted_package_dir: '',
        package_tarball_full_path: '',
        link: { source: '' },
        channel: './channel',
      });
      expect(record.url).toMatch(/^\.\/channel\/linux-64\/python-3\.11/);
      // The files that held the build folder relocate from the prefix the tarball records.
      const unpacked = join(m.home, 'unpacked');
      const run = await runRunner(
        ['-e', result.path, '-d', unpacked, 'sh', '-c', 'text-config-show && text-config-python'],
        { env: m.env },
      );
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`${unpacked}/etc/text-config/config.ini`);
      expect(run.stdout).toContain(`data_dir = ${unpacked}/share/text-config`);
      expect(run.stdout.trim().split('\n').at(-1)).toBe(unpacked);
    }
    expect(shas[1]).toBe(shas[0]);
  });

  it('an HTTP channel at the same URL, served from two folders, two machines', async () => {
    const shas: string[] = [];
    let port = 0;
    for (const name of ['desk', 'cluster-login-node']) {
      const m = await machine(name);
      const copy = join(m.home, 'mirror');
      await cp(channelDir, copy, { recursive: true });
      const served: ServedChannel = await serveChannel(copy, { port });
      port = Number(new URL(served.url).port);
      try {
        await writeFile(
          join(m.cwd, 'spec.json'),
          JSON.stringify({ conda: { channels: [served.url], dependencies: ['python=3.11'] } }),
        );
        const result = await create(m, ['--no-cache', 'spec.json', 'env.tar.gz']);
        shas.push(result.sha256);
        expect(tarBytes(result.path).includes(Buffer.from(m.home))).toBe(false);
      } finally {
        await served.close();
      }
    }
    expect(shas[1]).toBe(shas[0]);
  });
});

describe('environment.yml as conda reads it', () => {
  it('drops `nodefaults` from the channels instead of fetching it', async () => {
    const m = await machine('nodefaults');
    const served = await serveChannel(channelDir);
    try {
      await writeFile(
        join(m.cwd, 'environment.yml'),
        `name: job\nchannels:\n  - ${served.url}\n  - nodefaults\ndependencies:\n  - python=3.11\n`,
      );
      const result = await create(m, ['--no-cache', 'environment.yml', 'env.tar.gz']);
      const lock = JSON.parse(
        execFileSync('tar', ['-xzOf', result.path, '.poncho/lock.json']).toString(),
      ) as { channels: string[] };
      expect(lock.channels).toEqual([served.url]);
    } finally {
      await served.close();
    }
  });
});

describe('packing an existing environment checks it against conda-meta', () => {
  it('refuses deleted or overwritten conda-managed files, or warns with --ignore-missing-files', async () => {
    const m = await machine('existing-prefix');
    await writeFile(
      join(m.cwd, 'spec.json'),
      JSON.stringify({
        conda: { channels: [channelDir], dependencies: ['python=3.11', 'chain-top'] },
      }),
    );
    const built = await create(m, ['--no-cache', 'spec.json', 'env.tar.gz']);
    const prefix = join(m.cwd, 'prefix');
    await mkdir(prefix);
    execFileSync('tar', ['-xzf', built.path, '-C', prefix]);
    execFileSync(join(prefix, 'bin/conda-unpack'));
    // Intact: packs (no false alarms from noarch files, entry points, .pyc files, links).
    const intact = await create(m, [prefix, 'intact.tar.gz']);
    expect(intact.sha256).toMatch(/^[0-9a-f]{64}$/);

    await rm(join(prefix, 'lib/python3.11/json/decoder.py'));
    await writeFile(join(prefix, 'lib/python3.11/json/encoder.py'), '# edited by hand\n', {
      flag: 'a',
    });
    const refused = await runNodeCli(CREATE_BIN, [prefix, 'damaged.tar.gz'], m);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('files managed by conda');
    expect(refused.stderr).toMatch(/deleted: lib\/python3\.11\/json\/decoder\.py \(python-3\.11/);
    expect(refused.stderr).toMatch(
      /overwritten: lib\/python3\.11\/json\/encoder\.py \(python-3\.11/,
    );
    expect(refused.stderr).toContain('--ignore-missing-files');

    const warned = await runNodeCli(
      CREATE_BIN,
      ['--json', '--ignore-missing-files', prefix, 'damaged.tar.gz'],
      m,
    );
    expect(warned.code, warned.stderr).toBe(0);
    const report = JSON.parse(warned.stdout.toString()) as { warnings: string[] };
    expect(report.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/deleted: lib\/python3\.11\/json\/decoder\.py/),
        expect.stringMatching(/overwritten: lib\/python3\.11\/json\/encoder\.py/),
      ]),
    );
  });
});

describe('a damaged package cache is repaired from the verified archive', () => {
  it('finds appended, deleted and edited files, and extracts the package again', async () => {
    const m = await machine('damaged-cache');
    await writeFile(
      join(m.cwd, 'spec.json'),
      JSON.stringify({ conda: { channels: [channelDir], dependencies: ['python=3.11'] } }),
    );
    const build = async (...extra: string[]) => {
      const result = await runNodeCli(
        CREATE_BIN,
        ['--json', '--no-cache', ...extra, 'spec.json', 'env.tar.gz'],
        m,
      );
      expect(result.code, result.stderr).toBe(0);
      return {
        sha256: (JSON.parse(result.stdout.toString()) as { sha256: string }).sha256,
        stderr: result.stderr,
      };
    };
    const clean = await build();
    const pkg = join(m.home, 'pkgs', 'python-3.11.2-h_debian_0_cpython');
    // Extracted packages are readable by the other users of a shared cache.
    expect((await stat(pkg)).mode & 0o777).toBe(0o755);
    const file = (name: string) => join(pkg, 'lib/python3.11/json', name);

    await writeFile(file('encoder.py'), '# appended\n', { flag: 'a' });
    const appended = await build();
    expect(appended.stderr).toMatch(
      /package cache's copy of python-3\.11\.2.* is damaged \(.*encoder\.py/,
    );
    expect(appended.sha256).toBe(clean.sha256);

    await rm(file('decoder.py'));
    expect((await build()).sha256).toBe(clean.sha256);

    // Same size, edited after extraction: found by its hash (its mtime is newer).
    /** The same bytes with the first one changed: same size, other content. */
    const edit = async (path: string) => {
      const bytes = await readFile(path);
      bytes[0] = bytes[0] === 0x40 ? 0x41 : 0x40;
      await writeFile(path, bytes);
    };
    await edit(file('scanner.py'));
    expect((await build()).sha256).toBe(clean.sha256);

    // Same size and an old mtime: only --verify-cache hashes it.
    const { mtime } = await stat(file('tool.py'));
    await edit(file('tool.py'));
    await utimes(file('tool.py'), mtime, mtime);
    const verified = await build('--verify-cache');
    expect(verified.stderr).toContain('tool.py');
    expect(verified.sha256).toBe(clean.sha256);
  });
});

/** A channel of noarch packages made here: `payload` files by path, relative to the prefix. */
async function smallChannel(
  name: string,
  packages: Array<{
    name: string;
    files: Record<string, string>;
    depends?: string[];
    version?: string;
  }>,
): Promise<string> {
  const dir = join(work, name);
  const archives: BuiltArchive[] = [];
  for (const pkg of packages) {
    const def: PackageDefinition = {
      name: pkg.name,
      version: pkg.version ?? '1.0',
      build: '0',
      buildNumber: 0,
      subdir: 'noarch',
      noarch: 'generic',
      depends: pkg.depends ?? [],
      formats: ['conda'],
      payload: async (root) => {
        for (const [path, text] of Object.entries(pkg.files)) {
          await mkdir(join(root, path, '..'), { recursive: true });
          await writeFile(join(root, path), text);
        }
      },
    };
    archives.push(...(await buildPackage(def, dir, join(work, `${name}-stage`))));
  }
  await writeRepodata(dir, archives);
  return dir;
}

describe('post-link scripts run as conda runs them', () => {
  let hooks: string;

  beforeAll(async () => {
    hooks = await smallChannel('hooks-channel', [
      {
        name: 'setup-hook',
        files: {
          'bin/.setup-hook-post-link.sh': [
            'mkdir -p "$PREFIX/share/setup-hook"',
            'echo "$PKG_NAME $PKG_VERSION $PKG_BUILDNUM" > "$PREFIX/share/setup-hook/done"',
            'echo "setup-hook: remember to read the manual" >> "$PREFIX/.messages.txt"',
            '',
          ].join('\n'),
          'share/setup-hook/README': 'hook package\n',
        },
      },
      {
        name: 'failing-hook',
        files: {
          'bin/.failing-hook-post-link.sh': 'echo "cannot configure the widget" >&2\nexit 3\n',
        },
      },
    ]);
  });

  const spec = async (m: Machine, dependency: string) =>
    writeFile(
      join(m.cwd, `${dependency}.json`),
      JSON.stringify({ conda: { channels: [hooks], dependencies: [dependency] } }),
    );

  it('runs bin/.<name>-post-link.sh with PREFIX and PKG_*, and shows .messages.txt', async () => {
    const m = await machine('post-link');
    await spec(m, 'setup-hook');
    const result = await runNodeCli(CREATE_BIN, ['--no-cache', 'setup-hook.json', 'env.tar.gz'], m);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('setup-hook: remember to read the manual');
    const tarball = join(m.cwd, 'env.tar.gz');
    expect(execFileSync('tar', ['-xzOf', tarball, 'share/setup-hook/done']).toString()).toBe(
      'setup-hook 1.0 0\n',
    );
    expect(execFileSync('tar', ['-tzf', tarball]).toString()).not.toContain('.messages.txt');
  });

  it('skips them with --no-link-scripts, and says so (also in --json)', async () => {
    const m = await machine('no-link-scripts');
    await spec(m, 'setup-hook');
    const result = await runNodeCli(
      CREATE_BIN,
      ['--json', '--no-cache', '--no-link-scripts', 'setup-hook.json', 'env.tar.gz'],
      m,
    );
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.toString()) as { warnings: string[] };
    expect(report.warnings).toEqual([
      expect.stringContaining(
        'did not run the post-link script of setup-hook 1.0 (bin/.setup-hook-post-link.sh): --no-link-scripts',
      ),
    ]);
    const listing = execFileSync('tar', ['-tzf', join(m.cwd, 'env.tar.gz')]).toString();
    expect(listing).not.toContain('share/setup-hook/done');
  });

  it('fails the build when a script fails, with its output, and leaves nothing behind', async () => {
    const m = await machine('failing-post-link');
    await spec(m, 'failing-hook');
    const result = await runNodeCli(
      CREATE_BIN,
      ['--no-cache', 'failing-hook.json', 'env.tar.gz'],
      m,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'the post-link script of failing-hook 1.0 (bin/.failing-hook-post-link.sh) failed with status 3',
    );
    expect(result.stderr).toContain('cannot configure the widget');
    expect(result.stderr).toContain('--no-link-scripts');
    expect(existsSync(join(m.cwd, 'env.tar.gz'))).toBe(false);
  });
});

describe('a lock with a pip section', () => {
  it('records each wheel sha256, rebuilds byte-identically, and refuses a replaced wheel', async () => {
    const m = await machine('pip-lock');
    const wheels = join(m.cwd, 'wheels');
    await mkdir(wheels);
    await writeWheel(wheels, 'colorize', '0.3', 'RED = "red"\n');
    const greet = await writeWheel(wheels, 'greet', '1.0', 'import colorize\n', ['colorize']);
    await writeFile(
      join(m.cwd, 'spec.json'),
      JSON.stringify({
        conda: {
          channels: [channelDir],
          dependencies: ['python=3.11', 'pip', { pip: ['greet==1.0'] }],
        },
      }),
    );
    const pipArgs = ['--no-cache', '--find-links', wheels, '--no-pip-index'];
    const first = await create(m, [
      ...pipArgs,
      '--lock-file',
      'env.lock.json',
      'spec.json',
      'a.tar.gz',
    ]);
    const lock = JSON.parse(await readFile(join(m.cwd, 'env.lock.json'), 'utf8')) as {
      pip: string[];
      pipRequested: string[];
    };
    const sha = async (path: string) =>
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
    expect(lock.pip).toEqual([
      `colorize==0.3 --hash=sha256:${await sha(join(wheels, 'colorize-0.3-py3-none-any.whl'))}`,
      `greet==1.0 --hash=sha256:${await sha(greet)}`,
    ]);
    expect(lock.pipRequested).toEqual(['greet']);
    // Only what the pip section asked for carries pip's REQUESTED marker, in both builds.
    const listing = execFileSync('tar', ['-tzf', first.path]).toString();
    expect(listing).toContain('greet-1.0.dist-info/REQUESTED');
    expect(listing).not.toContain('colorize-0.3.dist-info/REQUESTED');

    const rebuilt = await create(m, [...pipArgs, 'env.lock.json', 'b.tar.gz']);
    expect(rebuilt.sha256).toBe(first.sha256);
    // Another machine, another TMPDIR (the build folder's parent): the same bytes; pip's .pyc
    // files do not name the build folder.
    const other = await machine('pip-lock-on-a-machine-with-a-longer-name');
    await cp(wheels, join(other.cwd, 'wheels'), { recursive: true });
    await cp(join(m.cwd, 'env.lock.json'), join(other.cwd, 'env.lock.json'));
    const elsewhere = await create(other, [
      '--no-cache',
      '--find-links',
      join(other.cwd, 'wheels'),
      '--no-pip-index',
      'env.lock.json',
      'c.tar.gz',
    ]);
    expect(elsewhere.sha256).toBe(first.sha256);
    expect(listing).toMatch(/greet\/__pycache__\/__init__\.cpython-311\.pyc/);

    // The library's lockSpec (what lock-env calls) pins the same spec to the same lock file,
    // without building a tarball.
    const { lockSpec } = await import('@poncho/creator');
    const locked = await lockSpec(join(m.cwd, 'spec.json'), {
      pkgsDir: m.env.PONCHO_PKGS_DIR,
      cacheDir: join(m.home, 'xdg/poncho/repodata'),
      findLinks: [wheels],
      noPipIndex: true,
      buildRoot: join(work, 'shared-tmp'),
    });
    expect(locked.text).toBe(await readFile(join(m.cwd, 'env.lock.json'), 'utf8'));

    // A lock whose pip section is the requirements as written (older lock-envs wrote them so)
    // would install greet without colorize: refused, and --dry-run writes no such lock.
    const older = JSON.parse(await readFile(join(m.cwd, 'env.lock.json'), 'utf8'));
    older.pip = ['greet==1.0'];
    delete older.pipRequested;
    await writeFile(join(m.cwd, 'older.lock.json'), JSON.stringify(older));
    const unpinned = await runNodeCli(CREATE_BIN, [...pipArgs, 'older.lock.json', 'd.tar.gz'], m);
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toContain('holds its pip section as written (greet==1.0), not as pins');
    expect(existsSync(join(m.cwd, 'd.tar.gz'))).toBe(false);
    const dry = await runNodeCli(
      CREATE_BIN,
      ['--dry-run', '--lock-file', 'dry.lock.json', 'spec.json'],
      m,
    );
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain('its pip section is pinned only by installing it');
    expect(existsSync(join(m.cwd, 'dry.lock.json'))).toBe(false);

    // The same name and version, other bytes: the lock's hash refuses it.
    await writeWheel(wheels, 'greet', '1.0', 'import colorize  # changed\n', ['colorize']);
    const refused = await runNodeCli(CREATE_BIN, [...pipArgs, 'env.lock.json', 'c.tar.gz'], m);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not the one the lock records (sha256 differs)');
  });
});

describe('smaller things conda users expect', () => {
  let m: Machine;
  beforeAll(async () => {
    m = await machine('smaller');
    await writeFile(
      join(m.cwd, 'spec.json'),
      JSON.stringify({ conda: { channels: [channelDir], dependencies: ['python=3.11'] } }),
    );
  });

  it('a conda executable that creates nothing is a failure (1) that says so, not a bug (70)', async () => {
    const result = await runNodeCli(
      CREATE_BIN,
      ['--no-cache', '--conda-executable', '/bin/true', 'spec.json', 'env.tar.gz'],
      m,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('exited with status 0 but created no environment');
  });

  it('refuses a CONDA_OVERRIDE_GLIBC that is no version', async () => {
    const result = await runNodeCli(CREATE_BIN, ['--no-cache', 'spec.json', 'env.tar.gz'], {
      ...m,
      env: { ...m.env, CONDA_OVERRIDE_GLIBC: 'abc' },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('invalid version for __glibc in CONDA_OVERRIDE_GLIBC: "abc"');
  });

  it('writes a history that claims no conda version', async () => {
    const built = await create(m, ['--no-cache', 'spec.json', 'env.tar.gz']);
    const history = execFileSync('tar', ['-xzOf', built.path, 'conda-meta/history']).toString();
    expect(history).toContain('# cmd: poncho_package_create');
    expect(history).not.toContain('conda version');
  });
});

describe('channel-qualified specs, as conda, mamba and pixi read them', () => {
  let first: string;
  let second: string;
  let served: ServedChannel;
  let m: Machine;

  beforeAll(async () => {
    const tool = (version: string) => ({
      name: 'tool',
      version,
      files: { [`share/tool/${version}`]: `${version}\n` },
    });
    first = await smallChannel('first-channel', [tool('1.0')]);
    second = await smallChannel('second-channel', [tool('2.0')]);
    served = await serveChannel(second);
    m = await machine('channel-specs');
  });
  afterAll(async () => {
    await served?.close();
  });

  /** The dry run's plan for `dependency` with `first` as the spec's only channel. */
  const plan = async (dependency: string) => {
    await writeFile(
      join(m.cwd, 'spec.json'),
      JSON.stringify({ conda: { channels: [first], dependencies: [dependency] } }),
    );
    const result = await runNodeCli(CREATE_BIN, ['--dry-run', '--json', 'spec.json'], m);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout.toString()) as {
      channels: string[];
      packages: Array<{ name: string; version: string; channel: string; subdir: string }>;
    };
  };

  it('takes the package from the channel named, which joins the channel list', async () => {
    const secondUrl = `file://${second}`;
    expect((await plan('tool')).packages).toMatchObject([{ version: '1.0' }]);
    for (const spec of [
      `${second}::tool`,
      `${served.url}::tool >=1`,
      `tool[channel=${second}]`,
      `tool >=1[channel='${served.url}', subdir=noarch]`,
      `${second}/noarch::tool`,
    ]) {
      const result = await plan(spec);
      expect(result.packages, spec).toMatchObject([
        { name: 'tool', version: '2.0', subdir: 'noarch' },
      ]);
      expect([secondUrl, served.url]).toContain(result.packages[0]?.channel);
      expect(result.channels).toContain(result.packages[0]?.channel);
    }
    // `*` is any channel, by priority: the first one's.
    expect((await plan('*/noarch::tool')).packages).toMatchObject([{ version: '1.0' }]);
  });

  it('builds a tarball from a channel-qualified spec', async () => {
    await writeFile(
      join(m.cwd, 'spec.json'),
      JSON.stringify({ conda: { channels: [first], dependencies: [`${served.url}::tool`] } }),
    );
    const built = await create(m, ['--no-cache', 'spec.json', 'env.tar.gz']);
    expect(execFileSync('tar', ['-xzOf', built.path, 'share/tool/2.0']).toString()).toBe('2.0\n');
  });
});

describe('a private channel behind basic auth', () => {
  it('writes no credential to disk, and keeps the cache files naming it 0600', async () => {
    const secret = 'pr1vate-t0ken';
    const inner = await serveChannel(channelDir);
    // The channel as a private server has it: nothing without the right Basic credentials.
    const expected = `Basic ${Buffer.from(`ci:${secret}`).toString('base64')}`;
    const server = createServer((request, response) => {
      if (request.headers.authorization !== expected) {
        response.writeHead(401, { 'www-authenticate': 'Basic realm="private"' }).end();
        return;
      }
      httpGet(`${inner.url}${request.url}`, (upstream) => {
        response.writeHead(upstream.statusCode ?? 502, upstream.headers);
        upstream.pipe(response);
      });
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    const port = (server.address() as AddressInfo).port;
    try {
      const m = await machine('private-channel');
      const write = (url: string) =>
        writeFile(
          join(m.cwd, 'spec.json'),
          JSON.stringify({ conda: { channels: [url], dependencies: ['python=3.11'] } }),
        );
      await write(`http://127.0.0.1:${port}`);
      const refused = await runNodeCli(CREATE_BIN, ['--no-cache', 'spec.json', 'x.tar.gz'], m);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('401');

      await write(`http://ci:${secret}@127.0.0.1:${port}`);
      await create(m, ['--lock-file', 'env.lock.json', 'spec.json', 'env.tar.gz']);
      // Nothing but the spec the user wrote holds the token: not the caches, lock or tarball.
      const found = spawnSync('grep', [
        '-r',
        '-l',
        '-a',
        '--exclude=spec.json',
        secret,
        m.home,
      ]).stdout.toString();
      expect(found).toBe('');
      const states = execFileSync('find', [join(m.home, 'xdg'), '-name', '*.state.json'])
        .toString()
        .trim()
        .split('\n')
        .filter(Boolean);
      expect(states.length).toBeGreaterThan(0);
      for (const state of states) {
        expect((await stat(state)).mode & 0o777, state).toBe(0o600);
        expect(await readFile(state, 'utf8')).toContain('***');
      }
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await inner.close();
    }
  });
});
