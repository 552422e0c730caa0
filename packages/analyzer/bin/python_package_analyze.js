#!/usr/bin/env node
// Thin shim: the CLI lives in src/cli.ts (compiled to dist/cli.js).
import { main } from '../dist/cli.js';

await main('python_package_analyze');
