#!/usr/bin/env node
/**
 * Interleaved A/B of two runner builds: one cold run and 16 concurrent cold runs on one new
 * --unpack-to folder, alternating old and new so that machine load hits both alike. Prints
 * medians of wall time and the concurrent / one-cold ratio of each.
 *
 *   node bench/run/ab.mjs OLD_BIN [ROUNDS (default 6)] [TARBALL]
 *
 * OLD_BIN: bin/poncho_package_run.cjs (or .js for builds before it) of a copy of packages/runner (its dist built from the old
 * sources, node_modules linked to the workspace's). Default tarball: the one of run.mjs (blocked
 * gzip, as poncho_package_create writes it); for the single-member path, give as TARBALL what
 * `node --import tsx bench/run/make-tarball.ts manifest --single-member` prints.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const [oldBin, roundsText = '6', tarballArg] = process.argv.slice(2);
if (!oldBin) throw new Error('usage: node bench/run/ab.mjs OLD_BIN [ROUNDS] [TARBALL]');
const bins = {
  old: resolve(oldBin),
  new: join(repo, 'packages/runner/bin/poncho_package_run.cjs'),
};
const tarball =
  tarballArg ??
  execFileSync(process.execPath, ['--import', 'tsx', join(here, 'make-tarball.ts'), 'manifest'], {
    cwd: repo,
    encoding: 'utf8',
  }).trim();
const CONCURRENCY = 16;

function one(bin, dir) {
  const start = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [bin, '-e', tarball, '-d', dir, 'true']);
  if (result.status !== 0) throw new Error(`${bin} failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function concurrent(bin, dir) {
  return new Promise((done, fail) => {
    const start = process.hrtime.bigint();
    let left = CONCURRENCY;
    for (let i = 0; i < CONCURRENCY; i++) {
      spawn(process.execPath, [bin, '-e', tarball, '-d', dir, 'true'], { stdio: 'ignore' }).on(
        'close',
        (code) => {
          if (code !== 0) fail(new Error(`${bin} failed (${code})`));
          if (--left === 0) done(Number(process.hrtime.bigint() - start) / 1e6);
        },
      );
    }
  });
}

const out = mkdtempSync(join(tmpdir(), 'poncho-bench-run-ab-'));
const samples = { old: { one: [], concurrent: [] }, new: { one: [], concurrent: [] } };
let n = 0;
for (let i = 0; i < Number(roundsText); i++) {
  for (const who of i % 2 ? ['new', 'old'] : ['old', 'new']) {
    samples[who].one.push(one(bins[who], join(out, String(n++))));
    samples[who].concurrent.push(await concurrent(bins[who], join(out, String(n++))));
  }
}
rmSync(out, { recursive: true, force: true });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`${tarball}, ${roundsText} interleaved rounds; old: ${bins.old}`);
for (const who of ['old', 'new']) {
  const one = median(samples[who].one);
  const many = median(samples[who].concurrent);
  console.log(
    `${who}: one cold ${one.toFixed(0)} ms, ${CONCURRENCY} concurrent cold ${many.toFixed(0)} ms, ratio ${(many / one).toFixed(2)}x`,
  );
}
