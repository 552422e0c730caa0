#!/usr/bin/env node
// Thin shim: the CLI lives in src/cli.ts, compiled to dist/cli.js and bundled (bundle.mjs).
import { main } from '../dist/bundle/cli.js';

await main('poncho_package_run');
