/**
 * Bundles the CLI (dist/cli.js, compiled by tsc) into one ES module, dist/cli.bundle.mjs, and
 * lists what went into it in dist/cli.bundle.json; bin/load-cli.js runs the bundle when it is
 * newer than everything listed there, else dist/cli.js.
 *
 * Why: a warm run of the standard library reuses an earlier result (result-cache.ts) and then
 * spends most of its time starting Node and loading code: ~25 ES modules of the analyzer and
 * @poncho/core plus commander, each resolved through package.json exports and compiled on its
 * own. One file saved 40 ms wall, 30 ms CPU of a ~230 ms warm run (interleaved runs, see the
 * README). The bundle stays in dist/ so that what the code finds next to itself
 * (`../data/*.json`, `./scan-worker.js`, `../package.json`) is where it was. The parser
 * (web-tree-sitter and the grammar) stays outside: cold runs load it in every worker anyway.
 *
 * The library API (dist/index.js) stays unbundled, for programs that import @poncho/analyzer.
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';

const here = new URL('.', import.meta.url).pathname;
const dist = join(here, 'dist');
const outfile = join(dist, 'cli.bundle.mjs');

const result = await build({
  absWorkingDir: here,
  entryPoints: [join(dist, 'cli.js')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: ['web-tree-sitter', 'tree-sitter-python'],
  // commander is CommonJS: its require() calls of Node's modules need a require in scope.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
  metafile: true,
  logLevel: 'warning',
});
// Paths relative to dist/, checked by bin/load-cli.js before it trusts the bundle.
const inputs = Object.keys(result.metafile.inputs).map((input) =>
  relative(dist, join(here, input)),
);
writeFileSync(join(dist, 'cli.bundle.json'), `${JSON.stringify({ inputs }, null, 2)}\n`);
