#!/usr/bin/env node
/**
 * Interleaved A/B of cold runs against bare `tar -xzf`: each round runs every runner given (a
 * new --unpack-to folder each, command `true`), `tar -xzf` into a new folder, and one
 * extraction that is then deleted (as the temporary-folder runs of run.mjs do: ext4 then skips
 * the recently deleted inodes when it allocates new ones, which slows whoever creates files
 * next), in an order that rotates every round. Prints medians of wall time (and as a ratio to
 * tar's) and of CPU time (user + system, children included), and the load average.
 *
 *   node bench/run/ab-cold.mjs [--rounds N (default 9)] [--tarball FILE] NAME=BIN [NAME=BIN...]
 *
 * BIN: a runner's launcher, e.g. packages/runner/bin/launch.sh of this tree and of a copy of
 * packages/runner made before a change. Default tarball: run.mjs's.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const { values, positionals } = parseArgs({
  options: { rounds: { type: 'string', default: '9' }, tarball: { type: 'string' } },
  allowPositionals: true,
});
if (positionals.length === 0) throw new Error('usage: ab-cold.mjs [--rounds N] NAME=BIN...');
const tarball =
  values.tarball ??
  execFileSync(process.execPath, ['--import', 'tsx', join(here, 'make-tarball.ts'), 'manifest'], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();

const out = mkdtempSync(join(tmpdir(), 'poncho-bench-ab-cold-'));
let counter = 0;
const fresh = (label) => join(out, `${label}-${++counter}`);
const wall = {};
const cpu = {};

/** Runs `command` under time(1); records its wall and CPU time under `name`. */
function timed(name, command, args) {
  const start = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', command, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${name} failed (${result.status}): ${result.stderr}`);
  const match = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(String(result.stderr));
  wall[name] ??= [];
  cpu[name] ??= [];
  wall[name].push(ms);
  cpu[name].push(match ? (Number(match[1]) + Number(match[2])) * 1000 : Number.NaN);
}

const jobs = positionals.map((spec) => {
  const [name, bin] = spec.split('=');
  return () => timed(name, resolve(bin), ['-e', tarball, '-d', fresh(name), 'true']);
});
jobs.push(() => {
  const dir = fresh('tar');
  mkdirSync(dir);
  timed('tar -xzf', 'tar', ['-xzf', tarball, '-C', dir]);
});
jobs.push(() => {
  const dir = fresh('deleted');
  mkdirSync(dir);
  execFileSync('tar', ['-xzf', tarball, '-C', dir]);
  rmSync(dir, { recursive: true });
});

console.log(`tarball: ${tarball}, ${values.rounds} rounds`);
console.log(`load average before: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
for (let round = 0; round < Number(values.rounds); round++) {
  for (let j = 0; j < jobs.length; j++) jobs[(round + j) % jobs.length]();
}
console.log(`load average after: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
rmSync(out, { recursive: true, force: true });

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const tar = median(wall['tar -xzf']);
for (const name of Object.keys(wall)) {
  const ms = median(wall[name]);
  console.log(
    `${name.padEnd(10)} wall ${ms.toFixed(1)} ms (${(ms / tar).toFixed(2)}x tar), CPU ${median(cpu[name]).toFixed(0)} ms; all: ${wall[name].map((x) => x.toFixed(0)).join(' ')}`,
  );
}
