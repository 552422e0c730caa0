#!/usr/bin/env node
// Thin shim: the CLI lives in src/cli.ts (compiled to dist/cli.js, bundled by bundle.mjs).
import { main } from './load-cli.js';

await main('poncho_package_analyze');
