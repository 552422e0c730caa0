#!/usr/bin/env node
/**
 * Benchmark of the embedded installer (after `npm run build`):
 *   node bench/create/run.mjs [--runs N] [--index-records N] [--json]
 *
 * Creates an environment from the test channel (served over HTTP on 127.0.0.1) cold (empty
 * package and repodata caches) and warm (hot package cache), and reports solve, download,
 * extract and link times separately (median of N runs). Then measures extraction throughput of
 * the largest package, in both archive formats, against a native baseline measured in the same
 * run (GNU tar with the zstd / bzip2 CLIs), and with the pure-JavaScript decoders (the fallback).
 * Throughput is MB/s of unpacked data. Last, the solve time on a big synthetic index (no
 * baseline: no other solver is installed here).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    // Records of the synthetic index for the big-solve measurement (0 skips it).
    'index-records': { type: 'string', default: '200000' },
  },
});
const RUNS = Math.max(1, Number(values.runs));
const SPECS = [
  'python 3.11.*',
  'pip',
  'hello-cli',
  'chain-top',
  'prefix-echo',
  'text-config',
  'softlink-demo',
  'activate-demo',
  'generic-data',
];

const { createEnvironment, solve } = await import(join(ROOT, 'packages/creator/dist/index.js'));
const { extractArchive } = await import(join(ROOT, 'packages/creator/dist/install/extract.js'));

function channelDir() {
  const out = spawnSync('npx', ['tsx', 'test/channel/cli.ts', '--json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (out.status !== 0) throw new Error(`building the test channel failed:\n${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()).dir;
}

/** A plain static file server (the channel served like a remote one). */
async function serve(dir) {
  const server = createServer(async (req, res) => {
    const path = resolve(dir, `.${decodeURIComponent(new URL(req.url, 'http://x').pathname)}`);
    const info = path.startsWith(dir + sep) ? await stat(path).catch(() => null) : null;
    if (!info?.isFile()) return res.writeHead(404).end();
    res.writeHead(200, { 'content-length': info.size });
    createReadStream(path).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(0).padStart(6)} ms`;

async function duSize(dir) {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

async function timeIt(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const dir = channelDir();
const served = await serve(dir);
const work = await mkdtemp(join(tmpdir(), 'poncho-bench-create-'));
const results = { cold: [], warm: [] };
try {
  let lock;
  for (let i = 0; i < RUNS; i += 1) {
    const base = join(work, `cold-${i}`);
    const options = {
      channels: [served.url],
      pkgsDir: join(base, 'pkgs'),
      cacheDir: join(base, 'repodata'),
    };
    const start = performance.now();
    const cold = await createEnvironment(SPECS, join(base, 'env'), options);
    results.cold.push({
      ...cold.report.timings,
      totalMs: performance.now() - start,
      bytes: cold.report.downloadedBytes,
    });
    lock = cold.lock;
    const warmStart = performance.now();
    const warm = await createEnvironment(SPECS, join(base, 'env-warm'), options);
    results.warm.push({
      ...warm.report.timings,
      totalMs: performance.now() - warmStart,
      bytes: warm.report.downloadedBytes,
    });
    await rm(base, { recursive: true, force: true });
  }

  // Extraction throughput of the largest package, both formats, ours vs native.
  const largest = [...lock.packages].sort((a, b) => (b.size ?? 0) - (a.size ?? 0))[0];
  const stem = largest.fileName.replace(/\.(conda|tar\.bz2)$/, '');
  const extraction = [];
  for (const ext of ['conda', 'tar.bz2']) {
    const archive = join(dir, largest.subdir, `${stem}.${ext}`);
    const size = await stat(archive).then(
      (s) => s.size,
      () => 0,
    );
    if (!size) continue;
    const ours = [];
    const oursJs = [];
    const native = [];
    let unpacked = 0;
    for (let i = 0; i < RUNS; i += 1) {
      const a = join(work, `x-ours-${ext}-${i}`);
      await mkdir(a, { recursive: true });
      ours.push(await timeIt(() => extractArchive(archive, a)));
      unpacked = await duSize(a);
      await rm(a, { recursive: true, force: true });
      // The pure-JavaScript decoders (the fallback when the zstd/bzip2 tools are missing).
      await mkdir(a, { recursive: true });
      process.env.PONCHO_DECOMPRESSORS = 'js';
      oursJs.push(await timeIt(() => extractArchive(archive, a)));
      delete process.env.PONCHO_DECOMPRESSORS;
      await rm(a, { recursive: true, force: true });
      const b = join(work, `x-native-${ext}-${i}`);
      await mkdir(b, { recursive: true });
      native.push(
        await timeIt(async () => {
          if (ext === 'tar.bz2') execFileSync('tar', ['-xjf', archive, '-C', b]);
          else {
            execFileSync('python3', [
              '-c',
              'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])',
              archive,
              b,
            ]);
            for (const inner of (await readdir(b)).filter((n) => n.endsWith('.tar.zst'))) {
              execFileSync('tar', ['--zstd', '-xf', join(b, inner), '-C', b]);
            }
          }
        }),
      );
      await rm(b, { recursive: true, force: true });
    }
    extraction.push({
      format: ext,
      archiveBytes: size,
      unpackedBytes: unpacked,
      oursMs: median(ours),
      oursJsMs: median(oursJs),
      nativeMs: median(native),
    });
  }

  // Solve on a big synthetic index (conda-forge's linux-64 holds several hundred thousand
  // records): loading and parsing the repodata, then rattler.
  const records = Number(values['index-records']);
  let bigIndex;
  if (records > 0) {
    const big = join(work, 'big-channel');
    const conda = {};
    for (let i = 0; i < records; i += 1) {
      const name = `pkg${i % 20000}`;
      const version = `${1 + Math.floor(i / 20000)}.0.${i % 7}`;
      conda[`${name}-${version}-h${i}_0.conda`] = {
        name,
        version,
        build: `h${i}_0`,
        build_number: 0,
        subdir: 'linux-64',
        license: 'MIT',
        size: 123456,
        depends: i % 20000 > 0 ? [`pkg${(i % 20000) - 1} >=1`, '__glibc >=2.17'] : [],
        constrains: [],
        md5: 'a'.repeat(32),
        sha256: 'b'.repeat(64),
        timestamp: 1_700_000_000_000,
      };
    }
    for (const [subdir, packages] of [
      ['linux-64', conda],
      ['noarch', {}],
    ]) {
      await mkdir(join(big, subdir), { recursive: true });
      await writeFile(
        join(big, subdir, 'repodata.json'),
        JSON.stringify({ info: { subdir }, packages: {}, 'packages.conda': packages }),
      );
    }
    const bytes = (await stat(join(big, 'linux-64', 'repodata.json'))).size;
    const times = [];
    for (let i = 0; i < RUNS; i += 1) {
      times.push(
        await timeIt(() =>
          solve(['pkg20'], {
            channels: [big],
            platform: 'linux-64',
            cacheDir: join(work, 'big-cache'),
          }),
        ),
      );
    }
    bigIndex = { records, bytes, solveMs: median(times) };
  }

  const summary = {
    runs: RUNS,
    packages: lock.packages.length,
    downloadBytes: median(results.cold.map((r) => r.bytes)),
    cold: Object.fromEntries(
      ['solveMs', 'downloadMs', 'extractMs', 'linkMs', 'compileMs', 'totalMs'].map((k) => [
        k,
        median(results.cold.map((r) => r[k])),
      ]),
    ),
    warm: Object.fromEntries(
      ['solveMs', 'downloadMs', 'extractMs', 'linkMs', 'compileMs', 'totalMs'].map((k) => [
        k,
        median(results.warm.map((r) => r[k])),
      ]),
    ),
    largestPackage: largest.name,
    extraction,
    bigIndex,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    console.log(
      `create: ${summary.packages} packages, ${(summary.downloadBytes / 1e6).toFixed(1)} MB downloaded cold, median of ${RUNS} runs`,
    );
    console.log(
      `            ${['solve', 'download', 'extract', 'link', '(.pyc)', 'total'].map((h) => h.padStart(9)).join(' ')}`,
    );
    for (const kind of ['cold', 'warm']) {
      const t = summary[kind];
      console.log(
        `  ${kind.padEnd(9)} ${[t.solveMs, t.downloadMs, t.extractMs, t.linkMs, t.compileMs, t.totalMs].map(ms).join(' ')}`,
      );
    }
    console.log('  (link includes the .pyc compilation shown in brackets)');
    console.log(
      `  warm vs cold: ${(summary.cold.totalMs / summary.warm.totalMs).toFixed(1)}x faster`,
    );
    console.log(`extraction of the largest package (${largest.name}):`);
    for (const e of extraction) {
      const rate = (bytes, t) => `${(bytes / 1e6 / (t / 1000)).toFixed(0).padStart(5)} MB/s`;
      console.log(
        `  .${e.format.padEnd(8)} ${(e.archiveBytes / 1e6).toFixed(1)} MB -> ${(e.unpackedBytes / 1e6).toFixed(1)} MB: ` +
          `poncho ${ms(e.oursMs)} (${rate(e.unpackedBytes, e.oursMs)}), ` +
          `poncho js-only ${ms(e.oursJsMs)} (${rate(e.unpackedBytes, e.oursJsMs)}), ` +
          `native tar ${ms(e.nativeMs)} (${rate(e.unpackedBytes, e.nativeMs)}); poncho/native = ${(e.oursMs / e.nativeMs).toFixed(2)}x`,
      );
    }
    if (bigIndex) {
      console.log(
        `solve on a synthetic index of ${bigIndex.records} records (${(bigIndex.bytes / 1e6).toFixed(0)} MB repodata.json): ` +
          `${ms(bigIndex.solveMs)} (load + parse + strict priority + rattler)`,
      );
    }
  }
} finally {
  await served.close();
  await rm(work, { recursive: true, force: true });
}
