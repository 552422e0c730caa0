/**
 * Bundles the CLI (dist/cli.js, compiled by tsc) into dist/bundle/cli.cjs, with a V8 code cache
 * beside it (cli.cjs.cache), which bin/load-cli.cjs loads.
 *
 * Why: every cold run, and every run the sh launcher hands to Node, pays for loading the
 * runner's code before it does anything. Unbundled that is ~40 ES modules and CommonJS files
 * (tar, proper-lockfile and graceful-fs, @poncho/core), each resolved through package.json
 * exports and compiled on its own: 40-60 ms of a ~300 ms cold run on a 2-core worker. One
 * CommonJS file (esbuild keeps each module's evaluation lazy, so the unpacking code still only
 * runs when needed) saves about half; compiling it from V8's code cache, made here by one cold
 * run on a small tarball, saves most of the rest (~30 ms measured). Node 20 has no compile cache
 * of its own (module.enableCompileCache is Node 22). A Node with another V8 rejects the cache,
 * and the code is compiled as usual.
 *
 * The library API (dist/index.js) stays unbundled, for programs that import @poncho/runner.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBlockedGzipSync } from '@poncho/core/blocked-gzip';
import { build } from 'esbuild';
import { create as createTar } from 'tar';

const here = new URL('.', import.meta.url).pathname;
const outdir = join(here, 'dist', 'bundle');
const bundle = join(outdir, 'cli.cjs');

rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(here, 'dist', 'cli.js')],
  outfile: bundle,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  logLevel: 'warning',
});

// The code cache: what one cold run compiles (parsing, unpacking a blocked-gzip tarball with a
// manifest, relocating, locking, running a command), saved when that run exits.
const work = mkdtempSync(join(tmpdir(), 'poncho-runner-cache-'));
try {
  const placeholder = `/opt/poncho-build/${'_placehold'.repeat(20)}`;
  const root = join(work, 'env');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, '.poncho'));
  writeFileSync(join(root, 'bin', 'hello'), `#!/bin/sh\n# ${placeholder}\necho hello\n`, {
    mode: 0o755,
  });
  const manifest = {
    formatVersion: 1,
    platform: 'linux-64',
    buildPrefix: placeholder,
    files: [{ path: 'bin/hello', placeholder, mode: 'text' }],
    createdBy: 'poncho runner bundle.mjs',
  };
  writeFileSync(join(root, '.poncho', 'manifest.json'), JSON.stringify(manifest));
  const tarPath = join(work, 'env.tar');
  createTar({ cwd: root, file: tarPath, sync: true, portable: true }, ['.']);
  const tarball = join(work, 'env.tar.gz');
  writeFileSync(tarball, encodeBlockedGzipSync([readFileSync(tarPath)]));
  execFileSync(
    process.execPath,
    [
      join(here, 'bin', 'poncho_package_run.cjs'),
      '-e',
      tarball,
      '-d',
      join(work, 'unpacked'),
      'true',
    ],
    { env: { ...process.env, PONCHO_WRITE_CODE_CACHE: `${bundle}.cache` }, stdio: 'inherit' },
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
