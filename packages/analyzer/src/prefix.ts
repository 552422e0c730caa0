/**
 * Reads a conda environment (prefix) directly, without running conda or pip: which package
 * provides each top-level importable module, and at which exact version. Conda packages come
 * from `conda-meta/*.json` ("files"); pip-installed distributions from the `*.dist-info` /
 * `*.egg-info` folders in site-packages that no conda package owns.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { RunInputs } from './run-inputs.js';

export type Provider =
  | { kind: 'conda'; name: string; version: string; build: string }
  | { kind: 'pip'; name: string; version: string };

export interface PrefixIndex {
  prefix: string;
  /** Conda packages by name. */
  conda: Map<string, Extract<Provider, { kind: 'conda' }>>;
  /** Pip distributions by lower-cased name. */
  pip: Map<string, Extract<Provider, { kind: 'pip' }>>;
  /** Top-level module name -> the package that installed it (conda first, then pip). */
  modules: Map<string, Provider>;
  /**
   * Dotted module name (up to MAX_DEPTH components: `google`, `google.cloud`,
   * `google.cloud.storage`) -> every package that installed files below it. A namespace folder
   * has several; see providerOf().
   */
  owners: Map<string, Provider[]>;
  /** Dotted package name -> the package that installed its `__init__.py` (a regular package). */
  regular: Map<string, Provider>;
  /** Top-level modules that are files (`six.py`, `_cffi_backend.*.so`), not folders. */
  moduleFiles: Set<string>;
}

/** Namespace packages nest at most three deep (azure.mgmt.compute); one more is plenty. */
const MAX_DEPTH = 4;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The package that provides `module` (dotted), judged on the longest dotted prefix some package
 * installed files under: `google.cloud.storage.blob` is google-cloud-storage's even though
 * `google/` holds the files of many packages. A prefix shared by several packages decides only
 * when one of them owns its `__init__.py` (Python imports a regular package first); a shared
 * namespace folder decides nothing (undefined), and neither does any shorter prefix.
 */
export function providerOf(index: PrefixIndex, module: string): Provider | undefined {
  const parts = module.split('.').slice(0, MAX_DEPTH);
  for (let n = parts.length; n > 0; n--) {
    const name = parts.slice(0, n).join('.');
    const owners = index.owners.get(name);
    if (!owners) continue;
    if (owners.length === 1) return owners[0];
    return index.regular.get(name);
  }
  return undefined;
}

/**
 * Records that `provider` installed `path` (relative to site-packages, `/`-separated): every
 * dotted prefix of the module it belongs to gets the provider as an owner.
 */
function addInstalledFile(index: PrefixIndex, path: string, provider: Provider): void {
  const parts = path.split('/');
  let name = '';
  for (let i = 0; i < parts.length && i < MAX_DEPTH; i++) {
    const isFolder = i < parts.length - 1;
    const part = parts[i] as string;
    if (!isFolder && part === '__init__.py') {
      if (name && !index.regular.has(name)) index.regular.set(name, provider);
      return;
    }
    const module = i === 0 ? moduleOfEntry(part, isFolder) : moduleOfPart(part, isFolder);
    if (!module) return;
    if (i === 0 && !isFolder) index.moduleFiles.add(module);
    name = name ? `${name}.${module}` : module;
    const owners = index.owners.get(name);
    if (!owners) index.owners.set(name, [provider]);
    else if (!owners.includes(provider)) owners.push(provider);
  }
}

function moduleOfPart(part: string, isFolder: boolean): string | undefined {
  if (isFolder) return IDENTIFIER.test(part) ? part : undefined;
  const module = part.endsWith('.py') ? part.slice(0, -3) : EXTENSION.exec(part)?.[1];
  return module && IDENTIFIER.test(module) ? module : undefined;
}

/** `python=3.11.3=h2755cc3_0_cpython` / `uproot==5.0.5`: the reference's exact pins. */
export function pin(provider: Provider): string {
  return provider.kind === 'conda'
    ? `${provider.name}=${provider.version}=${provider.build}`
    : `${provider.name}==${provider.version}`;
}

const SITE_PACKAGES =
  /(?:^|\/)(?:lib\/python\d+(?:\.\d+)*t?|Lib)\/site-packages\/(([^/]+)(\/)?.*)$/;
const METADATA_FOLDER = /\.(?:dist-info|egg-info|data)$/;
const EXTENSION = /^([A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z0-9_-]+)?\.(?:so|pyd)$/;

/** The top-level module a site-packages entry provides, if any (`yaml/`, `six.py`, `_x.*.so`). */
function moduleOfEntry(entry: string, isFolder: boolean): string | undefined {
  if (entry === '__pycache__') return undefined;
  if (isFolder)
    return METADATA_FOLDER.test(entry) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(entry)
      ? undefined
      : entry;
  if (entry.endsWith('.py')) return entry.slice(0, -3);
  return EXTENSION.exec(entry)?.[1];
}

interface CondaMeta {
  name?: string;
  version?: string;
  build?: string;
  files?: string[];
}

/** `inputs` records every folder listed and file read (for the whole-run cache). */
export async function readPrefix(prefix: string, inputs?: RunInputs): Promise<PrefixIndex> {
  const metaDir = join(prefix, 'conda-meta');
  let names: string[];
  inputs?.path(metaDir);
  try {
    names = (await readdir(metaDir)).filter((n) => n.endsWith('.json')).sort();
  } catch (error) {
    throw new PonchoError(
      'ERR_PREFIX',
      `not a conda environment (no readable conda-meta folder): ${prefix}`,
      {
        hint: 'Pass --prefix the folder of a conda environment, or --no-env to ignore $CONDA_PREFIX.',
        cause: error,
      },
    );
  }
  const index: PrefixIndex = {
    prefix,
    conda: new Map(),
    pip: new Map(),
    modules: new Map(),
    owners: new Map(),
    regular: new Map(),
    moduleFiles: new Set(),
  };
  const condaOwned = new Set<string>();
  const metas = await Promise.all(
    names.map(async (name) => {
      try {
        inputs?.path(join(metaDir, name));
        return JSON.parse(await readFile(join(metaDir, name), 'utf8')) as CondaMeta;
      } catch (error) {
        throw new PonchoError(
          'ERR_PREFIX',
          `unreadable conda package record ${join(metaDir, name)}`,
          {
            hint: 'The environment looks damaged; repair it (conda install --force-reinstall) or use another one.',
            cause: error,
          },
        );
      }
    }),
  );
  for (const meta of metas) {
    if (!meta.name || !meta.version || meta.build === undefined) continue;
    const provider = {
      kind: 'conda' as const,
      name: meta.name,
      version: meta.version,
      build: meta.build,
    };
    index.conda.set(meta.name, provider);
    for (const file of meta.files ?? []) {
      const match = SITE_PACKAGES.exec(file);
      if (!match?.[1] || !match[2]) continue;
      condaOwned.add(match[2]);
      const module = moduleOfEntry(match[2], match[3] === '/');
      if (module && !index.modules.has(module)) index.modules.set(module, provider);
      addInstalledFile(index, match[1], provider);
    }
  }
  for (const site of await sitePackagesFolders(prefix, inputs)) {
    let entries: string[];
    inputs?.path(site);
    try {
      entries = (await readdir(site)).sort();
    } catch {
      continue;
    }
    // Read concurrently, applied in name order (the first provider of a module wins).
    const dists = await Promise.all(
      entries
        .filter((entry) => !condaOwned.has(entry) && /\.(?:dist-info|egg-info)$/.test(entry))
        .map((entry) => readDistribution(join(site, entry), inputs)),
    );
    for (const dist of dists) {
      if (!dist) continue;
      index.pip.set(dist.provider.name.toLowerCase(), dist.provider);
      for (const module of dist.modules) {
        if (!index.modules.has(module)) index.modules.set(module, dist.provider);
        addInstalledFile(index, `${module}/`, dist.provider);
      }
      for (const path of dist.files) addInstalledFile(index, path, dist.provider);
    }
  }
  return index;
}

async function sitePackagesFolders(prefix: string, inputs?: RunInputs): Promise<string[]> {
  const folders: string[] = [];
  inputs?.path(join(prefix, 'lib'));
  try {
    for (const entry of (await readdir(join(prefix, 'lib'))).sort()) {
      if (/^python\d/.test(entry)) folders.push(join(prefix, 'lib', entry, 'site-packages'));
    }
  } catch {
    // No lib/: a Windows layout, or not a Python environment at all.
  }
  folders.push(join(prefix, 'Lib', 'site-packages'));
  return folders;
}

/** Name, version and top-level modules of one pip-installed distribution. */
async function readDistribution(
  folder: string,
  inputs: RunInputs | undefined,
): Promise<
  { provider: Extract<Provider, { kind: 'pip' }>; modules: string[]; files: string[] } | undefined
> {
  const isEgg = folder.endsWith('.egg-info');
  const read = (name: string) => {
    // A file missing now (no top_level.txt) may appear later: recorded as missing.
    inputs?.path(join(folder, name));
    return readFile(join(folder, name), 'utf8').catch(() => undefined);
  };
  let metadata: string | undefined;
  inputs?.path(folder);
  try {
    metadata = (await stat(folder)).isDirectory()
      ? await read(isEgg ? 'PKG-INFO' : 'METADATA')
      : await read('');
  } catch {
    return undefined;
  }
  if (!metadata) return undefined;
  const header = (key: string) =>
    new RegExp(`^${key}:[ \\t]*(.+?)[ \\t]*$`, 'mi').exec(metadata ?? '')?.[1];
  const name = header('Name');
  const version = header('Version');
  if (!name || !version) return undefined;
  const modules = new Set<string>();
  const topLevel = await read('top_level.txt');
  // RECORD (CSV, paths relative to site-packages) or installed-files.txt (relative to the
  // egg-info): the files, so that namespace portions (google/cloud/storage/) are known.
  const listing = (await read('RECORD')) ?? (await read('installed-files.txt')) ?? '';
  const files: string[] = [];
  for (const line of listing.split(/\r?\n/)) {
    let path = (line.split(',')[0] ?? '').trim();
    if (isEgg) path = path.replace(/^\.\.\//, '');
    if (!path || path.startsWith('../') || path.startsWith('/')) continue;
    files.push(path);
    if (topLevel !== undefined) continue;
    const [first, ...rest] = path.split('/');
    const module = first ? moduleOfEntry(first, rest.length > 0) : undefined;
    if (module) modules.add(module);
  }
  for (const line of topLevel?.split(/\r?\n/) ?? []) {
    const module = line.trim().split('/')[0];
    if (module) modules.add(module);
  }
  return { provider: { kind: 'pip', name, version }, modules: [...modules].sort(), files };
}
