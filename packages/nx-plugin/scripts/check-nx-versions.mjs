#!/usr/bin/env node
/**
 * Checks the built plugin against other Nx majors (it is developed on the repository's pinned
 * Nx), installed the way a user installs it: for each version, a temporary workspace where npm
 * installs `nx@<version>` and the `npm pack` tarballs of the five @poncho packages (no
 * @nx/devkit: the plugin must install and run without one matching the Nx major), a project
 * with a poncho.json naming the local test channel; then, with the CI snippet's
 * NX_CACHE_DIRECTORY=.nx/cache: `nx show project` (four targets), `nx run app:pack-env` (the
 * lock file is written), again (a cache hit), again after deleting dist/ (the tarball comes
 * back from .nx/cache, the folder the README's CI snippet caches), `nx run app:run-env -- a
 * 3.10` (arguments passed as typed).
 *
 *   npm run build && node packages/nx-plugin/scripts/check-nx-versions.mjs [21.6.4 22.6.1 24.0.0]
 *
 * Needs the npm registry (not part of `npm test`). Exit status: 0 when every version passed.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const pluginDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = join(pluginDir, '..', '..');
const versions =
  process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['21.6.4', '22.6.1', '24.0.0'];

async function testChannel() {
  const { stdout } = await run('npx', ['tsx', join(repoRoot, 'test/channel/cli.ts')], {
    cwd: repoRoot,
  });
  return stdout.trim().split('\n').pop();
}

/** `npm pack` of the five packages, once: what users install. */
async function packTarballs() {
  const dir = mkdtempSync(join(tmpdir(), 'poncho-nx-tarballs-'));
  const tarballs = [];
  for (const name of ['core', 'analyzer', 'creator', 'runner', 'nx-plugin']) {
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', dir], {
      cwd: join(repoRoot, 'packages', name),
    });
    tarballs.push(join(dir, stdout.trim().split('\n').pop()));
  }
  return { dir, tarballs };
}

async function check(version, channel, tarballs) {
  const ws = mkdtempSync(join(tmpdir(), `poncho-nx-${version}-`));
  try {
    writeFileSync(join(ws, 'package.json'), '{ "name": "nx-compat", "private": true }\n');
    await run('npm', ['install', '--no-audit', '--no-fund', `nx@${version}`, ...tarballs], {
      cwd: ws,
    });
    const modules = join(ws, 'node_modules');
    writeFileSync(join(ws, 'nx.json'), '{ "plugins": ["@poncho/nx-plugin"] }\n');
    writeFileSync(join(ws, '.gitignore'), 'node_modules\ndist\n.nx\n');
    mkdirSync(join(ws, 'app'));
    writeFileSync(
      join(ws, 'app/main.py'),
      'import sys\nimport chain_top\nprint(chain_top.chain(), sys.argv[1:])\n',
    );
    writeFileSync(
      join(ws, 'app/poncho.json'),
      JSON.stringify({
        name: 'app',
        channels: [channel],
        pkgMapping: { chain_top: 'chain-top' },
        pythonVersion: '3.11',
        command: ['python', 'main.py'],
      }),
    );
    await run('git', ['init', '-q'], { cwd: ws });
    const bin = ['nx/bin/nx.js', 'nx/dist/bin/nx.js']
      .map((p) => join(modules, p))
      .find((p) => existsSync(p));
    const env = {
      ...process.env,
      NX_DAEMON: 'false',
      NX_NO_CLOUD: 'true',
      NX_TUI: 'false',
      // As the README's CI snippet sets it.
      NX_CACHE_DIRECTORY: '.nx/cache',
      CI: '',
    };
    const nx = async (...args) =>
      (await run(process.execPath, [bin, ...args], { cwd: ws, env })).stdout;

    const project = JSON.parse(await nx('show', 'project', 'app', '--json'));
    const targets = Object.keys(project.targets).sort().join(',');
    if (targets !== 'analyze-env,lock-env,pack-env,run-env')
      throw new Error(`unexpected targets: ${targets}`);
    await nx('run', 'app:pack-env', '--output-style=static');
    if (!existsSync(join(ws, 'app/poncho.lock.json'))) throw new Error('no lock file written');
    const hit = /app:pack-env\s+\[(local cache|existing outputs match the cache)/;
    const second = await nx('run', 'app:pack-env', '--output-style=static');
    if (!hit.test(second)) throw new Error(`the second pack-env was not a cache hit:\n${second}`);
    if (readdirSync(join(ws, '.nx/cache')).length === 0)
      throw new Error('nothing in .nx/cache, the folder the CI snippet caches');
    rmSync(join(ws, 'dist'), { recursive: true });
    const restored = await nx('run', 'app:pack-env', '--output-style=static');
    if (
      !/app:pack-env\s+\[local cache\]/.test(restored) ||
      !existsSync(join(ws, 'dist/app/env.tar.gz'))
    )
      throw new Error(`the tarball did not come back from .nx/cache:\n${restored}`);
    const ran = await nx('run', 'app:run-env', '--output-style=static', '--', 'a', '3.10');
    if (!ran.includes('chain-top 1.0.0') || !ran.includes("['a', '3.10']"))
      throw new Error(`run-env did not run the program with its arguments:\n${ran}`);
    return 'ok';
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

const channel = await testChannel();
const packed = await packTarballs();
let failed = 0;
for (const version of versions) {
  try {
    process.stdout.write(`nx ${version}: ${await check(version, channel, packed.tarballs)}\n`);
  } catch (error) {
    failed += 1;
    process.stdout.write(`nx ${version}: FAILED\n${error.stderr ?? ''}${error.message}\n`);
  }
}
rmSync(packed.dir, { recursive: true, force: true });
process.exitCode = failed === 0 ? 0 : 1;
