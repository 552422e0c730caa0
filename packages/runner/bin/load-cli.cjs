'use strict';
/**
 * Runs the bundled CLI (dist/bundle/cli.cjs) compiled from V8's code cache beside it, made by
 * bundle.mjs: a cold run compiles ~30 ms less. A missing cache, or one a different V8 rejects,
 * only means the code is compiled as usual. PONCHO_WRITE_CODE_CACHE=FILE (bundle.mjs sets it)
 * saves what this run compiled, when it exits.
 */
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const vm = require('node:vm');

module.exports = function runCli(program) {
  const file = join(__dirname, '..', 'dist', 'bundle', 'cli.cjs');
  let cachedData;
  try {
    cachedData = readFileSync(`${file}.cache`);
  } catch {
    // no cache: compile as usual
  }
  let source;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    process.stderr.write(
      `${program}: error: cannot read the runner's bundled code ${file} (${error.code ?? error.message})\n` +
        '  hint: Build the package first (npm run build in the poncho repository), or reinstall @poncho/runner.\n',
    );
    process.exit(125); // the runner's own failure before the command: see --help
  }
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData,
  });
  const cacheTarget = process.env.PONCHO_WRITE_CODE_CACHE;
  if (cacheTarget) {
    delete process.env.PONCHO_WRITE_CODE_CACHE; // not for the command
    process.once('exit', () => writeFileSync(cacheTarget, script.createCachedData()));
  }
  const cli = { exports: {} };
  script.runInThisContext()(cli.exports, Module.createRequire(file), cli, file, dirname(file));
  return cli.exports.main(program);
};
