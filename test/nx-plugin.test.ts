/**
 * @poncho/nx-plugin end to end: the real `nx` CLI in a temporary workspace that uses the built
 * plugin, the real analyzer and creator, and the local test channel. Each step asserts which
 * tasks Nx ran and which it took from its cache, as the plugin's cache keys promise:
 *   - pack-env twice: a cache hit, the same tarball; lock-env wrote the lock file;
 *   - a comment-only edit: analyze-env runs, lock-env keeps the lock, pack-env is a hit;
 *   - deleting dist/: both come back from the cache;
 *   - a new import, a new creator version: pack-env rebuilds; a new `command` does not.
 * test/nx-plugin-ci.test.ts covers the CI side (cache folder, outputs, inputs, lock-env).
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestChannel } from './channel/index.js';
import {
  linkNodeModules,
  makeWorkspace,
  type NxResult,
  nxEnv,
  nxIn,
  run,
  runTarget,
  sha256,
  type TaskOutcome,
} from './nx-plugin-support.js';

let ws: string;
let channel: string;

/** The real nx CLI in the temporary workspace. */
const nx = (...args: string[]): Promise<NxResult> => nxIn(ws, args);

/** How pack-env's chain ran: analyze-env and pack-env as given; lock-env always runs. */
function chain(analyze: TaskOutcome, pack: TaskOutcome): Record<string, TaskOutcome> {
  return { 'myapp:analyze-env': analyze, 'myapp:lock-env': 'ran', 'myapp:pack-env': pack };
}

async function packEnv(): Promise<Record<string, TaskOutcome>> {
  return (await runTarget(ws, 'myapp:pack-env')).tasks;
}

const tarball = () => join(ws, 'dist/app/env.tar.gz');
const spec = () => join(ws, 'dist/app/env.json');

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
  ws = await makeWorkspace('poncho-nx-e2e-');
  mkdirSync(join(ws, 'app'));
  writeFileSync(
    join(ws, 'app/main.py'),
    [
      'import json',
      'import sys',
      '',
      'import chain_top',
      '',
      'print(json.dumps(chain_top.chain()), sys.argv[1:])',
      '',
    ].join('\n'),
  );
  writeConfig();
}, 900_000);

afterAll(() => {
  if (ws && !process.env.PONCHO_KEEP_E2E) rmSync(ws, { recursive: true, force: true });
});

describe('@poncho/nx-plugin with the real nx CLI', () => {
  it('init registers the plugin, and the project gets the four described targets', async () => {
    const init = await nx('g', '@poncho/nx-plugin:init');
    expect(init.code, init.output).toBe(0);
    expect(JSON.parse(readFileSync(join(ws, 'nx.json'), 'utf8')).plugins).toEqual([
      '@poncho/nx-plugin',
    ]);

    const show = await nx('show', 'project', 'myapp', '--json');
    expect(show.code, show.output).toBe(0);
    const project = JSON.parse(show.output.slice(show.output.indexOf('{')));
    expect(Object.keys(project.targets).sort()).toEqual([
      'analyze-env',
      'lock-env',
      'pack-env',
      'run-env',
    ]);
    expect(project.targets['pack-env'].metadata.technologies).toEqual(['python']);
    // Graph nodes say what kind of project they are (issue 11.11).
    expect(project.projectType).toBe('application');
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

  it('the configuration generator works on a plain folder, and keeps --pythonVersion as typed', async () => {
    // No project.json: poncho.json alone makes the folder a project (issue 11.7). 3.11 and 3.10
    // are not numbers (11.5): Nx's parser would make 3.10 into 3.1.
    mkdirSync(join(ws, 'tools/plain'), { recursive: true });
    writeFileSync(join(ws, 'tools/plain/main.py'), 'print("plain")\n');
    const gen = await nx(
      'g',
      '@poncho/nx-plugin:configuration',
      'tools/plain',
      '--pythonVersion=3.10',
    );
    expect(gen.code, gen.output).toBe(0);
    expect(JSON.parse(readFileSync(join(ws, 'tools/plain/poncho.json'), 'utf8'))).toEqual({
      $schema: '../../node_modules/@poncho/nx-plugin/poncho.schema.json',
      pythonVersion: '3.10',
      command: ['python', 'main.py'],
    });
    const show = await nx('show', 'project', 'plain', '--json');
    expect(show.code, show.output).toBe(0);
    expect(show.output).toContain('"lock-env"');

    // The executor too: --pythonVersion=3.10 reaches the analyzer as "3.10".
    const { output } = await runTarget(ws, 'plain:analyze-env', ['--pythonVersion=3.10']);
    expect(output).toContain('for Python 3.10');
    expect(JSON.parse(readFileSync(join(ws, 'dist/tools/plain/env.json'), 'utf8'))).toMatchObject({
      conda: { dependencies: expect.arrayContaining(['python=3.10']) },
    });
    const missing = await nx('g', '@poncho/nx-plugin:configuration', 'no/such/folder');
    expect(missing.code).not.toBe(0);
    expect(missing.output).toContain('no project and no folder named no/such/folder');
    rmSync(join(ws, 'tools'), { recursive: true });
  });

  let firstSha = '';

  it('packs the environment; the second run is a cache hit with the identical tarball', async () => {
    expect(await packEnv()).toEqual(chain('ran', 'ran'));
    // lock-env wrote the lock beside poncho.json; the tarball holds exactly its packages.
    const lock = JSON.parse(readFileSync(join(ws, 'app/poncho.lock.json'), 'utf8'));
    expect(lock.packages.map((p: { name: string }) => p.name)).toContain('chain-top');
    expect(JSON.parse(readFileSync(spec(), 'utf8')).conda.dependencies).toContainEqual(
      expect.stringMatching(/^chain-top/),
    );
    firstSha = sha256(tarball());

    expect(await packEnv()).toEqual(chain('cache', 'cache'));
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
    const ran = chain('ran', 'ran');
    expect(await packEnv()).toEqual(ran);
    // Relative to the workspace root: `poncho_package_create dist/app/env.json` works from
    // there (issue 11.11), and the spec is the same in every checkout.
    expect(JSON.parse(readFileSync(spec(), 'utf8')).conda.channels).toEqual(['./channel']);
    // ... and the creator, run from the workspace root, finds that channel (it solves the spec).
    const solved = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const { lockSpec } = await import('@poncho/creator'); const { lock } = await lockSpec('dist/app/env.json'); console.log(lock.channels.join(' '))",
      ],
      { cwd: ws, env: nxEnv(ws) },
    );
    expect(solved.stdout.trim()).toBe(pathToFileURL(join(ws, 'channel')).href);
    // The committed lock names the folder channel relative to itself, not by absolute path.
    const lockText = readFileSync(join(ws, 'app/poncho.lock.json'), 'utf8');
    expect(lockText).toContain('"../channel/noarch/');
    expect(lockText).not.toContain(first);
    const firstHashes = hashes(first).filter((hash) => !before.has(hash));
    expect(firstHashes).toHaveLength(2);

    ws = mkdtempSync(join(tmpdir(), 'poncho-nx-e2e-other-checkout-'));
    try {
      for (const file of ['package.json', 'nx.json', '.gitignore'])
        cpSync(join(first, file), join(ws, file));
      linkNodeModules(ws);
      cpSync(join(first, 'app'), join(ws, 'app'), { recursive: true });
      relativeChannel(ws);
      await run('git', ['init', '-q'], { cwd: ws });
      expect(await packEnv()).toEqual(ran);
      expect(hashes(ws).sort()).toEqual(firstHashes.sort());
    } finally {
      rmSync(ws, { recursive: true, force: true });
      ws = first;
      writeConfig();
    }
    // Back to the absolute channel: the lock follows (the channels changed, so it solves).
    const { output } = await runTarget(ws, 'myapp:lock-env');
    expect(output).toContain('the channels changed');
  });

  it('a comment-only edit re-runs analyze-env, keeps the lock, and pack-env is a cache hit', async () => {
    const main = join(ws, 'app/main.py');
    const lockBefore = readFileSync(join(ws, 'app/poncho.lock.json'), 'utf8');
    writeFileSync(main, `# a comment that changes no import\n${readFileSync(main, 'utf8')}`);
    const { tasks, output } = await runTarget(ws, 'myapp:pack-env');
    expect(tasks).toEqual(chain('ran', 'cache'));
    expect(output).toContain('is up to date');
    expect(readFileSync(join(ws, 'app/poncho.lock.json'), 'utf8')).toBe(lockBefore);
    expect(sha256(tarball())).toBe(firstSha);
  });

  it('after deleting dist/, the tarball comes back from the cache', async () => {
    rmSync(join(ws, 'dist'), { recursive: true });
    expect(await packEnv()).toEqual(chain('cache', 'cache'));
    expect(sha256(tarball())).toBe(firstSha);
  });

  it('runs the default command with the words after --, and a --command, in the packed environment', async () => {
    // Words after -- reach the program as typed (issue 11.6): 3.10 is not made into 3.1.
    const byDefault = await nx(
      'run',
      'myapp:run-env',
      '--output-style=static',
      '--',
      'foo',
      '3.10',
    );
    expect(byDefault.code, byDefault.output).toBe(0);
    expect(byDefault.output).toContain(
      `["chain-top 1.0.0", "chain-mid 1.5.0", "chain-base 2.1.0"] ['foo', '3.10']`,
    );

    // A mistyped option fails instead of being ignored.
    const mistyped = await nx('run', 'myapp:run-env', '--output-style=static', '--comand=ls');
    expect(mistyped.code).not.toBe(0);
    expect(mistyped.output).toContain("'comand' is not found in schema");

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
    const { tasks, output } = await runTarget(ws, 'myapp:pack-env');
    expect(tasks).toEqual(chain('ran', 'ran'));
    expect(output).toContain('no longer satisfies the spec');
    expect(JSON.parse(readFileSync(spec(), 'utf8')).conda.dependencies).toContainEqual(
      expect.stringMatching(/^hello-cli/),
    );
    expect(sha256(tarball())).not.toBe(firstSha);
  });

  it('a new "command" in poncho.json does not rebuild the tarball (only run-env uses it)', async () => {
    const before = sha256(tarball());
    writeConfig({ command: ['python', '-c', 'print("other")'] });
    expect(await packEnv()).toEqual(chain('ran', 'cache'));
    expect(sha256(tarball())).toBe(before);
    writeConfig();
  });

  it('a new creator version rebuilds the tarball, and only that', async () => {
    const manifest = join(ws, 'node_modules/@poncho/creator/package.json');
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    pkg.version = `${pkg.version}-nx-e2e.1`;
    writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
    expect(await packEnv()).toEqual(chain('cache', 'ran'));
  });

  it('a broken poncho.json fails the task with a reason', async () => {
    writeFileSync(join(ws, 'app/poncho.json'), '{ "name": "myapp", "channels": "not-a-list" }\n');
    const { output, code } = await nx('run', 'myapp:analyze-env', '--output-style=static');
    expect(code).not.toBe(0);
    expect(output).toContain('poncho.json: field channels');
  });
});
