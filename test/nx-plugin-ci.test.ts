/**
 * @poncho/nx-plugin in CI (issue 11), with the real `nx` CLI in a temporary workspace that
 * has a git remote, as a CI checkout has:
 *   - the README's CI snippet (NX_CACHE_DIRECTORY=.nx/cache) puts the cache where its
 *     actions/cache step looks, which Nx 23+ does not by default; nx.json and .gitignore edits
 *     invalidate every task (the README warns);
 *   - outputs follow the `output` option, so a cache hit restores them;
 *   - every file the analyzer reads is an input: entries and local modules outside the project,
 *     files of nested projects; test files are not analyzed;
 *   - lock-env keeps a satisfying lock without solving, solves when the spec needs it,
 *     refuses to change the lock with --locked or in CI, and re-solves with --update;
 *   - a spec with a pip section: lock-env pins pip with hashes (pip resolving in the
 *     environment's own python), keeps the pins while the pip requirements are the same, and
 *     pack-env builds exactly the pinned wheels from the lock, whatever the index has since;
 *   - createNodes keeps its results in a plugin cache.
 * Only analyze-env and lock-env run here, but two pack-envs: the slow builds are in
 * nx-plugin.test.ts.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestChannel } from './channel/index.js';
import {
  makeWorkspace,
  nxIn,
  readJson,
  repoRoot,
  run,
  runTarget,
  sha256,
  writeIn,
} from './nx-plugin-support.js';
import { writeWheel } from './support/wheels.js';

let ws: string;
let home: string;
let channel: string;

const svcConfig = (extra: Record<string, unknown> = {}) =>
  `${JSON.stringify(
    {
      name: 'svc',
      channels: [channel],
      pkgMapping: { chain_top: 'chain-top', hello_cli: 'hello-cli' },
      pythonVersion: '3.11',
      ...extra,
    },
    null,
    2,
  )}\n`;

const specOf = (project: string) =>
  readJson(join(ws, `dist/apps/${project}/env.json`)) as { conda: { dependencies: string[] } };
const lockFile = () => join(ws, 'apps/svc/poncho.lock.json');
const lockedNames = () =>
  (readJson(lockFile()) as { packages: Array<{ name: string }> }).packages.map((p) => p.name);

beforeAll(async () => {
  channel = await ensureTestChannel();
  ws = await makeWorkspace('poncho-nx-ci-', {
    plugins: ['@poncho/nx-plugin'],
    namedInputs: {
      default: ['{projectRoot}/**/*'],
      production: ['default', '!{projectRoot}/tests/**/*'],
    },
  });
  // A CI checkout has a remote: Nx 23+ then keeps its cache in ~/.nx/<id>/cache.
  await run('git', ['remote', 'add', 'origin', 'https://example.com/acme/monorepo.git'], {
    cwd: ws,
  });
  home = mkdtempSync(join(tmpdir(), 'poncho-nx-ci-home-'));
  writeIn(ws, 'apps/svc/main.py', 'import chain_top\n\nprint(chain_top.chain())\n');
  writeIn(ws, 'apps/svc/poncho.json', svcConfig());
}, 900_000);

afterAll(() => {
  if (process.env.PONCHO_KEEP_E2E) return;
  for (const dir of [ws, home]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the CI snippet of the README', () => {
  it('Nx 23+ keeps its cache outside the workspace unless NX_CACHE_DIRECTORY says otherwise', async () => {
    // As in CI without the snippet's variable: nothing lands in .nx/cache, what it caches.
    const env = { NX_CACHE_DIRECTORY: undefined, HOME: home };
    const { tasks } = await runTarget(ws, 'svc:analyze-env', [], env);
    expect(tasks).toEqual({ 'svc:analyze-env': 'ran' });
    const inWorkspace = join(ws, '.nx/cache');
    const taskHashes = (dir: string) =>
      existsSync(dir) ? readdirSync(dir).filter((name) => /^\d+$/.test(name)) : [];
    expect(taskHashes(inWorkspace)).toEqual([]);
    const shared = readdirSync(join(home, '.nx')).map((id) => join(home, '.nx', id, 'cache'));
    expect(shared.flatMap(taskHashes)).toHaveLength(1);
  });

  it('with NX_CACHE_DIRECTORY=.nx/cache the outputs are cached in .nx/cache and restored from it', async () => {
    const env = { NX_CACHE_DIRECTORY: '.nx/cache', HOME: home };
    expect((await runTarget(ws, 'svc:analyze-env', [], env)).tasks).toEqual({
      'svc:analyze-env': 'ran',
    });
    expect(readdirSync(join(ws, '.nx/cache')).filter((n) => /^\d+$/.test(n))).toHaveLength(1);
    rmSync(join(ws, 'dist'), { recursive: true });
    expect((await runTarget(ws, 'svc:analyze-env', [], env)).tasks).toEqual({
      'svc:analyze-env': 'cache',
    });
    expect(existsSync(join(ws, 'dist/apps/svc/env.json'))).toBe(true);
  });

  it('an edit of nx.json or of .gitignore invalidates every task (the README warns)', async () => {
    const env = { NX_CACHE_DIRECTORY: '.nx/cache', HOME: home };
    const nxJson = readJson(join(ws, 'nx.json')) as Record<string, unknown>;
    writeFileSync(join(ws, 'nx.json'), `${JSON.stringify({ ...nxJson, maxCacheSize: '2GB' })}\n`);
    expect((await runTarget(ws, 'svc:analyze-env', [], env)).tasks).toEqual({
      'svc:analyze-env': 'ran',
    });
    const gitignore = readFileSync(join(ws, '.gitignore'), 'utf8');
    writeFileSync(join(ws, '.gitignore'), `${gitignore}*.log\n`);
    expect((await runTarget(ws, 'svc:analyze-env', [], env)).tasks).toEqual({
      'svc:analyze-env': 'ran',
    });
  });
});

describe('outputs follow the output option', () => {
  it('analyze-env and pack-env with --output: a cache hit restores the file at that path', async () => {
    const spec = join(ws, 'dist/custom/spec.json');
    expect(
      (await runTarget(ws, 'svc:analyze-env', ['--output=dist/custom/spec.json'])).tasks,
    ).toEqual({ 'svc:analyze-env': 'ran' });
    rmSync(join(ws, 'dist/custom'), { recursive: true });
    expect(
      (await runTarget(ws, 'svc:analyze-env', ['--output=dist/custom/spec.json'])).tasks,
    ).toEqual({ 'svc:analyze-env': 'cache' });
    expect(existsSync(spec)).toBe(true);

    const tarball = join(ws, 'dist/custom/env.tar.gz');
    const args = ['--output=dist/custom/env.tar.gz'];
    expect((await runTarget(ws, 'svc:pack-env', args)).tasks['svc:pack-env']).toBe('ran');
    rmSync(tarball);
    expect((await runTarget(ws, 'svc:pack-env', args)).tasks['svc:pack-env']).toBe('cache');
    expect(existsSync(tarball)).toBe(true);
  });
});

describe('the inputs of analyze-env', () => {
  it('leaves test files out of the spec (tests/, test_*.py, *_test.py, conftest.py)', async () => {
    for (const file of ['tests/test_main.py', 'test_app.py', 'app_test.py', 'conftest.py'])
      writeIn(ws, `apps/svc/${file}`, 'import hello_cli\n');
    await runTarget(ws, 'svc:analyze-env');
    expect(specOf('svc').conda.dependencies).toContainEqual(expect.stringMatching(/^chain-top/));
    expect(specOf('svc').conda.dependencies).not.toContainEqual(
      expect.stringMatching(/^hello-cli/),
    );
  });

  it('an entry outside the project, and a local module it imports, are inputs', async () => {
    writeIn(ws, 'shared/tool.py', 'import util\n');
    writeIn(ws, 'shared/util.py', 'import json\n');
    writeIn(ws, 'apps/outside/main.py', 'import chain_top\n');
    writeIn(
      ws,
      'apps/outside/poncho.json',
      svcConfig({ name: 'outside', entry: ['main.py', '../../shared/tool.py'] }),
    );
    expect((await runTarget(ws, 'outside:analyze-env')).tasks).toEqual({
      'outside:analyze-env': 'ran',
    });
    // util.py is not an entry: the analyzer follows `import util` to it.
    writeIn(ws, 'shared/util.py', 'import hello_cli\n');
    expect((await runTarget(ws, 'outside:analyze-env')).tasks).toEqual({
      'outside:analyze-env': 'ran',
    });
    expect(specOf('outside').conda.dependencies).toContainEqual(
      expect.stringMatching(/^hello-cli/),
    );
  });

  it('the files of a nested project are inputs of the project that holds them', async () => {
    writeIn(ws, 'apps/svc/plugins/project.json', '{ "name": "svc-plugins" }\n');
    writeIn(ws, 'apps/svc/plugins/extra.py', 'import json\n');
    expect((await runTarget(ws, 'svc:analyze-env')).tasks).toEqual({ 'svc:analyze-env': 'ran' });
    writeIn(ws, 'apps/svc/plugins/extra.py', 'import hello_cli\n');
    expect((await runTarget(ws, 'svc:analyze-env')).tasks).toEqual({ 'svc:analyze-env': 'ran' });
    expect(specOf('svc').conda.dependencies).toContainEqual(expect.stringMatching(/^hello-cli/));
    rmSync(join(ws, 'apps/svc/plugins'), { recursive: true });
  });
});

describe('lock-env', () => {
  it('writes the lock, then keeps it without solving while it satisfies the spec', async () => {
    rmSync(lockFile(), { force: true });
    const first = await runTarget(ws, 'svc:lock-env');
    expect(first.output).toMatch(/Solved \d+ package\(s\) for linux-64/);
    expect(lockedNames()).toEqual(
      expect.arrayContaining(['chain-top', 'chain-mid', 'chain-base', 'python']),
    );
    const text = readFileSync(lockFile(), 'utf8');

    const again = await runTarget(ws, 'svc:lock-env');
    expect(again.output).toContain('is up to date');
    expect(readFileSync(lockFile(), 'utf8')).toBe(text);

    // chain-mid is already locked (chain-top needs it): the spec changes, the packages do not.
    writeIn(ws, 'apps/svc/poncho.json', svcConfig({ extraPackages: ['chain-mid'] }));
    const kept = await runTarget(ws, 'svc:lock-env');
    expect(kept.output).toMatch(/Kept the \d+ locked package\(s\)/);
    const after = readJson(lockFile()) as { packages: unknown; ponchoSpec: unknown };
    expect(after.packages).toEqual((JSON.parse(text) as { packages: unknown }).packages);
    expect(JSON.stringify(after.ponchoSpec)).toContain('chain-mid');
    writeIn(ws, 'apps/svc/poncho.json', svcConfig());
    await runTarget(ws, 'svc:lock-env');
  });

  it('--locked, and CI by default, fail instead of changing the lock', async () => {
    const text = readFileSync(lockFile(), 'utf8');
    writeIn(ws, 'apps/svc/main.py', 'import chain_top\nimport hello_cli\n');
    const locked = await nxIn(ws, ['run', 'svc:lock-env', '--output-style=static', '--locked']);
    expect(locked.code).not.toBe(0);
    expect(locked.output).toContain('would have to change');
    expect(locked.output).toContain('nothing in the lock provides hello-cli');
    expect(readFileSync(lockFile(), 'utf8')).toBe(text);

    const inCi = await nxIn(ws, ['run', 'svc:lock-env', '--output-style=static'], { CI: 'true' });
    expect(inCi.code).not.toBe(0);
    expect(inCi.output).toContain('would have to change');
    expect(readFileSync(lockFile(), 'utf8')).toBe(text);

    const allowed = await runTarget(ws, 'svc:lock-env', ['--locked=false'], { CI: 'true' });
    expect(allowed.output).toContain('no longer satisfies the spec');
    expect(lockedNames()).toContain('hello-cli');
  });

  it('a removed import leaves the lock; --update solves again', async () => {
    writeIn(ws, 'apps/svc/main.py', 'import chain_top\n');
    const solved = await runTarget(ws, 'svc:lock-env');
    expect(solved.output).toContain('the spec no longer needs hello-cli');
    expect(lockedNames()).not.toContain('hello-cli');
    const text = readFileSync(lockFile(), 'utf8');

    // --offline exists (a creator hint names it): the warm repodata cache is enough.
    const updated = await runTarget(ws, 'svc:lock-env', ['--update', '--offline']);
    expect(updated.output).toMatch(/Updated \d+ package\(s\)/);
    // Same channel, same packages: the same bytes.
    expect(readFileSync(lockFile(), 'utf8')).toBe(text);
  });
});

describe('lock-env and pack-env with a pip section', () => {
  // pip installs from a local wheel folder (no PyPI here): pip reads PIP_FIND_LINKS and
  // PIP_NO_INDEX from the environment, which Nx passes to the executors.
  let wheels: string;
  const pipEnv = () => ({ PIP_FIND_LINKS: wheels, PIP_NO_INDEX: '1' });
  const pipLockFile = () => join(ws, 'apps/pipsvc/poncho.lock.json');
  const pipLock = () =>
    readJson(pipLockFile()) as {
      pip: string[];
      pipRequested?: string[];
      ponchoSpec: unknown;
    };
  const pipConfig = (requirement: string) =>
    svcConfig({ name: 'pipsvc', extraPackages: [`pip:${requirement}`] });
  /** A run of a pipsvc target that must fail. */
  const failing = async (target: string, ...args: string[]) => {
    const result = await nxIn(
      ws,
      ['run', `pipsvc:${target}`, '--output-style=static', ...args],
      pipEnv(),
    );
    expect(result.code, result.output).not.toBe(0);
    return result;
  };
  const pins = (greet: string) => [
    `colorize==0.3 --hash=sha256:${sha256(join(wheels, 'colorize-0.3-py3-none-any.whl'))}`,
    `greet==${greet} --hash=sha256:${sha256(join(wheels, `greet-${greet}-py3-none-any.whl`))}`,
  ];

  beforeAll(async () => {
    wheels = mkdtempSync(join(tmpdir(), 'poncho-nx-ci-wheels-'));
    await writeWheel(wheels, 'colorize', '0.3', 'RED = "red"\n');
    await writeWheel(wheels, 'greet', '1.0', 'import colorize\n', ['colorize']);
    writeIn(ws, 'apps/pipsvc/main.py', 'print("hello")\n');
    writeIn(ws, 'apps/pipsvc/poncho.json', pipConfig('greet'));
  });
  afterAll(() => rmSync(wheels, { recursive: true, force: true }));

  it('lock-env pins pip with hashes, then keeps the pins without solving or installing', async () => {
    const first = await runTarget(ws, 'pipsvc:lock-env', [], pipEnv());
    expect(first.output).toMatch(
      /Solved \d+ package\(s\) and pinned 2 pip package\(s\) for linux-64/,
    );
    expect(pipLock().pip).toEqual(pins('1.0'));
    expect(pipLock().pipRequested).toEqual(['greet']);
    const text = readFileSync(pipLockFile(), 'utf8');

    // pip finds nothing in an empty folder: a second lock-env that installed would fail.
    const empty = mkdtempSync(join(tmpdir(), 'poncho-nx-ci-nowheels-'));
    try {
      const again = await runTarget(ws, 'pipsvc:lock-env', [], {
        ...pipEnv(),
        PIP_FIND_LINKS: empty,
      });
      expect(again.output).toContain('is up to date');
      expect(again.output).not.toContain('pinning the pip section');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    expect(readFileSync(pipLockFile(), 'utf8')).toBe(text);
  });

  it('a changed pip line: --locked refuses, lock-env locks again', async () => {
    const text = readFileSync(pipLockFile(), 'utf8');
    writeIn(ws, 'apps/pipsvc/poncho.json', pipConfig('greet>=1'));
    const locked = await failing('lock-env', '--locked');
    expect(locked.output).toContain(
      'would have to change: the pip requirements changed (lock: greet; now: greet>=1)',
    );
    expect(readFileSync(pipLockFile(), 'utf8')).toBe(text);

    const relocked = await runTarget(ws, 'pipsvc:lock-env', [], pipEnv());
    expect(relocked.output).toContain('no longer satisfies the spec (the pip requirements changed');
    // As pixi: the conda packages still satisfy the spec, so they are kept (no solve).
    expect(relocked.output).toMatch(
      /Kept the \d+ locked package\(s\) and pinned 2 pip package\(s\) for linux-64/,
    );
    expect(relocked.output).not.toContain('solving');
    expect((readJson(pipLockFile()) as { packages: unknown }).packages).toEqual(
      (JSON.parse(text) as { packages: unknown }).packages,
    );
    expect(pipLock().pip).toEqual(pins('1.0'));
    expect(JSON.stringify(pipLock().ponchoSpec)).toContain('greet>=1');
  });

  it('pack-env builds the pinned wheels from the lock, not what the index has since', async () => {
    // A newer greet appears after the lock was written: a solve would take it.
    await writeWheel(wheels, 'greet', '2.0', 'import colorize\n', ['colorize']);
    const packed = await runTarget(ws, 'pipsvc:pack-env', [], pipEnv());
    expect(packed.tasks['pipsvc:pack-env']).toBe('ran');
    expect(packed.output).not.toContain('solved again');
    const listing = (
      await run('tar', ['-tzf', join(ws, 'dist/apps/pipsvc/env.tar.gz')], {
        maxBuffer: 64 * 1024 * 1024,
      })
    ).stdout;
    expect(listing).toMatch(/site-packages\/greet-1\.0\.dist-info\/REQUESTED/);
    expect(listing).toContain('colorize-0.3.dist-info/');
    expect(listing).not.toContain('greet-2.0');

    // The newer wheel reaches the lock only through --update.
    const updated = await runTarget(ws, 'pipsvc:lock-env', ['--update'], pipEnv());
    expect(updated.output).toMatch(/Updated \d+ package\(s\)/);
    expect(pipLock().pip).toEqual(pins('2.0'));
  });

  it('a lock of an older lock-env (pip as written): pack-env says to lock again, lock-env pins it', async () => {
    const older = pipLock() as Record<string, unknown>;
    older.pip = ['greet>=1'];
    delete older.pipRequested;
    writeFileSync(pipLockFile(), `${JSON.stringify(older, null, 2)}\n`);
    const pack = await failing('pack-env', '--exclude-task-dependencies');
    expect(pack.output).toContain('does not pin its pip section (greet>=1)');
    expect(pack.output).toContain('nx run pipsvc:lock-env');

    const locked = await failing('lock-env', '--locked');
    expect(locked.output).toContain('its pip section is not pinned');

    await runTarget(ws, 'pipsvc:lock-env', [], pipEnv());
    expect(pipLock().pip).toEqual(pins('2.0'));
  });
});

describe('createNodes', () => {
  it('keeps its results in a plugin cache in the workspace data folder, and follows edits', async () => {
    const show = await nxIn(ws, ['show', 'project', 'svc', '--json']);
    expect(show.code, show.output).toBe(0);
    const cacheFile = join(ws, '.nx/workspace-data/poncho-nx-plugin.json');
    expect(Object.keys(readJson(cacheFile) as object).length).toBeGreaterThanOrEqual(2);

    writeIn(ws, 'apps/svc/poncho.json', svcConfig({ entry: ['main.py', '../../shared/tool.py'] }));
    const edited = await nxIn(ws, ['show', 'project', 'svc', '--json']);
    const project = JSON.parse(edited.output.slice(edited.output.indexOf('{')));
    expect(project.targets['analyze-env'].inputs).toContain('{workspaceRoot}/shared/**/*.py');
    writeIn(ws, 'apps/svc/poncho.json', svcConfig());
  });
});

describe('the published packages', () => {
  it('ship a README and no .tsbuildinfo, and name their repository', async () => {
    const names = ['core', 'analyzer', 'creator', 'runner', 'nx-plugin'];
    const packed = await Promise.all(
      names.map((name) =>
        run('npm', ['pack', '--dry-run', '--json'], { cwd: join(repoRoot, 'packages', name) }),
      ),
    );
    names.forEach((name, i) => {
      const listing = JSON.parse(packed[i]?.stdout ?? '[]') as Array<{
        files: Array<{ path: string }>;
      }>;
      const files = listing[0]?.files.map((f) => f.path);
      expect(files, name).toContain('README.md');
      expect(
        files?.filter((f) => f.includes('tsbuildinfo')),
        name,
      ).toEqual([]);
      const manifest = readJson(join(repoRoot, 'packages', name, 'package.json')) as {
        repository?: { url?: string; directory?: string };
      };
      expect(manifest.repository?.directory, name).toBe(`packages/${name}`);
      expect(manifest.repository?.url, name).toMatch(/^git\+https:\/\//);
    });
  });
});
