#!/usr/bin/env node
/**
 * Benchmark of poncho_package_run against the reference `python_package_run` (Debian's
 * coop-computing-tools) and bare `tar -xzf`, on the same tarball, in the same run. Whole
 * processes, wall clock, median of several runs; the contenders' runs are interleaved so that
 * machine load hits them alike.
 *
 *   npm run build && node bench/run/run.mjs [--tarball FILE] [--single-member] [--cold-runs N]
 *     [--warm-runs N] [--concurrency N]
 *     [--runner BIN (default packages/runner/bin/launch.sh, what npm installs; a .js runs with node)]
 *
 * Default tarball: the test fixtures' python environment (Debian's CPython 3.11 in conda's
 * layout, with a manifest, bin/conda-unpack and bin/activate, so both runners can use it),
 * framed as poncho_package_create writes it (blocked gzip, which ours inflates in parallel);
 * --single-member: the same tar as one gzip member, as conda-pack writes it (ours inflates it
 * as one stream).
 * - cold: unpack + relocate into a new --unpack-to folder, then run `true`;
 * - warm: the folder is ready; run `true` (overhead = minus running `true` directly);
 * - 16 and 32 concurrent cold runs on one new folder (one unpacks, the others wait): wall clock
 *   and total CPU (every process of every run), against the reference's, and against one cold
 *   run made just before each batch (the median of the paired ratios); and as many concurrent
 *   warm runs, the floor of the cold ones (what N start-ups cost when nobody unpacks).
 * Node 20 parses the whole NODE_EXTRA_CA_CERTS bundle when it starts (tens of ms of CPU per
 * process): when it is set, its cost is measured and printed, and the numbers hold for the
 * environment as it is (`env -u NODE_EXTRA_CA_CERTS node bench/run/run.mjs` for a worker
 * without it).
 * Goals (issue 14): cold <= 1.0x the reference's and <= 1.5x bare tar; warm overhead <= 0.5x
 * the reference's; 16 and 32 concurrent cold: wall <= 0.8x and total CPU <= 1.0x the
 * reference's.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const REFERENCE = '/usr/bin/python_package_run';

const { values } = parseArgs({
  options: {
    tarball: { type: 'string' },
    'single-member': { type: 'boolean', default: false },
    'cold-runs': { type: 'string', default: '5' },
    'warm-runs': { type: 'string', default: '20' },
    // Runs started at once on one cold folder: each count is measured (16 and 32).
    concurrency: { type: 'string', default: '16,32' },
    // Another build of the runner (a copy of packages/runner), to compare before and after.
    runner: { type: 'string' },
  },
});
const ours = resolve(values.runner ?? join(repo, 'packages/runner/bin/launch.sh'));
// The installed binary is the sh launcher; a .js entry point (an older build) runs with node.
const [oursFile, ...oursArgs] = /\.c?js$/.test(ours) ? [process.execPath, ours] : [ours];
const coldRuns = Number(values['cold-runs']);
const warmRuns = Number(values['warm-runs']);
const concurrencies = values.concurrency.split(',').map(Number);
const tarball =
  values.tarball ??
  execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(here, 'make-tarball.ts'),
      'manifest',
      ...(values['single-member'] ? ['--single-member'] : []),
    ],
    { cwd: repo, encoding: 'utf8' },
  ).trim();

const out = mkdtempSync(join(tmpdir(), 'poncho-bench-run-'));
// conda-unpack (run by the reference) starts with `#!/usr/bin/env python3`: give it the real
// interpreter, not a pyenv shim whose bash start-up would slow the reference down.
const realBin = join(out, 'bin');
mkdirSync(realBin);
const realPython = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).trim();
symlinkSync(realPython, join(realBin, 'python3'));
symlinkSync(realPython, join(realBin, 'python'));
const env = { ...process.env, PATH: `${realBin}:${process.env.PATH}` };
delete env.PONCHO_DEBUG;

let counter = 0;
const fresh = (label) => join(out, `${label}-${++counter}`);

/** CPU time (user + system, ms) of the last timed() run, children included, via time(1). */
const cpu = { last: 0 };
const TIME = '/usr/bin/time';
const haveTime = spawnSync(TIME, ['-f', '%U', 'true']).status === 0;

function timed(command, args) {
  const argv = haveTime ? ['-f', 'CPU %U %S', command, ...args] : args;
  const start = process.hrtime.bigint();
  const result = spawnSync(haveTime ? TIME : command, argv, {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  }
  const match = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(String(result.stderr));
  cpu.last = match ? (Number(match[1]) + Number(match[2])) * 1000 : Number.NaN;
  return ms;
}

/**
 * Wall clock of `n` runs started at once, and (in cpu.last) their total CPU time: one sh
 * starts them all and waits for them, under time(1), so every process of every run counts.
 */
function timedConcurrent(n, command, args) {
  const script = `i=0; while [ $i -lt ${n} ]; do { "$@" || echo "failed: $?" >&2; } & i=$((i + 1)); done; wait`;
  const shArgs = ['-c', script, 'sh', command, ...args];
  const argv = haveTime ? ['-f', 'CPU %U %S', 'sh', ...shArgs] : shArgs;
  return new Promise((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(haveTime ? TIME : 'sh', argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (/failed: /.test(stderr)) reject(new Error(`${command} failed: ${stderr}`));
      const match = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
      cpu.last = match ? (Number(match[1]) + Number(match[2])) * 1000 : Number.NaN;
      resolvePromise(ms);
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const contenders = {
  ours: {
    cold: (dir) => timed(oursFile, [...oursArgs, '-e', tarball, '-d', dir, 'true']),
    temp: () => timed(oursFile, [...oursArgs, '-e', tarball, 'true']),
    warm: (dir) => timed(oursFile, [...oursArgs, '-e', tarball, '-d', dir, 'true']),
    concurrent: (dir, n) =>
      timedConcurrent(n, oursFile, [...oursArgs, '-e', tarball, '-d', dir, 'true']),
  },
  reference: {
    cold: (dir) => timed(REFERENCE, ['-e', tarball, '-u', dir, 'true']),
    temp: () => timed(REFERENCE, ['-e', tarball, 'true']),
    warm: (dir) => timed(REFERENCE, ['-e', tarball, '-u', dir, 'true']),
    concurrent: (dir, n) => timedConcurrent(n, REFERENCE, ['-e', tarball, '-u', dir, 'true']),
  },
};

const results = { ours: {}, reference: {}, tar: {}, true: {} };
const cpuResults = { ours: {}, reference: {}, tar: {}, true: {} };
const push = (who, what, ms) => {
  results[who][what] ??= [];
  results[who][what].push(ms);
  cpuResults[who][what] ??= [];
  cpuResults[who][what].push(cpu.last);
};

console.log(`runner: ${ours}\ntarball: ${tarball}`);
console.log(
  `cold runs: ${coldRuns}, warm runs: ${warmRuns}, concurrency: ${concurrencies.join(', ')}`,
);
console.log(`load average before: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}\n`);

// Cold: unpack + relocate into a new folder (and bare tar into a new folder), and the same into
// a temporary folder, removed at the end of the run. The order rotates every round: creating
// files right after another contender deleted a folder of them costs more (ext4 skips recently
// deleted inodes), so a fixed order would favour whoever follows a non-deleting contender.
const coldJobs = [
  ...['ours', 'reference'].map(
    (who) => () => push(who, 'cold', contenders[who].cold(fresh(`${who}-cold`))),
  ),
  () => {
    const dir = fresh('tar');
    mkdirSync(dir);
    push('tar', 'cold', timed('tar', ['-xzf', tarball, '-C', dir]));
  },
  ...['ours', 'reference'].map((who) => () => push(who, 'temp', contenders[who].temp())),
];
for (let i = 0; i < coldRuns; i++) {
  for (let j = 0; j < coldJobs.length; j++) coldJobs[(i + j) % coldJobs.length]();
}

// Warm: the folder is ready.
const warmDirs = { ours: fresh('ours-warm'), reference: fresh('reference-warm') };
for (const who of ['ours', 'reference']) contenders[who].cold(warmDirs[who]);
for (let i = 0; i < warmRuns; i++) {
  for (const who of ['ours', 'reference']) push(who, 'warm', contenders[who].warm(warmDirs[who]));
  push('true', 'warm', timed('true', []));
}

// Concurrent cold runs on one new folder (16, 32), each right after one cold run of the same
// contender, so that their ratio compares measurements taken at the same time (the machine's
// speed drifts between the phases of this benchmark); concurrent warm runs on the ready folder.
const concurrentOverCold = {};
for (const n of concurrencies) {
  concurrentOverCold[n] = { ours: [], reference: [] };
  for (let i = 0; i < Math.max(1, Math.ceil(coldRuns / 2)); i++) {
    for (const who of i % 2 ? ['reference', 'ours'] : ['ours', 'reference']) {
      const one = contenders[who].cold(fresh(`${who}-paired`));
      const many = await contenders[who].concurrent(fresh(`${who}-conc`), n);
      push(who, `concurrent${n}`, many);
      concurrentOverCold[n][who].push(many / one);
      push(who, `concurrentWarm${n}`, await contenders[who].concurrent(warmDirs[who], n));
    }
  }
}

const m = (who, what) => median(results[who][what]);
const cpuOf = (who, what) => median(cpuResults[who][what]);
const f = (ms) => `${ms.toFixed(1)} ms`;
const ratio = (a, b) => `${(a / b).toFixed(2)}x`;
const trueMs = m('true', 'warm');
/** A row comparing ours with the reference on one measurement (`value(who)` in ms). */
const compare = (label, value, { tar = '', goal = '' } = {}) => [
  label,
  f(value('ours')),
  f(value('reference')),
  tar,
  ratio(value('ours'), value('reference')),
  goal,
];
const rows = [
  ['', 'poncho_package_run', 'reference', 'tar -xzf', 'ours / reference', 'goal'],
  compare('cold (--unpack-to, new folder)', (who) => m(who, 'cold'), {
    tar: f(m('tar', 'cold')),
    goal: '<= 1.00x',
  }),
  compare('cold (temporary folder)', (who) => m(who, 'temp')),
  compare('warm (folder ready)', (who) => m(who, 'warm')),
  compare('warm overhead (minus `true`)', (who) => m(who, 'warm') - trueMs, { goal: '<= 0.50x' }),
  ...concurrencies.flatMap((n) => [
    compare(`${n} concurrent cold, one folder`, (who) => m(who, `concurrent${n}`), {
      goal: '<= 0.80x',
    }),
    compare(`${n} concurrent warm, one folder`, (who) => m(who, `concurrentWarm${n}`)),
    [
      `${n} concurrent / one cold (paired)`,
      ratio(median(concurrentOverCold[n].ours), 1),
      ratio(median(concurrentOverCold[n].reference), 1),
      '',
      '',
      '',
    ],
  ]),
  [
    'cold / bare tar',
    ratio(m('ours', 'cold'), m('tar', 'cold')),
    ratio(m('reference', 'cold'), m('tar', 'cold')),
    '',
    '',
    '<= 1.50x (ours)',
  ],
];
/** Prints rows as columns padded to their widest cell. */
function printTable(table) {
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => String(r[c]).length)));
  for (const row of table)
    console.log(row.map((cell, c) => String(cell).padEnd(widths[c])).join('  '));
}
printTable(rows);
if (haveTime) {
  console.log('\nCPU time (user + system, children included; less sensitive to machine load):');
  const cpuRows = [
    ['', 'poncho_package_run', 'reference', 'tar -xzf', 'ours / reference'],
    ...[
      ['cold (--unpack-to, new folder)', 'cold'],
      ['cold (temporary folder)', 'temp'],
      ['warm (folder ready)', 'warm'],
      ...concurrencies.map((n) => [`${n} concurrent cold, one folder (total)`, `concurrent${n}`]),
    ].map(([label, what]) => [
      label,
      f(cpuOf('ours', what)),
      f(cpuOf('reference', what)),
      what === 'cold' ? f(cpuOf('tar', 'cold')) : '',
      ratio(cpuOf('ours', what), cpuOf('reference', what)),
    ]),
  ];
  for (const row of cpuRows.slice(1)) row.push(/concurrent/.test(row[0]) ? '<= 1.00x' : '');
  cpuRows[0].push('goal');
  printTable(cpuRows);
}
const nodeStart = (extraEnv) =>
  median(
    Array.from({ length: 10 }, () => {
      const start = process.hrtime.bigint();
      spawnSync(process.execPath, ['-e', '0'], { env: extraEnv, stdio: 'ignore' });
      return Number(process.hrtime.bigint() - start) / 1e6;
    }),
  );
console.log(`\n(\`true\` alone: ${f(trueMs)}; node -e 0: ${f(nodeStart(env))})`);
if (env.NODE_EXTRA_CA_CERTS) {
  const without = { ...env };
  delete without.NODE_EXTRA_CA_CERTS;
  console.log(
    `NODE_EXTRA_CA_CERTS is set: node -e 0 takes ${f(nodeStart(env))} with it, ${f(nodeStart(without))} without (Node 20 loads the bundle at start-up; every runner process pays it).`,
  );
}

console.log(`load average after: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);

rmSync(out, { recursive: true, force: true });
