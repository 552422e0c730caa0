#!/usr/bin/env node
/**
 * Interleaved A/B of two analyzer builds on Debian's Python 3.11 standard library: cold runs
 * (a fresh scan cache each) and warm runs, alternating old and new so that machine load hits
 * both alike. Prints medians of wall time and CPU time (user + system, all threads).
 *
 *   node bench/analyze/ab.mjs OLD_BIN [RUNS (default 7)] [TREE]
 *
 * OLD_BIN: bin/poncho_package_analyze.js of a copy of packages/analyzer (its dist built from
 * the old sources, node_modules linked to the workspace's).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [oldBin, runsText = '7', tree = '/usr/lib/python3.11'] = process.argv.slice(2);
if (!oldBin) throw new Error('usage: node bench/analyze/ab.mjs OLD_BIN [RUNS] [TREE]');
const bins = {
  old: resolve(oldBin),
  new: join(here, '../../packages/analyzer/bin/poncho_package_analyze.js'),
};
const runs = Number(runsText);
const out = mkdtempSync(join(tmpdir(), 'poncho-bench-analyze-ab-'));
const args = (bin) => [bin, '-q', '--no-env', '--python-version', '3.11', tree, join(out, 'spec')];

function run(bin, cache) {
  const start = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, ...args(bin)], {
    env: { ...process.env, XDG_CACHE_HOME: cache },
    encoding: 'utf8',
  });
  const wall = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${bin} failed:\n${result.stderr}`);
  const [, user, system] = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(result.stderr) ?? [];
  return [wall, (Number(user) + Number(system)) * 1000];
}

const warmCaches = {};
for (const who of Object.keys(bins)) {
  warmCaches[who] = mkdtempSync(join(out, `warm-${who}-`));
  run(bins[who], warmCaches[who]);
}
const samples = { cold: { old: [], new: [] }, warm: { old: [], new: [] } };
for (let i = 0; i < runs; i++) {
  for (const who of i % 2 ? ['new', 'old'] : ['old', 'new']) {
    const cold = mkdtempSync(join(out, 'cold-'));
    samples.cold[who].push(run(bins[who], cold));
    rmSync(cold, { recursive: true, force: true });
    samples.warm[who].push(run(bins[who], warmCaches[who]));
  }
}
rmSync(out, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${tree}, ${runs} interleaved runs each; old: ${bins.old}`);
for (const kind of ['cold', 'warm']) {
  for (const who of ['old', 'new']) {
    const s = samples[kind][who];
    console.log(
      `${kind} ${who}: wall ${median(s.map((x) => x[0])).toFixed(0)} ms, CPU ${median(s.map((x) => x[1])).toFixed(0)} ms`,
    );
  }
}
