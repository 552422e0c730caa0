/**
 * The Nx API the plugin uses at run time, taken from the workspace's own `nx` package (the
 * peer dependency) rather than from @nx/devkit: a devkit is made for a range of Nx majors
 * (devkit 24 wants nx >= 23), so depending on one makes npm pick a devkit that does not fit an
 * older Nx (issue 11.8). `nx/src/devkit-exports` is what @nx/devkit itself re-exports, on every
 * supported major (21 to 24). Types come from the same module at build time only.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

type DevkitExports = typeof import('nx/src/devkit-exports.js');

export const nxDevkit: DevkitExports = require('nx/src/devkit-exports');

export const { logger } = nxDevkit;

export type {
  CreateNodes,
  CreateNodesContext,
  CreateNodesResult,
  ExecutorContext,
  GeneratorCallback,
  NxJsonConfiguration,
  TargetConfiguration,
  Tree,
} from 'nx/src/devkit-exports.js';
