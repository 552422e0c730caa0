/**
 * The spec's pip section, installed with the environment's own pip (`python -m pip install`),
 * as the reference does, from --pip-index-url / --find-links. Local paths are installed as
 * copies (never editable: an editable install points back at the build machine). pip's
 * installation report gives the exact pins of what it installed, with the sha256 of each
 * archive, for the lock file.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { Logger } from '@poncho/core/log';
import { compilePython } from './install/compile.js';
import type { PythonLayout } from './install/link.js';

export interface PipOptions {
  /** --pip-index-url: the package index (default: pip's own configuration). */
  indexUrl?: string;
  /** --find-links: folders or URLs of wheels and sdists. */
  findLinks?: string[];
  /** --no-pip-index: never contact an index (only --find-links). */
  noIndex?: boolean;
  /** Folder that relative paths in the requirements are relative to (the spec's folder). */
  baseDir: string;
  /** Install exactly these pins (from a lock file): no dependency resolution. */
  exact?: boolean;
  /** Byte-compile what pip installed (default true), as the conda packages are. */
  compile?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}

/**
 * pip options that would write outside the environment (or into the user's home): the spec is
 * untrusted input, and the environment is the only place a build may change.
 */
const OUTSIDE_OPTIONS = new Set([
  '-t',
  '--target',
  '--prefix',
  '--root',
  '--user',
  '--src',
  '--log',
  '--log-file',
  '--report',
  '--cache-dir',
  '-d',
  '--dest',
  '--download',
]);

const LOCAL_PATH = /^(\.{1,2}\/|\/|~\/|file:)|\.(whl|tar\.gz|zip)$/;

/**
 * Turns the spec's pip items into pip arguments: options split into words, `-e`/`--editable`
 * dropped (installed as a copy), local paths made absolute against `baseDir`.
 */
export function pipArguments(requirements: string[], baseDir: string, logger?: Logger): string[] {
  const args: string[] = [];
  for (const raw of requirements) {
    const item = raw.trim();
    if (item.startsWith('-')) {
      const [flagWord = '', ...rest] = item.split(/\s+/);
      const flag = flagWord.replace(/=.*$/, '');
      if (OUTSIDE_OPTIONS.has(flag) || /^-t./.test(flagWord)) {
        throw new PonchoError(
          'ERR_PIP_OPTION',
          `pip section: "${item}" would install or write outside the environment`,
          {
            hint: `Remove ${flag} from the spec's pip section: the environment is the only place pip may write.`,
          },
        );
      }
      const inline = flagWord.includes('=') ? flagWord.slice(flagWord.indexOf('=') + 1) : '';
      const value = rest.join(' ') || inline;
      if (flag === '-e' || flag === '--editable') {
        logger?.warn(
          `pip: installing ${value} as a copy, not editable (an editable install would point at this machine)`,
        );
        args.push(localPath(value, baseDir));
      } else if (
        flag === '-r' ||
        flag === '--requirement' ||
        flag === '-c' ||
        flag === '--constraint'
      ) {
        args.push(flag, localPath(value, baseDir));
      } else {
        args.push(flagWord, ...rest);
      }
      continue;
    }
    // A path, not a requirement (`name @ url`, `name==1.0` hold characters a path here does not).
    args.push(LOCAL_PATH.test(item) && !/[\s@=<>!~;]/.test(item) ? localPath(item, baseDir) : item);
  }
  return args;
}

function localPath(value: string, baseDir: string): string {
  if (value.startsWith('file:')) return value;
  const expanded = value.startsWith('~/') ? join(process.env.HOME ?? '', value.slice(2)) : value;
  return isAbsolute(expanded) ? expanded : resolve(baseDir, expanded);
}

/** The environment for pip: no user site, no PYTHONPATH, no interference from the host's venv. */
function pipEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of [
    'PYTHONPATH',
    'PYTHONHOME',
    'VIRTUAL_ENV',
    'PIP_USER',
    'PIP_TARGET',
    'PIP_PREFIX',
    // pip prints through rich, which colours even a pipe when FORCE_COLOR is set (to anything,
    // 0 included, as CI systems and Nx set it): `pip inspect` would then print JSON with
    // escape codes in it.
    'FORCE_COLOR',
    'TTY_COMPATIBLE',
  ])
    delete env[key];
  env.NO_COLOR = '1';
  env.PYTHONNOUSERSITE = '1';
  // pip's own imports would leave .pyc files of the standard library in the environment
  // (which ones depends on pip; they name the build folder). What pip installs is compiled
  // explicitly (compileInstalled).
  env.PYTHONDONTWRITEBYTECODE = '1';
  env.PIP_DISABLE_PIP_VERSION_CHECK = '1';
  env.PIP_NO_INPUT = '1';
  // A python repackaged from a distribution may carry EXTERNALLY-MANAGED; this env is ours.
  env.PIP_BREAK_SYSTEM_PACKAGES = '1';
  return env;
}

export function pipInstallCommand(
  prefix: string,
  requirements: string[],
  options: PipOptions & { reportFile?: string; requirementsFile?: string },
): { file: string; args: string[] } {
  // --no-compile: pip's .pyc files would name the build folder; installPipRequirements
  // compiles what pip installed itself, as the conda packages' files are compiled.
  const args = ['-m', 'pip', 'install', '--no-warn-script-location', '--no-compile'];
  if (options.exact) args.push('--no-deps');
  if (options.noIndex) args.push('--no-index');
  else if (options.indexUrl) args.push('--index-url', options.indexUrl);
  for (const link of options.findLinks ?? [])
    args.push('--find-links', link.includes('://') ? link : resolve(link));
  if (options.reportFile) args.push('--report', options.reportFile);
  if (options.requirementsFile) args.push('-r', options.requirementsFile);
  else args.push(...pipArguments(requirements, options.baseDir, options.logger));
  return { file: join(prefix, 'bin', 'python'), args };
}

/** What a pip section installed: pins for the lock, and which of them were asked for. */
export interface PipInstalled {
  /** Requirement-file lines with the sha256 of each archive (see Lock.pip). */
  pins: string[];
  /** Normalised names of the distributions the pip section asked for. */
  requested: string[];
}

/**
 * Installs the requirements into the prefix and returns what pip installed, from its
 * installation report. From a lock (`exact`), the pins are installed from a requirements file,
 * so pip checks every archive against its recorded sha256 (hash-checking mode), and only the
 * distributions the first build was asked for keep pip's REQUESTED marker: the rebuild is the
 * same environment, byte for byte.
 */
export async function installPipRequirements(
  prefix: string,
  requirements: string[],
  options: PipOptions & { requested?: string[] },
): Promise<PipInstalled> {
  if (requirements.length === 0) return { pins: [], requested: [] };
  const python = join(prefix, 'bin', 'python');
  if (!existsSync(python)) {
    throw new PonchoError(
      'ERR_PIP_NO_PYTHON',
      `the spec has a pip section, but the environment has no python (${python})`,
      {
        hint: 'Add python and pip to the conda dependencies.',
      },
    );
  }
  options.logger?.info(
    `installing ${requirements.length} pip requirement(s) with the environment's pip`,
  );
  // Beside the prefix, not in it: nothing of the install's own bookkeeping gets packed.
  const scratch = await mkdtemp(join(dirname(prefix), `.${basename(prefix)}.pip-`));
  try {
    const reportFile = join(scratch, 'report.json');
    let requirementsFile: string | undefined;
    if (options.exact) {
      requirementsFile = join(scratch, 'requirements.txt');
      await writeFile(requirementsFile, `${requirements.join('\n')}\n`);
    }
    const { file, args } = pipInstallCommand(prefix, requirements, {
      ...options,
      reportFile,
      requirementsFile,
    });
    const { execa } = await import('execa');
    const result = await execa(file, args, {
      env: pipEnv(),
      extendEnv: false,
      reject: false,
      all: true,
      cancelSignal: options.signal,
      cwd: options.baseDir,
    });
    if (result.exitCode !== 0) {
      const output = String(result.all ?? '')
        .trim()
        .split('\n')
        .slice(-15)
        .join('\n');
      const noPip = /No module named pip/.test(output);
      const badHash = /DO NOT MATCH THE HASHES/.test(output);
      throw new PonchoError(
        badHash ? 'ERR_PIP_HASH' : 'ERR_PIP',
        badHash
          ? `pip: an archive of the lock's pip section is not the one the lock records (sha256 differs):\n${output}`
          : `pip could not install ${requirements.join(', ')} (exit ${result.exitCode ?? result.signal}):\n${output}`,
        {
          hint: badHash
            ? 'The wheel was replaced since the lock was written: restore it, or rebuild from the spec to write a new lock.'
            : noPip
              ? 'Add pip to the conda dependencies.'
              : 'Check the requirement names and versions, and --pip-index-url / --find-links (pip cannot reach PyPI from every machine).',
        },
      );
    }
    const installed = await readInstallReport(reportFile);
    const markers = options.exact && options.requested;
    const compile = options.compile !== false;
    // `pip inspect` (a pip start, ~0.5 s) only when something needs the installed list.
    const distributions =
      markers || compile || !installed ? await inspectPip(prefix, options.signal) : [];
    if (markers) await keepRequestedMarkers(distributions, new Set(options.requested));
    if (compile) await compileInstalled(prefix, distributions, options.signal);
    return installed ?? { pins: pinsOf(distributions), requested: [] };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** pip's name normalisation (PEP 503): lower case, runs of -_. as one dash. */
export function normalizePipName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

/**
 * Pins from pip's installation report (`pip install --report`, pip >= 22.2): `name==version`
 * or `name @ URL` for a direct reference, each with the archive's sha256. undefined when this
 * pip wrote no report (older pips: the lock then has pins without hashes).
 */
async function readInstallReport(path: string): Promise<PipInstalled | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const report = JSON.parse(text) as {
    install?: Array<{
      metadata?: { name?: string; version?: string };
      is_direct?: boolean;
      requested?: boolean;
      download_info?: {
        url?: string;
        archive_info?: { hash?: string; hashes?: Record<string, string> };
      };
    }>;
  };
  const pins: string[] = [];
  const requested: string[] = [];
  for (const item of report.install ?? []) {
    const name = item.metadata?.name;
    if (!name) continue;
    const archive = item.download_info?.archive_info;
    const sha256 =
      archive?.hashes?.sha256 ?? /^sha256=([0-9a-f]{64})$/.exec(archive?.hash ?? '')?.[1];
    const url = item.download_info?.url;
    const pin = item.is_direct && url ? `${name} @ ${url}` : `${name}==${item.metadata?.version}`;
    pins.push(sha256 ? `${pin} --hash=sha256:${sha256}` : pin);
    if (item.requested) requested.push(normalizePipName(name));
  }
  return { pins: pins.sort(), requested: requested.sort() };
}

/** Removes pip's REQUESTED marker from the distributions that are not in `requested`. */
async function keepRequestedMarkers(
  distributions: InspectedDistribution[],
  requested: Set<string>,
): Promise<void> {
  for (const dist of distributions) {
    if (!dist.metadata_location || requested.has(normalizePipName(dist.metadata?.name ?? ''))) {
      continue;
    }
    const marker = join(dist.metadata_location, 'REQUESTED');
    if (!existsSync(marker)) continue;
    await rm(marker);
    // RECORD lists every installed file, the marker too: drop its line, as if never written.
    const record = join(dist.metadata_location, 'RECORD');
    const lines = (await readFile(record, 'utf8')).split('\n');
    const name = `${basename(dist.metadata_location)}/REQUESTED,`;
    await writeFile(record, lines.filter((line) => !line.startsWith(name)).join('\n'));
  }
}

interface InspectedDistribution {
  metadata?: { name?: string; version?: string };
  installer?: string;
  metadata_location?: string;
  direct_url?: { url?: string };
}

/** `pip inspect --local`: the distributions pip installed into the prefix. */
async function inspectPip(prefix: string, signal?: AbortSignal): Promise<InspectedDistribution[]> {
  const python = join(prefix, 'bin', 'python');
  const { execa } = await import('execa');
  const result = await execa(python, ['-m', 'pip', 'inspect', '--local'], {
    env: pipEnv(),
    extendEnv: false,
    reject: false,
    cancelSignal: signal,
  });
  if (result.exitCode !== 0) return [];
  const report = JSON.parse(String(result.stdout)) as { installed?: InspectedDistribution[] };
  return (report.installed ?? []).filter((dist) => dist.installer === 'pip');
}

/**
 * Byte-compiles the python files of the distributions pip installed (their RECORD lists them)
 * with compilePython, which records each source relative to the environment.
 */
async function compileInstalled(
  prefix: string,
  distributions: InspectedDistribution[],
  signal?: AbortSignal,
): Promise<void> {
  const root = resolve(prefix);
  const byLayout = new Map<string, { layout: PythonLayout; sources: string[] }>();
  for (const dist of distributions) {
    const location = dist.metadata_location;
    const site = location && /^(.*\/lib\/python(\d+\.\d+)\/site-packages)\/[^/]+$/.exec(location);
    if (!location || !site?.[1] || !site[2]) continue;
    const record = await readFile(join(location, 'RECORD'), 'utf8').catch(() => '');
    for (const line of record.split('\n')) {
      const path = line.split(',')[0] ?? '';
      if (!path.endsWith('.py')) continue;
      const inside = relative(root, resolve(site[1], path));
      if (inside.startsWith('..') || isAbsolute(inside)) continue;
      const sitePackages = relative(root, site[1]);
      let entry = byLayout.get(site[2]);
      if (!entry) {
        entry = { layout: { version: site[2], sitePackages }, sources: [] };
        byLayout.set(site[2], entry);
      }
      entry.sources.push(inside);
    }
  }
  for (const { layout, sources } of byLayout.values()) {
    await compilePython(prefix, layout, sources.sort(), signal);
  }
}

/** `name==version` (or `name @ file:///...` for local files) of every package pip installed. */
function pinsOf(distributions: InspectedDistribution[]): string[] {
  const pins: string[] = [];
  for (const dist of distributions) {
    if (!dist.metadata?.name) continue;
    const url = dist.direct_url?.url;
    if (url?.startsWith('file:')) pins.push(`${dist.metadata.name} @ ${url}`);
    else pins.push(`${dist.metadata.name}==${dist.metadata.version}`);
  }
  return pins.sort();
}
