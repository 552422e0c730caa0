/**
 * The spec's pip section, installed with the environment's own pip (`python -m pip install`),
 * as the reference does, from --pip-index-url / --find-links. Local paths are installed as
 * copies (never editable: an editable install points back at the build machine). Afterwards the
 * exact pins of what pip installed are read back (`pip inspect`) for the lock file.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { Logger } from '@poncho/core/log';

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
  ])
    delete env[key];
  env.PYTHONNOUSERSITE = '1';
  env.PIP_DISABLE_PIP_VERSION_CHECK = '1';
  env.PIP_NO_INPUT = '1';
  // A python repackaged from a distribution may carry EXTERNALLY-MANAGED; this env is ours.
  env.PIP_BREAK_SYSTEM_PACKAGES = '1';
  return env;
}

export function pipInstallCommand(
  prefix: string,
  requirements: string[],
  options: PipOptions,
): { file: string; args: string[] } {
  const args = ['-m', 'pip', 'install', '--no-warn-script-location'];
  if (options.exact) args.push('--no-deps');
  if (options.noIndex) args.push('--no-index');
  else if (options.indexUrl) args.push('--index-url', options.indexUrl);
  for (const link of options.findLinks ?? [])
    args.push('--find-links', link.includes('://') ? link : resolve(link));
  args.push(...pipArguments(requirements, options.baseDir, options.logger));
  return { file: join(prefix, 'bin', 'python'), args };
}

/** Installs the requirements into the prefix. Returns the exact pins of what pip installed. */
export async function installPipRequirements(
  prefix: string,
  requirements: string[],
  options: PipOptions,
): Promise<string[]> {
  if (requirements.length === 0) return [];
  const { file, args } = pipInstallCommand(prefix, requirements, options);
  if (!existsSync(file)) {
    throw new PonchoError(
      'ERR_PIP_NO_PYTHON',
      `the spec has a pip section, but the environment has no python (${file})`,
      {
        hint: 'Add python and pip to the conda dependencies.',
      },
    );
  }
  options.logger?.info(
    `installing ${requirements.length} pip requirement(s) with the environment's pip`,
  );
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
    throw new PonchoError(
      'ERR_PIP',
      `pip could not install ${requirements.join(', ')} (exit ${result.exitCode ?? result.signal}):\n${output}`,
      {
        hint: noPip
          ? 'Add pip to the conda dependencies.'
          : 'Check the requirement names and versions, and --pip-index-url / --find-links (pip cannot reach PyPI from every machine).',
      },
    );
  }
  return pipPins(prefix, options.signal);
}

/** `name==version` (or `name @ file:///...` for local files) of every package pip installed. */
export async function pipPins(prefix: string, signal?: AbortSignal): Promise<string[]> {
  const python = join(prefix, 'bin', 'python');
  const { execa } = await import('execa');
  const result = await execa(python, ['-m', 'pip', 'inspect', '--local'], {
    env: pipEnv(),
    extendEnv: false,
    reject: false,
    cancelSignal: signal,
  });
  if (result.exitCode !== 0) return [];
  const report = JSON.parse(String(result.stdout)) as {
    installed?: Array<{
      metadata?: { name?: string; version?: string };
      installer?: string;
      direct_url?: { url?: string };
    }>;
  };
  const pins: string[] = [];
  for (const dist of report.installed ?? []) {
    if (dist.installer !== 'pip' || !dist.metadata?.name) continue;
    const url = dist.direct_url?.url;
    if (url?.startsWith('file:')) pins.push(`${dist.metadata.name} @ ${url}`);
    else pins.push(`${dist.metadata.name}==${dist.metadata.version}`);
  }
  return pins.sort();
}
