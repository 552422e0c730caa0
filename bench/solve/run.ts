/**
 * Benchmark of solving at conda-forge's scale (after `npm run build`):
 *   npx tsx bench/solve/run.ts [--scale 1] [--small 0.05] [--runs 3] [--json]
 *
 * Generates (once, kept in test/.cache/bench-solve/) a channel of ~780k records at scale 1
 * (generate.ts), serves it over HTTP on 127.0.0.1 three ways (CEP-16 shards; monolithic
 * repodata.json.zst; plain repodata.json), and solves `python=3.11 hello-cli chain-top` in a
 * fresh process per run: cold (empty repodata cache) and warm (same repodata, cache revalidated
 * with 304s). The baseline, measured in the same run on the same files: Python's json.load of
 * the linux-64 and noarch repodata.json (and Node's JSON.parse, for reference). Prints medians,
 * peak RSS, shards fetched, ratios against json.load, and the goals of issue 13.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import {
  ensureTestChannel,
  SERVE_MONOLITHIC,
  SERVE_PLAIN_JSON,
  type ServedChannel,
  serveChannel,
} from '../../test/channel/index.js';
import { ensureGenerated, type Generated } from './generate.js';

const run = promisify(execFile);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const ENTRY = join(ROOT, 'packages/creator/dist/index.js');
const SPECS = ['python=3.11', 'hello-cli', 'chain-top'];

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    small: { type: 'string', default: '0.05' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Math.max(1, Number(values.runs));

interface Sample {
  ms: number;
  maxRssMB: number;
  shards?: number;
}

function median(samples: Sample[]): Sample {
  const pick = (key: 'ms' | 'maxRssMB' | 'shards') => {
    const sorted = samples.map((s) => s[key] ?? 0).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? 0;
  };
  return { ms: pick('ms'), maxRssMB: pick('maxRssMB'), shards: pick('shards') };
}

async function child(command: string, args: string[]): Promise<Sample & Record<string, unknown>> {
  const { stdout } = await run(command, args, { maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim().split('\n').pop() as string);
}

const work = await mkdtemp(join(tmpdir(), 'poncho-bench-solve-'));
const log = (line: string) => process.stderr.write(`${line}\n`);

async function solveRun(server: ServedChannel, cacheDir: string): Promise<Sample> {
  const before = server.requests.length;
  const result = await child(process.execPath, [
    join(HERE, 'solve-once.mjs'),
    ENTRY,
    cacheDir,
    server.url,
    ...SPECS,
  ]);
  const shards = server.requests
    .slice(before)
    .filter((r) => r.includes('/shards/') && r.endsWith(' 200')).length;
  return { ms: result.ms, maxRssMB: result.maxRssMB, shards };
}

/** Median of RUNS cold solves (each on an empty cache) and RUNS warm ones (on a primed cache). */
async function measure(
  server: ServedChannel,
  name: string,
): Promise<{ cold: Sample; warm: Sample }> {
  const cold: Sample[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const cacheDir = join(work, `${name}-cold-${i}`);
    cold.push(await solveRun(server, cacheDir));
    log(`  ${name} cold #${i + 1}: ${cold.at(-1)?.ms.toFixed(0)} ms`);
    if (i < RUNS - 1) await rm(cacheDir, { recursive: true, force: true });
  }
  // The last cold run's cache is the warm one.
  const warmDir = join(work, `${name}-cold-${RUNS - 1}`);
  const warm: Sample[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    warm.push(await solveRun(server, warmDir));
    log(`  ${name} warm #${i + 1}: ${warm.at(-1)?.ms.toFixed(0)} ms`);
  }
  await rm(warmDir, { recursive: true, force: true });
  return { cold: median(cold), warm: median(warm) };
}

async function baseline(generated: Generated) {
  const files = ['linux-64', 'noarch'].map((s) => join(generated.dir, s, 'repodata.json'));
  const python: Sample[] = [];
  const node: Sample[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    python.push(await child('python3', [join(HERE, 'json-load.py'), ...files]));
    log(`  python json.load #${i + 1}: ${python.at(-1)?.ms.toFixed(0)} ms`);
    node.push(
      await child(process.execPath, [
        '-e',
        `const fs=require('fs');const t=performance.now();for(const f of ${JSON.stringify(files)})JSON.parse(fs.readFileSync(f,'utf8'));console.log(JSON.stringify({ms:performance.now()-t,maxRssMB:process.resourceUsage().maxRSS/1024}))`,
      ]),
    );
    log(`  node JSON.parse #${i + 1}: ${node.at(-1)?.ms.toFixed(0)} ms`);
  }
  return { python: median(python), node: median(node) };
}

async function measureScale(scale: number, testChannel: string) {
  log(`generating (or reusing) the channel at scale ${scale}...`);
  const generated = await ensureGenerated(join(ROOT, 'test/.cache/bench-solve'), {
    scale,
    testChannel,
  });
  log(
    `scale ${scale}: ${generated.records['linux-64']} linux-64 + ${generated.records.noarch} noarch records, ${generated.names} names`,
  );
  const sharded = await serveChannel(generated.dir);
  const zst = await serveChannel(generated.dir, { hide: SERVE_MONOLITHIC });
  const plain = await serveChannel(generated.dir, { hide: SERVE_PLAIN_JSON });
  try {
    const base = await baseline(generated);
    const json = await measure(plain, `s${scale}-json`);
    const jsonZst = await measure(zst, `s${scale}-zst`);
    const shards = await measure(sharded, `s${scale}-shards`);
    return { scale, generated, base, json, jsonZst, shards };
  } finally {
    await Promise.all([sharded.close(), zst.close(), plain.close()]);
  }
}

const load = loadavg()
  .map((n) => n.toFixed(2))
  .join(' ');
const testChannel = await ensureTestChannel();
await mkdir(work, { recursive: true });
try {
  const big = await measureScale(Number(values.scale), testChannel);
  const small = await measureScale(Number(values.small), testChannel);
  const loadAfter = loadavg()
    .map((n) => n.toFixed(2))
    .join(' ');
  const base = big.base.python.ms;
  const ratio = (ms: number) => (ms / base).toFixed(2);
  const rows: Array<[string, Sample, string]> = [
    ['python json.load (baseline)', big.base.python, ''],
    ['node JSON.parse (reference)', big.base.node, ''],
    ['monolithic .json over HTTP, cold', big.json.cold, '<= 0.5x, <= 1 GB'],
    ['monolithic .json.zst over HTTP, cold', big.jsonZst.cold, '<= 0.6x'],
    ['monolithic, warm (304s)', big.json.warm, '<= 0.15x'],
    ['monolithic .json.zst, warm', big.jsonZst.warm, ''],
    ['sharded over HTTP, cold', big.shards.cold, '<= 0.15x, few hundred shards, <= 512 MB'],
    ['sharded, warm', big.shards.warm, 'no shard fetched, < 1.5 s'],
  ];
  const lines = [
    `bench/solve: ${SPECS.join(' ')}; median of ${RUNS} runs; load average ${load} before, ${loadAfter} after (2 shared cores)`,
    `scale ${big.scale}: ${big.generated.records['linux-64']} + ${big.generated.records.noarch} records; scale ${small.scale}: ${small.generated.records['linux-64']} + ${small.generated.records.noarch}`,
    '',
    '| case | median | vs json.load | peak RSS | shards fetched | goal |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      ([name, s, goal]) =>
        `| ${name} | ${(s.ms / 1000).toFixed(2)} s | ${ratio(s.ms)}x | ${s.maxRssMB.toFixed(0)} MB | ${s.shards ?? ''} | ${goal} |`,
    ),
    '',
    `| scale ${small.scale} vs ${big.scale} | ${small.scale} | ${big.scale} | ratio (goal <= 1.5) |`,
    '|---|---|---|---|',
    ...(
      [
        ['sharded cold', small.shards.cold, big.shards.cold],
        ['sharded warm', small.shards.warm, big.shards.warm],
        ['monolithic warm', small.json.warm, big.json.warm],
        ['monolithic cold', small.json.cold, big.json.cold],
      ] as Array<[string, Sample, Sample]>
    ).map(
      ([name, a, b]) =>
        `| ${name} | ${(a.ms / 1000).toFixed(2)} s | ${(b.ms / 1000).toFixed(2)} s | ${(b.ms / a.ms).toFixed(2)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify({ big, small, load, loadAfter })}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
