/**
 * @poncho/nx-plugin end to end: the real `nx` CLI in a temporary workspace that uses the built
 * plugin, the real analyzer and creator, and the local test channel. Each step asserts which
 * tasks Nx ran and which it took from its cache, as the plugin's cache keys promise:
 *   - pack-env twice: a cache hit, the same tarball;
 *   - a comment-only edit: analyze-env runs, pack-env is a hit;
 *   - deleting dist/: both come back from the cache;
 *   - a new import, a changed poncho.json, a new creator version: pack-env rebuilds.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestChannel } from './channel/index.js';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoModules = join(repoRoot, 'node_modules');

let ws: string;
let channel: string;

/** Runs the real nx CLI in the temporary workspace; returns its output and exit status. */
async function nx(...args: string[]): Promise<{ output: string; code: number }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [join(ws, 'node_modules/nx/dist/bin/nx.js'), ...args],
      {
        cwd: ws,
        env: {
          ...process.env,
          NX_DAEMON: 'false',
          NX_NO_CLOUD: 'true',
          NX_TUI: 'false',
          NX_CACHE_DIRECTORY: join(ws, '.nx-cache'),
          NX_SKIP_NX_CACHE: '',
          CI: 'true',
          FORCE_COLOR: '0',
          NO_COLOR: '1',
          // The creator's package and repodata caches, warm between test runs (git-ignored).
          XDG_CACHE_HOME: join(repoRoot, 'test/.cache/nx-plugin-xdg'),
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return { output: stdout + stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return {
      output: `${e.stdout ?? ''}${e.stderr ?? ''}`,
      code: typeof e.code === 'number' ? e.code : 1,
    };
  }
}

type TaskOutcome = 'ran' | 'cache';

/** How Nx ran each task of a run, read from its `> nx run project:target` headers. */
function outcomes(output: string): Record<string, TaskOutcome> {
  const result: Record<string, TaskOutcome> = {};
  for (const line of output.split('\n')) {
    const match = /> nx run (\S+?:\S+)(.*)$/.exec(line);
    if (!match?.[1]) continue;
    result[match[1]] = /\[(local cache|remote cache|existing outputs match the cache)/.test(
      match[2] ?? '',
    )
      ? 'cache'
      : 'ran';
  }
  return result;
}

async function packEnv(): Promise<Record<string, TaskOutcome>> {
  const { output, code } = await nx('run', 'myapp:pack-env', '--output-style=static');
  if (code !== 0) throw new Error(`nx run myapp:pack-env failed (${code}):\n${output}`);
  return outcomes(output);
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

const tarball = () => join(ws, 'dist/app/env.tar.gz');
const spec = () => join(ws, 'dist/app/env.json');

/**
 * node_modules of the temporary workspace: links to the repository's packages, except
 * @poncho/creator, whose package.json is a copy, so a test can change the version Nx sees.
 */
function linkNodeModules(): void {
  const modules = join(ws, 'node_modules');
  mkdirSync(join(modules, '@poncho/creator'), { recursive: true });
  for (const entry of readdirSync(repoModules)) {
    if (entry === '@poncho') continue;
    symlinkSync(join(repoModules, entry), join(modules, entry));
  }
  for (const entry of readdirSync(join(repoModules, '@poncho'))) {
    if (entry === 'creator') continue;
    symlinkSync(join(repoModules, '@poncho', entry), join(modules, '@poncho', entry));
  }
  const creator = join(repoModules, '@poncho/creator');
  cpSync(join(creator, 'package.json'), join(modules, '@poncho/creator/package.json'));
  for (const entry of ['dist', 'bin']) {
    if (existsSync(join(creator, entry)))
      symlinkSync(join(creator, entry), join(modules, '@poncho/creator', entry));
  }
}

function writeConfig(extra: Record<string, unknown> = {}): void {
  const config = {
    name: 'myapp',
    pkgMapping: { chain_top: 'chain-top', hello_cli: 'hello-cli' },
    channels: [channel],
    command: ['python', 'main.py'],
    ...extra,
  };
  writeFileSync(join(ws, 'app/poncho.json'), `${JSON.stringify(config, null, 2)}\n`);
}

beforeAll(async () => {
  channel = await ensureTestChannel();
  ws = mkdtempSync(join(tmpdir(), 'poncho-nx-e2e-'));
  writeFileSync(join(ws, 'package.json'), '{ "name": "nx-e2e", "private": true }\n');
  writeFileSync(join(ws, 'nx.json'), '{ "$schema": "./node_modules/nx/schemas/nx-schema.json" }\n');
  writeFileSync(join(ws, '.gitignore'), 'node_modules\ndist\n.nx\n.nx-cache\n');
  linkNodeModules();
  mkdirSync(join(ws, 'app'));
  writeFileSync(
    join(ws, 'app/main.py'),
    ['import json', '', 'import chain_top', '', 'print(json.dumps(chain_top.chain()))', ''].join(
      '\n',
    ),
  );
  writeConfig();
  await run('git', ['init', '-q'], { cwd: ws });
}, 900_000);

afterAll(() => {
  if (ws && !process.env.PONCHO_KEEP_E2E) rmSync(ws, { recursive: true, force: true });
});

describe('@poncho/nx-plugin with the real nx CLI', () => {
  it('init registers the plugin, and the project gets the three described targets', async () => {
    const init = await nx('g', '@poncho/nx-plugin:init');
    expect(init.code, init.output).toBe(0);
    expect(JSON.parse(readFileSync(join(ws, 'nx.json'), 'utf8')).plugins).toEqual([
      '@poncho/nx-plugin',
    ]);

    const show = await nx('show', 'project', 'myapp', '--json');
    expect(show.code, show.output).toBe(0);
    const project = JSON.parse(show.output.slice(show.output.indexOf('{')));
    expect(Object.keys(project.targets).sort()).toEqual(['analyze-env', 'pack-env', 'run-env']);
    expect(project.targets['pack-env'].metadata.technologies).toEqual(['python']);
  });

  it('the configuration generator adds poncho.json to a project', async () => {
    mkdirSync(join(ws, 'tool'));
    writeFileSync(join(ws, 'tool/project.json'), '{ "name": "tool" }\n');
    writeFileSync(join(ws, 'tool/tool.py'), 'print("tool")\n');
    const gen = await nx('g', '@poncho/nx-plugin:configuration', 'tool', '--entry=tool.py');
    expect(gen.code, gen.output).toBe(0);
    expect(JSON.parse(readFileSync(join(ws, 'tool/poncho.json'), 'utf8'))).toEqual({
      $schema: '../node_modules/@poncho/nx-plugin/poncho.schema.json',
      entry: ['tool.py'],
      command: ['python', 'tool.py'],
    });
    const show = await nx('show', 'project', 'tool', '--json');
    expect(show.output).toContain('"pack-env"');
    rmSync(join(ws, 'tool'), { recursive: true });
  });

  let firstSha = '';

  it('packs the environment; the second run is a cache hit with the identical tarball', async () => {
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'ran', 'myapp:pack-env': 'ran' });
    expect(JSON.parse(readFileSync(spec(), 'utf8')).conda.dependencies).toContainEqual(
      expect.stringMatching(/^chain-top/),
    );
    firstSha = sha256(tarball());

    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'cache', 'myapp:pack-env': 'cache' });
    expect(sha256(tarball())).toBe(firstSha);
  });

  it('a checkout in another folder computes the same task hashes (a shared cache would hit)', async () => {
    /** The task hashes Nx stored in a workspace's cache folder. */
    const hashes = (root: string) =>
      readdirSync(join(root, '.nx-cache')).filter((name) => /^\d+$/.test(name));
    // A folder channel relative to poncho.json, as examples/myapp has: the spec must keep it so.
    const relativeChannel = (root: string) => {
      symlinkSync(channel, join(root, 'channel'));
      writeConfig({ channels: ['../channel'] });
    };
    const first = ws;
    relativeChannel(first);
    const before = new Set(hashes(first));
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'ran', 'myapp:pack-env': 'ran' });
    expect(JSON.parse(readFileSync(spec(), 'utf8')).conda.channels).toEqual(['../channel']);
    const firstHashes = hashes(first).filter((hash) => !before.has(hash));
    expect(firstHashes).toHaveLength(2);

    ws = mkdtempSync(join(tmpdir(), 'poncho-nx-e2e-other-checkout-'));
    try {
      for (const file of ['package.json', 'nx.json', '.gitignore'])
        cpSync(join(first, file), join(ws, file));
      linkNodeModules();
      cpSync(join(first, 'app'), join(ws, 'app'), { recursive: true });
      relativeChannel(ws);
      await run('git', ['init', '-q'], { cwd: ws });
      expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'ran', 'myapp:pack-env': 'ran' });
      expect(hashes(ws).sort()).toEqual(firstHashes.sort());
    } finally {
      rmSync(ws, { recursive: true, force: true });
      ws = first;
      writeConfig();
    }
  });

  it('a comment-only edit re-runs analyze-env but pack-env is a cache hit', async () => {
    const main = join(ws, 'app/main.py');
    writeFileSync(main, `# a comment that changes no import\n${readFileSync(main, 'utf8')}`);
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'ran', 'myapp:pack-env': 'cache' });
    expect(sha256(tarball())).toBe(firstSha);
  });

  it('after deleting dist/, the tarball comes back from the cache', async () => {
    rmSync(join(ws, 'dist'), { recursive: true });
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'cache', 'myapp:pack-env': 'cache' });
    expect(sha256(tarball())).toBe(firstSha);
  });

  it('runs the default command and a --command in the packed environment', async () => {
    const byDefault = await nx('run', 'myapp:run-env', '--output-style=static');
    expect(byDefault.code, byDefault.output).toBe(0);
    expect(byDefault.output).toContain(
      '["chain-top 1.0.0", "chain-mid 1.5.0", "chain-base 2.1.0"]',
    );

    const custom = await nx(
      'run',
      'myapp:run-env',
      '--output-style=static',
      `--command=python -c 'import sys; print("prefix=" + sys.prefix)'`,
    );
    expect(custom.code, custom.output).toBe(0);
    expect(custom.output).toMatch(/prefix=\//);

    const failing = await nx('run', 'myapp:run-env', '--output-style=static', '--command=exit 3');
    expect(failing.code).not.toBe(0);
    expect(failing.output).toContain('exited with status 3');
  });

  it('a new import rebuilds the tarball', async () => {
    const main = join(ws, 'app/main.py');
    writeFileSync(main, `import hello_cli\n${readFileSync(main, 'utf8')}`);
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'ran', 'myapp:pack-env': 'ran' });
    expect(JSON.parse(readFileSync(spec(), 'utf8')).conda.dependencies).toContainEqual(
      expect.stringMatching(/^hello-cli/),
    );
    expect(sha256(tarball())).not.toBe(firstSha);
  });

  it('a changed poncho.json rebuilds the tarball, even when the spec stays the same', async () => {
    const before = readFileSync(spec(), 'utf8');
    writeConfig({ platform: 'linux-64' });
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'ran', 'myapp:pack-env': 'ran' });
    expect(readFileSync(spec(), 'utf8')).toBe(before);
  });

  it('a new creator version rebuilds the tarball, and only that', async () => {
    const manifest = join(ws, 'node_modules/@poncho/creator/package.json');
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    pkg.version = `${pkg.version}-nx-e2e.1`;
    writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
    expect(await packEnv()).toEqual({ 'myapp:analyze-env': 'cache', 'myapp:pack-env': 'ran' });
  });

  it('a broken poncho.json fails the task with a reason', async () => {
    writeFileSync(join(ws, 'app/poncho.json'), '{ "name": "myapp", "channels": "not-a-list" }\n');
    const { output, code } = await nx('run', 'myapp:analyze-env', '--output-style=static');
    expect(code).not.toBe(0);
    expect(output).toContain('poncho.json: field channels');
  });
});
