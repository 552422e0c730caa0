/**
 * Inferred targets: every project with a `poncho.json` in its root gets `analyze-env`,
 * `lock-env`, `pack-env` and `run-env`. The cache keys are chosen so that the expensive step
 * (pack) runs only when the environment would change: pack-env hashes the lock file that
 * lock-env keeps beside poncho.json (not the sources, not the rest of poncho.json), and the
 * creator's version.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, normalize, relative, resolve } from 'node:path';
import { CONFIG_FILE_NAME, LOCK_FILE_NAME } from './config.js';
import {
  type CreateNodes,
  type CreateNodesContext,
  type CreateNodesResult,
  type NxJsonConfiguration,
  nxDevkit,
  type TargetConfiguration,
} from './nx.js';
import { PluginCache } from './plugin-cache.js';

export interface PonchoPluginOptions {
  /** Name of the target that writes the spec. Default: analyze-env. */
  analyzeTargetName?: string;
  /** Name of the target that keeps the lock file up to date. Default: lock-env. */
  lockTargetName?: string;
  /** Name of the target that builds the tarball. Default: pack-env. */
  packTargetName?: string;
  /** Name of the target that runs a command in the environment. Default: run-env. */
  runTargetName?: string;
}

export const DEFAULT_TARGET_NAMES = {
  analyzeTargetName: 'analyze-env',
  lockTargetName: 'lock-env',
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
 * built for the machine that runs the task (and its .pyc files compiled only there), so a cache
 * shared by Linux CI and a Mac laptop must not hand one's tarball to the other.
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

/**
 * Inferred targets per poncho.json, reused while nothing they depend on changed: `files` are
 * the entries' own files (outside the project folder) whose presence decided the result.
 */
const cache = new PluginCache<{ result: CreateNodesResult; files: string[]; filesHash?: string }>(
  'poncho-nx-plugin',
);

export const createNodes: CreateNodes<PonchoPluginOptions> = [
  `**/${CONFIG_FILE_NAME}`,
  async (configFiles, options, context) => {
    const results = await nxDevkit.createNodesFromFiles(
      (configFile, opts, ctx) => cachedNodes(configFile, opts, ctx),
      configFiles,
      options,
      context,
    );
    cache.save();
    return results;
  },
];

/** Nx 21 only calls `createNodesV2`; Nx 22 takes either; Nx 23+ prefers `createNodes`. */
export const createNodesV2 = createNodes;

/**
 * createNodesForConfigFile through the plugin cache: the key is the hash Nx already keeps of
 * the files the result depends on (no file is read again when nothing changed), the plugin
 * options and whether the workspace defines a `production` named input.
 */
async function cachedNodes(
  configFile: string,
  options: PonchoPluginOptions | undefined,
  context: CreateNodesContext,
): Promise<CreateNodesResult> {
  const projectRoot = dirname(configFile);
  const { workspaceRoot } = context;
  const key = await cache.key(workspaceRoot, watchedFiles(projectRoot), {
    options: options ?? {},
    production: hasProductionInput(context.nxJsonConfiguration),
    version: 2,
  });
  const compute = async () => {
    const config = readConfigLeniently(join(workspaceRoot, projectRoot, CONFIG_FILE_NAME));
    const files = stringArray(config.entry).flatMap((entry) => {
      const path = join(projectRoot, entry);
      return [path, join(path, '__init__.py'), ...ancestorPackageMarkers(dirname(path))];
    });
    const result = createNodesForConfigFile(
      configFile,
      options,
      workspaceRoot,
      context.nxJsonConfiguration,
    );
    return { result, files, filesHash: await cache.hash(workspaceRoot, files) };
  };
  let entry = await cache.get(key, compute);
  if (entry.files.length > 0 && (await cache.hash(workspaceRoot, entry.files)) !== entry.filesHash)
    entry = await cache.refresh(key, compute);
  return entry.result;
}

/** The project's own files whose content or presence changes what createNodesForConfigFile returns. */
function watchedFiles(projectRoot: string): string[] {
  return [
    ...['poncho.json', 'project.json', 'package.json'].map((f) => join(projectRoot, f)),
    ...ancestorPackageMarkers(projectRoot),
  ];
}

/** `__init__.py` of a folder and of every folder above it (they decide the analyzer's roots). */
function ancestorPackageMarkers(folder: string): string[] {
  const files: string[] = [];
  for (let dir = normalize(folder); ; dir = dirname(dir)) {
    files.push(join(dir, '__init__.py'));
    if (dir === '.' || dir === dirname(dir)) break;
  }
  return files;
}

function hasProductionInput(nxJson: NxJsonConfiguration | undefined): boolean {
  return Boolean(nxJson?.namedInputs && 'production' in nxJson.namedInputs);
}

export function createNodesForConfigFile(
  configFile: string,
  options: PonchoPluginOptions | undefined,
  workspaceRoot: string,
  nxJson?: NxJsonConfiguration,
): CreateNodesResult {
  const projectRoot = dirname(configFile);
  const names = { ...DEFAULT_TARGET_NAMES, ...definedOnly(options ?? {}) };
  const inRoot = (file: string) => (projectRoot === '.' ? file : `${projectRoot}/${file}`);
  const configPath = inRoot(CONFIG_FILE_NAME);
  const lockPath = inRoot(LOCK_FILE_NAME);
  const out = outputPaths(projectRoot);
  const technologies = ['python'];
  const root = join(workspaceRoot, projectRoot);
  const config = readConfigLeniently(join(root, CONFIG_FILE_NAME));

  const analyze: TargetConfiguration = {
    executor: `${PACKAGE}:analyze`,
    options: { config: configPath, output: out.spec },
    cache: true,
    inputs: [
      // As @nx/vite: the project's production files when the workspace defines them (tests
      // are left out of the key; the executor leaves them out of the analysis too).
      hasProductionInput(nxJson) ? 'production' : 'default',
      // Written by lock-env after this target ran: not an input of the analysis.
      `!{projectRoot}/${LOCK_FILE_NAME}`,
      // Every file the analyzer may read, including those outside the project and those of
      // nested projects (which Nx does not count as this project's files).
      ...analyzerInputs(workspaceRoot, projectRoot, config),
      { runtime: versionOf('@poncho/analyzer', PACKAGE) },
      // Without a pythonVersion, the analyzer targets the python3 on PATH: then it is an input.
      ...(typeof config.pythonVersion === 'string' ? [] : [{ runtime: PYTHON3_VERSION }]),
      // Without this, Nx would hash every npm package of the workspace for a third-party
      // executor, so any lockfile change would re-run the target.
      { externalDependencies: [] },
    ],
    outputs: ['{options.output}'],
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

  const lock: TargetConfiguration = {
    executor: `${PACKAGE}:lock`,
    options: { spec: out.spec, config: configPath, lockFile: lockPath },
    dependsOn: [names.analyzeTargetName],
    // Its output is a source file (committed): it must run, not be restored. Keeping a lock
    // that still satisfies the spec takes no solve, so running it costs little.
    cache: false,
    outputs: ['{options.lockFile}'],
    metadata: {
      technologies,
      description: `Keep ${LOCK_FILE_NAME} (the exact packages, meant to be committed) in step with the spec: kept when it still satisfies it, solved again when not (--update: always; --locked: fail instead).`,
      help: {
        command: 'npx poncho_package_create --help',
        example: { options: { update: true } },
      },
    },
  };

  const pack: TargetConfiguration = {
    executor: `${PACKAGE}:pack`,
    options: { lockFile: lockPath, config: configPath, output: out.tarball },
    dependsOn: [names.lockTargetName],
    cache: true,
    inputs: [
      // The lock file only (what lock-env wrote): not the sources, not the rest of poncho.json
      // (its "command" is run-env's business). Declared as a dependency output so that Nx
      // hashes it after lock-env ran.
      { dependentTasksOutputFiles: '**/*' },
      {
        runtime:
          typeof config.platform === 'string'
            ? versionOf('@poncho/creator', PACKAGE)
            : versionAndHostOf('@poncho/creator', PACKAGE),
      },
      { externalDependencies: [] },
    ],
    outputs: ['{options.output}'],
    metadata: {
      technologies,
      description: `Build the conda environment of ${LOCK_FILE_NAME} and pack it into a relocatable tarball (env.tar.gz).`,
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
        'Run a command inside the packed environment (default: the "command" of poncho.json; or pass --command; words after -- are appended).',
      help: {
        command: 'npx poncho_package_run --help',
        example: { options: { command: 'python --version' } },
      },
    },
  };

  const project: {
    name?: string;
    projectType: 'application';
    targets: Record<string, TargetConfiguration>;
  } = {
    // What the environment is for: a program that runs (a project.json may say otherwise).
    projectType: 'application',
    targets: {
      [names.analyzeTargetName]: analyze,
      [names.lockTargetName]: lock,
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

/**
 * `{workspaceRoot}` inputs for the Python files the analyzer may read: the folders it searches
 * for local modules (those of the entries, or the project folder, and the folder above the
 * outermost package holding them: Python's own rule) with everything below them, and entry
 * files named outside those. Workspace-root globs are matched against every file of the
 * workspace, unlike `{projectRoot}` ones, which skip the files of nested projects.
 */
export function analyzerInputs(
  workspaceRoot: string,
  projectRoot: string,
  config: Record<string, unknown>,
): string[] {
  const entries = stringArray(config.entry);
  const folders = new Set<string>();
  const files = new Set<string>();
  for (const entry of entries.length > 0 ? entries : ['.']) {
    const path = relative(workspaceRoot, resolve(workspaceRoot, projectRoot, entry));
    if (path.startsWith('..')) continue; // outside the workspace: Nx cannot hash it
    let folder = path;
    if (!isFolder(join(workspaceRoot, path))) {
      files.add(path);
      folder = dirname(path);
    }
    folders.add(packageRootOf(workspaceRoot, folder || '.'));
  }
  const sorted = [...folders].sort();
  // A folder inside another adds nothing.
  const outer = sorted.filter(
    (f) => !sorted.some((o) => o !== f && (o === '.' || f.startsWith(`${o}/`))),
  );
  const covered = (file: string) =>
    file.endsWith('.py') &&
    outer.some((o) => o === '.' || file.startsWith(`${o}/`) || dirname(file) === o);
  // Notebooks are sources too (the analyzer reads their code cells).
  return [
    ...outer.flatMap((f) =>
      SOURCE_GLOBS.map((glob) =>
        f === '.' ? `{workspaceRoot}/${glob}` : `{workspaceRoot}/${f}/${glob}`,
      ),
    ),
    ...[...files].filter((f) => !covered(f)).map((f) => `{workspaceRoot}/${f}`),
  ];
}

const SOURCE_GLOBS = ['**/*.py', '**/*.ipynb'];

/** The folder above the outermost package (folder with __init__.py) holding `folder`. */
function packageRootOf(workspaceRoot: string, folder: string): string {
  let dir = folder;
  while (dir !== '.' && dir !== '' && existsSync(join(workspaceRoot, dir, '__init__.py'))) {
    dir = dirname(dir);
  }
  return dir === '' ? '.' : dir;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
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
