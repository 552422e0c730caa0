/**
 * Inferred targets: every project with a `poncho.json` in its root gets `analyze-env`,
 * `pack-env` and `run-env`. The cache keys are chosen so that the expensive step (pack) runs
 * only when the environment would change: pack-env hashes the spec the analyzer wrote (not the
 * Python sources), the config file, and the creator's version.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  type CreateNodes,
  type CreateNodesResult,
  createNodesFromFiles,
  type TargetConfiguration,
} from '@nx/devkit';
import { CONFIG_FILE_NAME } from './config.js';

export interface PonchoPluginOptions {
  /** Name of the target that writes the spec. Default: analyze-env. */
  analyzeTargetName?: string;
  /** Name of the target that builds the tarball. Default: pack-env. */
  packTargetName?: string;
  /** Name of the target that runs a command in the environment. Default: run-env. */
  runTargetName?: string;
}

export const DEFAULT_TARGET_NAMES = {
  analyzeTargetName: 'analyze-env',
  packTargetName: 'pack-env',
  runTargetName: 'run-env',
} as const;

/** Where the targets write, relative to the workspace root (under dist/, never into inputs). */
export function outputPaths(projectRoot: string): { spec: string; tarball: string } {
  const dir = projectRoot === '.' || projectRoot === '' ? 'dist' : `dist/${projectRoot}`;
  return { spec: `${dir}/env.json`, tarball: `${dir}/env.tar.gz` };
}

/**
 * The versions of packages as resolved from the workspace root, as one `runtime` input (one
 * process): upgrading the analyzer, the creator or this plugin (whose executors decide what the
 * spec holds and how the creator is called) invalidates the cached spec or tarball. The output
 * is `name@version` words, the same in every checkout.
 */
export function versionOf(...packageNames: string[]): string {
  const list = packageNames.map((name) => `'${name}'`).join(',');
  return `node -p "[${list}].map((n) => n + '@' + require(n + '/package.json').version).join(' ')"`;
}

/**
 * versionOf, plus the machine's OS and CPU: without a `platform` in poncho.json the tarball is
 * built for the machine that runs the task, so a cache shared by Linux CI and a Mac laptop must
 * not hand one's tarball to the other.
 */
export function versionAndHostOf(...packageNames: string[]): string {
  return versionOf(...packageNames).replace(
    /"$/,
    ` + ' ' + process.platform + '-' + process.arch"`,
  );
}

const PACKAGE = '@poncho/nx-plugin';

/** The version of the python3 on PATH (the analyzer's target when poncho.json names none). */
export const PYTHON3_VERSION = 'python3 --version 2>&1 || echo no python3';

export const createNodes: CreateNodes<PonchoPluginOptions> = [
  `**/${CONFIG_FILE_NAME}`,
  (configFiles, options, context) =>
    createNodesFromFiles(
      (configFile, opts, ctx) => createNodesForConfigFile(configFile, opts, ctx.workspaceRoot),
      configFiles,
      options,
      context,
    ),
];

/** Nx 21 only calls `createNodesV2`; Nx 22 takes either; Nx 23+ prefers `createNodes`. */
export const createNodesV2 = createNodes;

export function createNodesForConfigFile(
  configFile: string,
  options: PonchoPluginOptions | undefined,
  workspaceRoot: string,
): CreateNodesResult {
  const projectRoot = dirname(configFile);
  const names = { ...DEFAULT_TARGET_NAMES, ...definedOnly(options ?? {}) };
  const configPath = projectRoot === '.' ? CONFIG_FILE_NAME : `${projectRoot}/${CONFIG_FILE_NAME}`;
  const out = outputPaths(projectRoot);
  const outDirToken = '{workspaceRoot}/dist/{projectRoot}';
  const technologies = ['python'];
  const root = join(workspaceRoot, projectRoot);
  const config = readConfigLeniently(join(root, CONFIG_FILE_NAME));

  const analyze: TargetConfiguration = {
    executor: `${PACKAGE}:analyze`,
    options: { config: configPath, output: out.spec },
    cache: true,
    inputs: [
      '{projectRoot}/**/*.py',
      `{projectRoot}/${CONFIG_FILE_NAME}`,
      { runtime: versionOf('@poncho/analyzer', PACKAGE) },
      // Without a pythonVersion, the analyzer targets the python3 on PATH: then it is an input.
      ...(typeof config.pythonVersion === 'string' ? [] : [{ runtime: PYTHON3_VERSION }]),
      // Without this, Nx would hash every npm package of the workspace for a third-party
      // executor, so any lockfile change would re-run the target.
      { externalDependencies: [] },
    ],
    outputs: [`${outDirToken}/env.json`],
    metadata: {
      technologies,
      description:
        'Find the Python imports of the project and write its environment spec (env.json).',
      help: {
        command: 'npx poncho_package_analyze --help',
        example: { options: { toplevel: true } },
      },
    },
  };

  const pack: TargetConfiguration = {
    executor: `${PACKAGE}:pack`,
    options: { spec: out.spec, config: configPath, output: out.tarball },
    dependsOn: [names.analyzeTargetName],
    cache: true,
    inputs: [
      // The spec only, not the sources: a comment-only edit re-runs analyze but not pack.
      { dependentTasksOutputFiles: '**/*.json' },
      `{projectRoot}/${CONFIG_FILE_NAME}`,
      {
        runtime:
          typeof config.platform === 'string'
            ? versionOf('@poncho/creator', PACKAGE)
            : versionAndHostOf('@poncho/creator', PACKAGE),
      },
      { externalDependencies: [] },
    ],
    outputs: [`${outDirToken}/env.tar.gz`],
    metadata: {
      technologies,
      description:
        'Build the conda environment of the spec and pack it into a relocatable tarball (env.tar.gz).',
      help: {
        command: 'npx poncho_package_create --help',
        example: { options: { platform: 'linux-64' } },
      },
    },
  };

  const run: TargetConfiguration = {
    executor: `${PACKAGE}:run`,
    options: { environment: out.tarball, config: configPath, cwd: projectRoot },
    dependsOn: [names.packTargetName],
    cache: false,
    metadata: {
      technologies,
      description:
        'Run a command inside the packed environment (default: the "command" of poncho.json; or pass --command).',
      help: {
        command: 'npx poncho_package_run --help',
        example: { options: { command: 'python --version' } },
      },
    },
  };

  const project: { name?: string; targets: Record<string, TargetConfiguration> } = {
    targets: {
      [names.analyzeTargetName]: analyze,
      [names.packTargetName]: pack,
      [names.runTargetName]: run,
    },
  };
  // A poncho.json alone makes a project; it then needs a name. Where project.json or
  // package.json exists, that file names the project and we must not contradict it.
  if (!existsSync(join(root, 'project.json')) && !existsSync(join(root, 'package.json'))) {
    project.name = typeof config.name === 'string' ? config.name : basename(root);
  }
  return { projects: { [projectRoot]: project } };
}

/** The config as far as it can be read; the executors report a broken file with details. */
function readConfigLeniently(path: string): Record<string, unknown> {
  try {
    const data: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return data && typeof data === 'object' && !Array.isArray(data)
      ? (data as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
