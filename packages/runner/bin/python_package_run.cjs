#!/usr/bin/env node
// Thin shim: the CLI lives in src/cli.ts, compiled to dist/cli.js and bundled (bundle.mjs).
require('./load-cli.cjs')('python_package_run');
