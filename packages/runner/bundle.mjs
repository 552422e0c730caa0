/**
 * Bundles the CLI (dist/cli.js, compiled by tsc) into dist/bundle/, which bin/*.js load.
 *
 * Why: every cold run, and every run the sh launcher hands to Node, pays for loading the
 * runner's modules before it does anything. Unbundled that is ~40 ES modules and CommonJS
 * files (tar, proper-lockfile and graceful-fs, @poncho/core), each resolved through package.json
 * exports and compiled separately: 40-60 ms of a ~300 ms cold run on a 2-core worker. One file
 * per load stage saves about half of it. Code splitting keeps the stages lazy: a warm run loads
 * only the CLI chunk; the unpacking and locking chunks load with import() when needed.
 *
 * The library API (dist/index.js) stays unbundled, for programs that import @poncho/runner.
 */
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

const outdir = new URL('./dist/bundle', import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true }); // chunk names change with their content
await build({
  entryPoints: [new URL('./dist/cli.js', import.meta.url).pathname],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  // proper-lockfile and graceful-fs are CommonJS and require() node built-ins, which an ES
  // module bundle can only do through a real require function.
  banner: {
    js: "import { createRequire as __ponchoCreateRequire } from 'node:module';\nconst require = __ponchoCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
