/**
 * Installed solvers as an alternative to the embedded installer: conda, mamba or micromamba
 * create the environment (`--backend`, `--conda-executable`), and the packer takes it from
 * there, so the tarball is the same kind either way. `--backend auto` looks them up in the
 * reference's order (mamba, $CONDA_EXE, conda, micromamba) and falls back to the embedded
 * installer when none is installed.
 *
 * None of these tools exists on the machines poncho's own tests run on, so the tests check the
 * commands built here and the messages of failures, not a real conda run.
 */
import { constants } from 'node:fs';
import { access, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, delimiter, join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { Lock, LockedPackage } from '@poncho/core/lock';
import type { Logger } from '@poncho/core/log';

export type BackendChoice = 'auto' | 'embedded' | 'conda' | 'mamba' | 'micromamba';
export const BACKEND_CHOICES: BackendChoice[] = [
  'auto',
  'embedded',
  'conda',
  'mamba',
  'micromamba',
];

export interface ExternalBackend {
  kind: 'conda' | 'mamba' | 'micromamba';
  executable: string;
}

export type Backend = { kind: 'embedded' } | ExternalBackend;

/** conda, mamba or micromamba, from an executable's name. */
export function backendKindOf(executable: string): ExternalBackend['kind'] {
  const name = basename(executable);
  if (name.includes('micromamba')) return 'micromamba';
  if (name.includes('mamba')) return 'mamba';
  return 'conda';
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on PATH that is executable. */
export async function which(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Picks the backend from --backend and --conda-executable. */
export async function selectBackend(
  choice: BackendChoice = 'embedded',
  condaExecutable?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Backend> {
  if (condaExecutable) {
    if (!(await isExecutable(condaExecutable))) {
      throw new PonchoError(
        'ERR_BACKEND_NOT_FOUND',
        `--conda-executable ${condaExecutable} is not an executable file`,
        {
          hint: 'Give the path of conda, mamba or micromamba, or leave the option out to use the embedded installer.',
        },
      );
    }
    const kind =
      choice === 'auto' || choice === 'embedded' ? backendKindOf(condaExecutable) : choice;
    return { kind, executable: condaExecutable };
  }
  if (choice === 'embedded') return { kind: 'embedded' };
  if (choice === 'auto') {
    for (const candidate of [
      await which('mamba', env),
      env.CONDA_EXE,
      await which('conda', env),
      await which('micromamba', env),
    ]) {
      if (candidate && (await isExecutable(candidate)))
        return { kind: backendKindOf(candidate), executable: candidate };
    }
    return { kind: 'embedded' };
  }
  const found =
    (choice === 'conda' && env.CONDA_EXE && (await isExecutable(env.CONDA_EXE))
      ? env.CONDA_EXE
      : undefined) ?? (await which(choice, env));
  if (!found) {
    throw new PonchoError(
      'ERR_BACKEND_NOT_FOUND',
      `--backend ${choice}: no ${choice} executable found on PATH`,
      {
        hint: `Install ${choice}, give its path with --conda-executable, or use --backend embedded (the default, needs nothing installed).`,
      },
    );
  }
  return { kind: choice, executable: found };
}

export interface BackendCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
}

/** `<tool> create` for match specs. */
export function createCommand(
  backend: ExternalBackend,
  prefix: string,
  specs: string[],
  channels: string[],
  platform?: string,
): BackendCommand {
  const args = ['create', '--yes', '--prefix', prefix, '--override-channels'];
  for (const channel of channels) args.push('--channel', channel);
  const env: Record<string, string> = {};
  if (platform) {
    if (backend.kind === 'micromamba') args.push('--platform', platform);
    else env.CONDA_SUBDIR = platform;
  }
  args.push(...specs);
  return { file: backend.executable, args, env };
}

/** The `@EXPLICIT` file of a lock: exact URLs with their checksums, no solving. */
export function explicitFile(lock: Lock): string {
  const lines = [
    '# Written by poncho_package_create from a lock file.',
    `# platform: ${lock.platform}`,
    '@EXPLICIT',
  ];
  for (const pkg of lock.packages)
    lines.push(pkg.md5 ? `${pkg.url}#${pkg.md5}` : `${pkg.url}#sha256:${pkg.sha256}`);
  return `${lines.join('\n')}\n`;
}

/** `<tool> create --file explicit.txt`. */
export function explicitCommand(
  backend: ExternalBackend,
  prefix: string,
  file: string,
): BackendCommand {
  return {
    file: backend.executable,
    args: ['create', '--yes', '--prefix', prefix, '--file', file],
    env: {},
  };
}

async function run(
  command: BackendCommand,
  what: string,
  signal?: AbortSignal,
  logger?: Logger,
): Promise<void> {
  logger?.info(`running ${[command.file, ...command.args].join(' ')}`);
  const { execa } = await import('execa');
  let result: Awaited<ReturnType<typeof execa>>;
  try {
    result = await execa(command.file, command.args, {
      env: command.env,
      reject: false,
      all: true,
      cancelSignal: signal,
    });
  } catch (error) {
    throw new PonchoError(
      'ERR_BACKEND',
      `cannot run ${command.file}: ${(error as Error).message}`,
      {
        hint: 'Check that the conda executable exists and is executable, or use --backend embedded.',
        cause: error,
      },
    );
  }
  if (result.exitCode !== 0) {
    const output = String(result.all ?? '')
      .trim()
      .split('\n')
      .slice(-20)
      .join('\n');
    throw new PonchoError(
      'ERR_BACKEND',
      `${basename(command.file)} failed to ${what} (exit ${result.exitCode ?? result.signal}):\n${output}`,
      {
        hint: 'Read its message above; a solve error usually means a version that does not exist on the channels, or conflicting pins.',
      },
    );
  }
}

export interface ExternalCreateOptions {
  channels: string[];
  platform: string;
  logger?: Logger;
  signal?: AbortSignal;
  /** A scratch folder for the explicit file. */
  scratch: string;
}

/** Creates the prefix with conda/mamba/micromamba, from specs or a lock; returns the lock. */
export async function createWithBackend(
  backend: ExternalBackend,
  prefix: string,
  input: { specs: string[] } | { lock: Lock },
  options: ExternalCreateOptions,
): Promise<Lock> {
  if ('lock' in input) {
    const file = join(options.scratch, 'explicit.txt');
    await writeFile(file, explicitFile(input.lock));
    await run(
      explicitCommand(backend, prefix, file),
      'create the environment from the lock',
      options.signal,
      options.logger,
    );
    return input.lock;
  }
  await run(
    createCommand(backend, prefix, input.specs, options.channels, options.platform),
    'solve and create the environment',
    options.signal,
    options.logger,
  );
  return lockFromPrefix(prefix, options.platform, options.channels, input.specs);
}

/** Reads a Lock back from conda-meta (what an installed solver chose). */
export async function lockFromPrefix(
  prefix: string,
  platform: string,
  channels: string[],
  specs: string[],
): Promise<Lock> {
  const dir = join(prefix, 'conda-meta');
  const packages: LockedPackage[] = [];
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch (error) {
    // It said it succeeded but made no environment: a wrong executable, not a bug of ours.
    throw new PonchoError(
      'ERR_BACKEND',
      `the conda executable exited with status 0 but created no environment in ${prefix} (no conda-meta folder)`,
      {
        hint: 'Check that --conda-executable names conda, mamba or micromamba, or use --backend embedded.',
        cause: error,
      },
    );
  }
  for (const name of names) {
    const r = JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;
    const url = String(r.url ?? '');
    const fileName = String(r.fn ?? url.split('/').pop() ?? name.replace(/\.json$/, '.conda'));
    const sha256 = typeof r.sha256 === 'string' ? r.sha256 : '';
    if (!/^[0-9a-f]{64}$/.test(sha256)) continue; // not from a channel (e.g. a local build): cannot be locked
    packages.push({
      name: String(r.name),
      version: String(r.version),
      build: String(r.build ?? r.build_string ?? ''),
      buildNumber: Number(r.build_number ?? 0),
      subdir: String(r.subdir ?? platform),
      channel: String(r.channel ?? url.split('/').slice(0, -2).join('/')),
      url,
      fileName,
      sha256,
      ...(typeof r.md5 === 'string' ? { md5: r.md5 } : {}),
      ...(typeof r.size === 'number' ? { size: r.size } : {}),
      depends: Array.isArray(r.depends) ? (r.depends as string[]) : [],
      ...(r.noarch === 'python' || r.noarch === 'generic' ? { noarch: r.noarch } : {}),
    });
  }
  return { lockVersion: 1, platform, channels, specs, packages, pip: [] };
}
