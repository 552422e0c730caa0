#!/usr/bin/env node
/**
 * Benchmark of @poncho/nx-plugin's caching, with the real nx CLI on a copy of examples/myapp in
 * a temporary workspace (local test channel, no network):
 *
 *   baseline      analyze + createTarball called directly (no Nx): what every CI run costs
 *                 without a cache
 *   first         `nx run myapp:pack-env` with an empty Nx cache
 *   cache hit     the same command again (outputs in place)
 *   restore       after deleting dist/: the tarball comes back from the Nx cache
 *   comment edit  after a comment-only edit: analyze-env runs, lock-env keeps the lock,
 *                 pack-env is a cache hit
 *   lock-env      `nx run myapp:lock-env` with a lock that satisfies the spec (no solve), and
 *                 with --update (a solve on a warm repodata cache); and the same two steps as
 *                 the executor does them, in process, without Nx's start-up: the lock check
 *                 (read + lockSatisfiesSpec) and lockSpec (solve), and lockSpec of the same
 *                 spec with a pip section (one local wheel): solve, install, pip
 *
 * The creator's package cache is warmed once before timing, so the numbers compare the Nx
 * cache with rebuilding, not with downloading. Usage (after `npm run build`):
 *
 *   node bench/nx/run.mjs [--runs N] [--json]
 */
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const example = join(repoRoot, 'examples/myapp');
const outRoot = join(repoRoot, 'bench/.out/nx');

const { values: args } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } },
});
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`--runs must be a positive integer, got ${args.runs}\n`);
  process.exit(2);
}

const log = (message) => {
  if (!args.json) process.stderr.write(`${message}\n`);
};

// The caches of the creator (packages, repodata) and analyzer, kept between benchmark runs.
process.env.XDG_CACHE_HOME = join(outRoot, 'xdg');

async function testChannel() {
  const { stdout } = await run('npx', ['tsx', join(repoRoot, 'test/channel/cli.ts')], {
    cwd: repoRoot,
  });
  return stdout.trim().split('\n').pop();
}

/** A workspace with the example's Python files, its poncho.json pointing at `channel`. */
async function makeWorkspace(channel) {
  mkdirSync(outRoot, { recursive: true });
  const ws = mkdtempSync(join(tmpdir(), 'poncho-bench-nx-'));
  writeFileSync(join(ws, 'package.json'), '{ "name": "bench-nx", "private": true }\n');
  writeFileSync(join(ws, 'nx.json'), '{ "plugins": ["@poncho/nx-plugin"] }\n');
  writeFileSync(join(ws, '.gitignore'), 'node_modules\ndist\n.nx\n');
  symlinkSync(join(repoRoot, 'node_modules'), join(ws, 'node_modules'));
  mkdirSync(join(ws, 'myapp'));
  for (const file of ['main.py', 'myapp_report.py'])
    cpSync(join(example, file), join(ws, 'myapp', file));
  const config = JSON.parse(readFileSync(join(example, 'poncho.json'), 'utf8'));
  config.name = 'myapp';
  config.channels = [channel];
  writeFileSync(join(ws, 'myapp/poncho.json'), `${JSON.stringify(config, null, 2)}\n`);
  await run('git', ['init', '-q'], { cwd: ws });
  return ws;
}

async function time(fn) {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function nxPackEnv(ws) {
  return nxRun(ws, 'myapp:pack-env');
}

async function nxRun(ws, target, ...extra) {
  const { stdout } = await run(
    process.execPath,
    [join(ws, 'node_modules/nx/dist/bin/nx.js'), 'run', target, '--output-style=static', ...extra],
    {
      cwd: ws,
      env: {
        ...process.env,
        NX_DAEMON: 'false',
        NX_NO_CLOUD: 'true',
        NX_TUI: 'false',
        NX_CACHE_DIRECTORY: join(ws, '.nx/cache'),
        CI: '',
      },
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout;
}

/** What a CI run without a cache does: the same library calls as the executors, in process. */
async function baseline(ws, channel) {
  const { analyze } = await import('@poncho/analyzer');
  const { createTarball } = await import('@poncho/creator');
  const { serializeSpec } = await import('@poncho/core/spec');
  const config = JSON.parse(readFileSync(join(ws, 'myapp/poncho.json'), 'utf8'));
  const out = join(ws, 'baseline/env.tar.gz');
  mkdirSync(dirname(out), { recursive: true });
  const { spec } = await analyze(
    config.entry.map((f) => join(ws, 'myapp', f)),
    {
      pkgMapping: Object.entries(config.pkgMapping).map(([k, v]) => `${k}=${v}`),
      channels: [channel],
      pythonVersion: config.pythonVersion,
      prefix: null,
    },
  );
  const specPath = join(ws, 'baseline/env.json');
  writeFileSync(specPath, serializeSpec(spec));
  await createTarball(specPath, out, { channels: [channel], noCache: true });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const channel = await testChannel();
log(`test channel: ${channel}`);
const wheels = await pipWheels();
const timings = {
  baseline: [],
  first: [],
  cacheHit: [],
  restore: [],
  commentEdit: [],
  lockKeep: [],
  lockUpdate: [],
  lockCheckInProcess: [],
  lockSolveInProcess: [],
  lockPipInProcess: [],
};

/** A folder with one wheel for the pip row, written by the tests' helper (no PyPI here). */
async function pipWheels() {
  const dir = join(outRoot, 'wheels');
  mkdirSync(dir, { recursive: true });
  const helper = JSON.stringify(join(repoRoot, 'test/support/wheels.ts'));
  await run(
    'npx',
    [
      'tsx',
      '--eval',
      `import(${helper}).then((m) => m.writeWheel(${JSON.stringify(dir)}, 'greet', '1.0', 'X = 1\\n'))`,
    ],
    { cwd: repoRoot },
  );
  return dir;
}

/**
 * The lock-env executor's paths, in process (no Nx start-up): check, solve, and solve with a
 * pip section (which installs the environment to let its pip resolve).
 */
async function lockInProcess(ws, wheels) {
  const { lockSatisfiesSpec, lockSpec, readSpecSource } = await import('@poncho/creator');
  const specPath = join(ws, 'dist/myapp/env.json');
  const lockPath = join(ws, 'myapp/poncho.lock.json');
  const check = await time(async () => {
    const spec = await readSpecSource(specPath);
    const lock = await readSpecSource(lockPath);
    const result = lockSatisfiesSpec(lock.lock, spec.spec, {
      channels: [channel],
      recordedSpec: lock.spec,
    });
    if (!result.satisfied) throw new Error(`the lock should satisfy the spec: ${result.reason}`);
  });
  const solve = await time(async () => {
    await lockSpec(specPath, { channels: [channel] });
  });
  const pipSpec = JSON.parse(readFileSync(specPath, 'utf8'));
  const deps = pipSpec.conda.dependencies;
  if (!deps.includes('pip')) deps.push('pip');
  deps.push({ pip: ['greet'] });
  const pipSpecPath = join(ws, 'dist/myapp/env-pip.json');
  writeFileSync(pipSpecPath, JSON.stringify(pipSpec));
  const pipSolve = await time(async () => {
    const { lock } = await lockSpec(pipSpecPath, {
      channels: [channel],
      findLinks: [wheels],
      noPipIndex: true,
    });
    if (!lock.pip[0]?.startsWith('greet==1.0 --hash=sha256:')) throw new Error('greet not pinned');
  });
  return { check, solve, pipSolve };
}
let tarballSize = 0;

{
  log('warming the creator caches (not timed)...');
  const ws = await makeWorkspace(channel);
  await baseline(ws, channel);
  rmSync(ws, { recursive: true, force: true });
}

for (let i = 1; i <= runs; i += 1) {
  const ws = await makeWorkspace(channel);
  try {
    timings.baseline.push(await time(() => baseline(ws, channel)));
    timings.first.push(await time(() => nxPackEnv(ws)));
    const tarball = join(ws, 'dist/myapp/env.tar.gz');
    tarballSize = statSync(tarball).size;
    timings.cacheHit.push(await time(() => nxPackEnv(ws)));
    rmSync(join(ws, 'dist'), { recursive: true });
    timings.restore.push(await time(() => nxPackEnv(ws)));
    statSync(tarball);
    const main = join(ws, 'myapp/main.py');
    writeFileSync(main, `# edit ${i}\n${readFileSync(main, 'utf8')}`);
    let output = '';
    timings.commentEdit.push(
      await time(async () => {
        output = await nxPackEnv(ws);
      }),
    );
    if (!/myapp:pack-env.*(local cache|existing outputs match the cache)/.test(output)) {
      throw new Error(`expected pack-env to be a cache hit after a comment-only edit:\n${output}`);
    }
    timings.lockKeep.push(
      await time(async () => {
        output = await nxRun(ws, 'myapp:lock-env');
      }),
    );
    if (!output.includes('is up to date')) throw new Error(`expected no solve:\n${output}`);
    timings.lockUpdate.push(await time(() => nxRun(ws, 'myapp:lock-env', '--update')));
    const inProcess = await lockInProcess(ws, wheels);
    timings.lockCheckInProcess.push(inProcess.check);
    timings.lockSolveInProcess.push(inProcess.solve);
    timings.lockPipInProcess.push(inProcess.pipSolve);
    log(
      `run ${i}/${runs}: first ${timings.first.at(-1).toFixed(0)} ms, hit ${timings.cacheHit.at(-1).toFixed(0)} ms`,
    );
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

const base = median(timings.baseline);
const rows = [
  ['baseline: analyze + createTarball, no Nx', base],
  ['nx pack-env, empty Nx cache', median(timings.first)],
  ['nx pack-env, cache hit', median(timings.cacheHit)],
  ['nx pack-env, restore after rm -rf dist', median(timings.restore)],
  ['nx pack-env, after a comment-only edit', median(timings.commentEdit)],
  ['nx lock-env, lock kept (no solve)', median(timings.lockKeep)],
  ['nx lock-env --update (solve, warm repodata)', median(timings.lockUpdate)],
  ['lock check in process (read + satisfies)', median(timings.lockCheckInProcess)],
  ['lockSpec in process (solve, warm repodata)', median(timings.lockSolveInProcess)],
  ['lockSpec in process, pip (+ install, pip)', median(timings.lockPipInProcess)],
];
const result = {
  runs,
  tarballBytes: tarballSize,
  medianMs: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(median(v))])),
};
if (args.json) {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} else {
  process.stdout.write(
    `@poncho/nx-plugin, examples/myapp, median of ${runs} run(s); tarball ${(tarballSize / 1048576).toFixed(1)} MiB\n`,
  );
  for (const [label, ms] of rows) {
    process.stdout.write(
      `  ${label.padEnd(46)} ${ms.toFixed(0).padStart(7)} ms  ${(ms / base).toFixed(2)}x baseline\n`,
    );
  }
}
