#!/usr/bin/env node
/**
 * Benchmark of poncho_package_analyze on Debian's Python 3.11 standard library, against an
 * `ast`-based scan (the reference's method: read, ast.parse, walk for Import/ImportFrom) timed
 * in the same run. Everything is a whole process, wall clock, median of several runs, the runs
 * of each contender interleaved so that machine load hits them alike.
 *
 *   npm run build && node bench/analyze/run.mjs [--runs N] [--tree DIR] [--bin BIN]
 *
 * - cold: empty scan cache (a fresh XDG_CACHE_HOME per run), parsing on all cores;
 * - warm: unchanged files, cache filled (content-keyed, $XDG_CACHE_HOME/poncho/analyze);
 * - single script: CLI latency for one small script (cold and warm cache, and with the target
 *   version taken from python3 on PATH, which costs one interpreter start).
 * Goals: cold >= 1.5x faster than the ast scan, warm >= 10x.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    tree: { type: 'string', default: '/usr/lib/python3.11' },
    // Another build of the analyzer (a copy of packages/analyzer), to compare before and after.
    bin: { type: 'string' },
  },
});
const bin = resolve(values.bin ?? join(repo, 'packages/analyzer/bin/poncho_package_analyze.js'));
const runs = Number(values.runs);
const tree = values.tree;
// The real interpreter, not a pyenv shim (whose bash start-up would flatter us).
const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
  encoding: 'utf8',
}).trim();
const out = mkdtempSync(join(tmpdir(), 'poncho-bench-analyze-'));

const AST_SCAN = `
import ast, os, sys
found = 0
for root, dirs, files in os.walk(sys.argv[1]):
    dirs[:] = sorted(d for d in dirs if d not in (".git", "__pycache__", "node_modules"))
    for name in sorted(files):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(root, name), "rb") as f:
            source = f.read()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found += len(names)
print(found)
`;

/** CPU seconds (user + system) of this process's reaped children, from /proc (Linux). */
function childrenCpuMs() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    // Fields 16 and 17 (cutime, cstime) in clock ticks; index from the state field (3).
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

const cpu = {};
function time(command, args, env = {}, label = undefined) {
  const cpuBefore = childrenCpuMs();
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed:\n${result.stderr}`);
  if (label) {
    cpu[label] ??= [];
    cpu[label].push(childrenCpuMs() - cpuBefore);
  }
  return ms;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (ms) => `${ms.toFixed(0).padStart(6)} ms`;

const analyzeArgs = (target, output) => [
  '-q',
  '--no-env',
  '--python-version',
  '3.11',
  target,
  output,
];
const warmCache = join(out, 'warm-cache');
// Fill the warm cache once.
time(process.execPath, [bin, ...analyzeArgs(tree, join(out, 'spec.json'))], {
  XDG_CACHE_HOME: warmCache,
});

const script = join(out, 'job.py');
writeFileSync(
  script,
  'import os\nimport json\nimport numpy as np\nimport yaml\n\ndef main():\n    import pandas\n\nif __name__ == "__main__":\n    main()\n',
);

const loadBefore = loadavg()[0];
const samples = { ast: [], cold: [], warm: [], oneCold: [], oneWarm: [], onePath: [] };
for (let i = 0; i < runs; i++) {
  samples.ast.push(time(python, ['-c', AST_SCAN, tree], {}, 'ast'));
  const coldCache = join(out, `cold-${i}`);
  mkdirSync(coldCache);
  samples.cold.push(
    time(
      process.execPath,
      [bin, ...analyzeArgs(tree, join(out, 'spec.json'))],
      {
        XDG_CACHE_HOME: coldCache,
      },
      'cold',
    ),
  );
  samples.warm.push(
    time(
      process.execPath,
      [bin, ...analyzeArgs(tree, join(out, 'spec.json'))],
      { XDG_CACHE_HOME: warmCache },
      'warm',
    ),
  );
  samples.oneCold.push(
    time(process.execPath, [bin, ...analyzeArgs(script, join(out, 'one.json'))], {
      XDG_CACHE_HOME: join(out, `one-${i}`),
    }),
  );
  samples.oneWarm.push(
    time(process.execPath, [bin, ...analyzeArgs(script, join(out, 'one.json'))], {
      XDG_CACHE_HOME: warmCache,
    }),
  );
  samples.onePath.push(
    time(process.execPath, [bin, '-q', '--no-env', script, join(out, 'one.json')], {
      XDG_CACHE_HOME: warmCache,
    }),
  );
}

const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
const files = execFileSync('find', [tree, '-name', '*.py', '-not', '-path', '*/__pycache__/*'], {
  encoding: 'utf8',
})
  .trim()
  .split('\n').length;
console.log(
  `poncho_package_analyze benchmark: ${tree} (${files} .py files), ${runs} runs each, median wall time`,
);
console.log(`analyzer: ${bin}`);
console.log(
  `cores: ${availableParallelism()}, node ${process.version}, baseline: ${python} ast scan`,
);
console.log(
  `load average: ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after (the cold ratio needs both cores free)\n`,
);
console.log(`  ast scan (reference method)     ${fmt(m.ast)}`);
console.log(
  `  analyze, cold cache             ${fmt(m.cold)}   ${(m.ast / m.cold).toFixed(2)}x faster than ast  (goal >= 1.5x)`,
);
console.log(
  `  analyze, warm cache             ${fmt(m.warm)}   ${(m.ast / m.warm).toFixed(2)}x faster than ast  (goal >= 10x)`,
);
const c = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
console.log('\n  CPU time (user + system, all threads; less sensitive to load than wall time)');
console.log(`    ast scan ${fmt(c.ast)}   cold ${fmt(c.cold)}   warm ${fmt(c.warm)}`);
console.log('\n  single script (CLI latency)');
console.log(`    cold cache, --python-version  ${fmt(m.oneCold)}`);
console.log(`    warm cache, --python-version  ${fmt(m.oneWarm)}`);
console.log(`    warm cache, python3 on PATH   ${fmt(m.onePath)}`);
rmSync(out, { recursive: true, force: true });
