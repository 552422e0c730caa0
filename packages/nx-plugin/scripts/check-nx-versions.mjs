#!/usr/bin/env node
/**
 * Checks the built plugin against other Nx majors (it is developed on the repository's pinned
 * Nx). For each version: a temporary workspace with nx and @nx/devkit of that version installed
 * from the npm registry, a copy of this package (so that it loads that @nx/devkit), a project
 * with a poncho.json naming the local test channel; then `nx show project`, `nx run
 * app:pack-env` twice (the second must be a cache hit) and `nx run app:run-env`.
 *
 *   npm run build && node packages/nx-plugin/scripts/check-nx-versions.mjs [21.6.4 22.6.1 24.0.0]
 *
 * Needs the npm registry (not part of `npm test`). Exit status: 0 when every version passed.
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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

async function check(version, channel) {
  const ws = mkdtempSync(join(tmpdir(), `poncho-nx-${version}-`));
  try {
    writeFileSync(join(ws, 'package.json'), '{ "name": "nx-compat", "private": true }\n');
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        `nx@${version}`,
        `@nx/devkit@${version}`,
      ],
      {
        cwd: ws,
      },
    );
    const modules = join(ws, 'node_modules');
    const copy = join(modules, '@poncho/nx-plugin');
    mkdirSync(copy, { recursive: true });
    for (const entry of [
      'package.json',
      'executors.json',
      'generators.json',
      'poncho.schema.json',
      'dist',
      'src',
    ]) {
      cpSync(join(pluginDir, entry), join(copy, entry), { recursive: true });
    }
    for (const name of ['core', 'analyzer', 'creator', 'runner']) {
      symlinkSync(join(repoRoot, 'packages', name), join(modules, '@poncho', name));
    }
    symlinkSync(join(repoRoot, 'node_modules/zod'), join(modules, 'zod'));
    writeFileSync(join(ws, 'nx.json'), '{ "plugins": ["@poncho/nx-plugin"] }\n');
    writeFileSync(join(ws, '.gitignore'), 'node_modules\ndist\n.nx\n');
    mkdirSync(join(ws, 'app'));
    writeFileSync(join(ws, 'app/main.py'), 'import chain_top\nprint(chain_top.chain())\n');
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
    const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
    const nx = async (...args) =>
      (await run(process.execPath, [bin, ...args], { cwd: ws, env })).stdout;

    const project = JSON.parse(await nx('show', 'project', 'app', '--json'));
    const targets = Object.keys(project.targets).sort().join(',');
    if (targets !== 'analyze-env,pack-env,run-env')
      throw new Error(`unexpected targets: ${targets}`);
    await nx('run', 'app:pack-env', '--output-style=static');
    const second = await nx('run', 'app:pack-env', '--output-style=static');
    if (!/app:pack-env\s+\[(local cache|existing outputs match the cache)/.test(second)) {
      throw new Error(`the second pack-env was not a cache hit:\n${second}`);
    }
    const ran = await nx('run', 'app:run-env', '--output-style=static');
    if (!ran.includes('chain-top 1.0.0'))
      throw new Error(`run-env did not run the program:\n${ran}`);
    return 'ok';
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

const channel = await testChannel();
let failed = 0;
for (const version of versions) {
  try {
    process.stdout.write(`nx ${version}: ${await check(version, channel)}\n`);
  } catch (error) {
    failed += 1;
    process.stdout.write(`nx ${version}: FAILED\n${error.stderr ?? ''}${error.message}\n`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
