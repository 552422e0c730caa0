#!/usr/bin/env node
/**
 * Packing throughput: our packer (deterministic tar + parallel gzip) against GNU tar + gzip
 * (`tar -cf - | gzip`) and GNU tar + pigz, at the same compression level, in the same run, on
 * the same prefix. Prints MB/s (uncompressed tar bytes per second) and the ratios.
 *
 *   npm run build && node bench/pack/run.mjs [--prefix DIR] [--level 6] [--threads N] [--runs 3]
 *
 * Without --prefix it builds one under bench/.out/pack/: a copy of Debian's /usr/lib/python3.11
 * laid out as a conda environment (a conda-meta record listing every file), about 50 MB.
 * Goals: at least 1.5x GNU tar + gzip, and within 1.2x of pigz.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { packPrefix } from '../../packages/creator/dist/pack/packer.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    prefix: { type: 'string' },
    level: { type: 'string', default: '6' },
    threads: { type: 'string', default: String(availableParallelism()) },
    runs: { type: 'string', default: '3' },
  },
});
const level = Number(values.level);
const threads = Number(values.threads);
const runs = Number(values.runs);
const out = join(here, '..', '.out', 'pack');
await mkdir(out, { recursive: true });

async function listFiles(root) {
  const files = [];
  const walk = async (dir) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, entry.name);
      if (entry.isDirectory()) await walk(abs);
      else files.push(relative(root, abs));
    }
  };
  await walk(root);
  return files;
}

let prefix = values.prefix;
if (!prefix) {
  prefix = join(out, 'prefix');
  if (!existsSync(join(prefix, 'conda-meta'))) {
    await rm(prefix, { recursive: true, force: true });
    await cp('/usr/lib/python3.11', join(prefix, 'lib/python3.11'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    const files = await listFiles(prefix);
    await mkdir(join(prefix, 'conda-meta'));
    await writeFile(
      join(prefix, 'conda-meta/python-3.11-bench_0.json'),
      JSON.stringify({
        name: 'python',
        version: '3.11',
        build: 'bench_0',
        files,
        paths_data: { paths_version: 1, paths: [] },
      }),
    );
  }
}

const tarBytes = Number(
  execFileSync('sh', ['-c', 'tar -cf - -C "$1" . | wc -c', 'sh', prefix]).toString().trim(),
);
const mb = tarBytes / 1e6;

/** Wall seconds and CPU seconds (user + system, every thread and child) of one run. */
async function time(fn) {
  const start = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const childCpu = await fn();
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const own = process.cpuUsage(cpuBefore);
  return { wall, cpu: childCpu ?? (own.user + own.system) / 1e6 };
}

/**
 * A shell pipeline, run under GNU time (Debian package `time`) so that its CPU seconds
 * (children included) are known; without it, only wall time is measured.
 */
const haveTime = existsSync('/usr/bin/time');
const shell = (command) => () => {
  const script = ['sh', '-c', command, 'sh', prefix, out, String(level), String(threads)];
  const result = haveTime
    ? spawnSync('/usr/bin/time', ['-f', '%U %S', ...script], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawnSync(script[0], script.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`${command} failed: ${result.stderr}`);
  if (!haveTime) return Number.NaN;
  const [user, system] = result.stderr.toString().trim().split('\n').pop().split(' ').map(Number);
  return user + system;
};
const contenders = [
  [
    'poncho packer',
    async () => {
      await packPrefix({
        prefix,
        output: join(out, 'ours.tar.gz'),
        platform: 'linux-64',
        compressLevel: level,
        threads,
      });
    },
  ],
  ['GNU tar + gzip', shell('tar -cf - -C "$1" . | gzip -"$3" > "$2/gnu.tar.gz"')],
  ['GNU tar + pigz', shell('tar -cf - -C "$1" . | pigz -"$3" -p "$4" > "$2/pigz.tar.gz"')],
];

const loadBefore = loadavg()[0];
// Warm the page cache so every contender reads from memory.
execFileSync('sh', ['-c', 'tar -cf - -C "$1" . > /dev/null', 'sh', prefix]);
const seconds = new Map(contenders.map(([name]) => [name, []]));
for (let run = 0; run < runs; run++) {
  for (const [name, fn] of contenders) seconds.get(name).push(await time(fn));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(
  `prefix: ${prefix} (${mb.toFixed(1)} MB as tar), level ${level}, ${threads} threads, median of ${runs} runs`,
);
console.log(
  `load average before: ${loadBefore.toFixed(2)}, after: ${loadavg()[0].toFixed(2)}, ${availableParallelism()} cores (wall times mean something only on an idle machine; CPU seconds less affected)`,
);
const rows = [];
for (const [name] of contenders) {
  const s = median(seconds.get(name).map((t) => t.wall));
  const cpu = median(seconds.get(name).map((t) => t.cpu));
  const file = { 'poncho packer': 'ours', 'GNU tar + gzip': 'gnu', 'GNU tar + pigz': 'pigz' }[name];
  const size = (await stat(join(out, `${file}.tar.gz`))).size;
  rows.push({ name, s, cpu, size });
  console.log(
    `${name.padEnd(16)} ${s.toFixed(2).padStart(6)} s wall ${(mb / s).toFixed(1).padStart(6)} MB/s ${cpu.toFixed(2).padStart(6)} s CPU  ${(size / 1e6).toFixed(2)} MB`,
  );
}
const [ours, gnu, pigz] = rows;
console.log(`speed-up over GNU tar + gzip: ${(gnu.s / ours.s).toFixed(2)}x wall (goal >= 1.5x)`);
console.log(
  `time relative to pigz:        ${(ours.s / pigz.s).toFixed(2)}x wall (goal <= 1.2x), ${(ours.cpu / pigz.cpu).toFixed(2)}x CPU`,
);
// Independent 1 MiB members restart deflate's dictionary: the price of parallel inflation.
console.log(
  `size relative to gzip:        ${(((ours.size - gnu.size) / gnu.size) * 100).toFixed(2)}% larger (blocked gzip's overhead)`,
);
