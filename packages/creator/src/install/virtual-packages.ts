/**
 * Virtual packages (`__glibc`, `__linux`, `__unix`, `__osx`, `__archspec`, `__cuda`): facts about
 * the target machine that packages depend on. Detected on the host when the target is the host
 * platform (never by executing anything from the environment); for another platform, conda's
 * defaults. Overridable like conda: CONDA_OVERRIDE_GLIBC, _LINUX, _OSX, _CUDA, _ARCHSPEC (an empty
 * value removes the package), or InstallerOptions.virtualPackages.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { PonchoError } from '@poncho/core/errors';
import { archOf, hostPlatform } from './platform.js';

export interface VirtualPackage {
  name: string;
  version: string;
  build: string;
}

/** glibc version of the running Node (reported by the C library itself). */
function hostGlibc(): string | undefined {
  const report = process.report?.getReport() as
    | { header?: { glibcVersionRuntime?: string } }
    | undefined;
  return report?.header?.glibcVersionRuntime;
}

function hostLinuxVersion(): string {
  return /^(\d+(?:\.\d+){0,3})/.exec(release())?.[1] ?? '0';
}

/**
 * The x86-64 microarchitecture level of this CPU (x86_64_v2, _v3, _v4, as conda reports it in
 * __archspec), from the flags in /proc/cpuinfo; undefined elsewhere (conda then reports the
 * bare architecture, as we do).
 */
export function hostMicroarchitecture(cpuinfo = readCpuinfo()): string | undefined {
  if (process.arch !== 'x64' || cpuinfo === undefined) return undefined;
  const flags = new Set(/^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.split(/\s+/) ?? []);
  const has = (list: string[]) => list.every((flag) => flags.has(flag));
  // The x86-64 psABI levels (lzcnt is reported as abm).
  const v2 = ['cx16', 'lahf_lm', 'popcnt', 'sse4_1', 'sse4_2', 'ssse3'];
  const v3 = ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'];
  const v4 = ['avx512f', 'avx512bw', 'avx512cd', 'avx512dq', 'avx512vl'];
  if (!has(v2)) return 'x86_64';
  if (!has(v3)) return 'x86_64_v2';
  return has(v4) ? 'x86_64_v4' : 'x86_64_v3';
}

function readCpuinfo(): string | undefined {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
}

const OVERRIDES: Record<string, string> = {
  __glibc: 'CONDA_OVERRIDE_GLIBC',
  __linux: 'CONDA_OVERRIDE_LINUX',
  __osx: 'CONDA_OVERRIDE_OSX',
  __cuda: 'CONDA_OVERRIDE_CUDA',
  __archspec: 'CONDA_OVERRIDE_ARCHSPEC',
};

export function detectVirtualPackages(
  platform: string,
  overrides: Record<string, string> = {},
  env: NodeJS.ProcessEnv = process.env,
): VirtualPackage[] {
  const onHost = platform === hostPlatform();
  const os = platform.split('-')[0];
  const found = new Map<string, VirtualPackage>();
  const add = (name: string, version: string, build = '0') =>
    found.set(name, { name, version, build });
  if (os === 'linux' || os === 'osx' || os === 'freebsd') add('__unix', '0');
  if (os === 'win') add('__win', '0');
  if (os === 'linux') {
    add('__linux', onHost ? hostLinuxVersion() : '0');
    // conda's default for a foreign linux target is glibc 2.17 (its oldest supported baseline).
    const glibc = onHost ? hostGlibc() : '2.17';
    if (glibc) add('__glibc', glibc);
  }
  if (os === 'osx') add('__osx', platform === 'osx-arm64' ? '11.0' : '10.15');
  add('__archspec', '1', (onHost ? hostMicroarchitecture() : undefined) ?? archOf(platform));

  // Overrides: environment first, explicit options win.
  const apply = (name: string, value: string, source: string) => {
    if (value === '') {
      found.delete(name);
      return;
    }
    if (name === '__archspec') {
      add('__archspec', '1', value);
      return;
    }
    // conda's overrides are versions: 2.17, 5.10.0, 12.4 (letters are no version conda reads).
    if (!/^\d+(\.\d+)*$/.test(value)) {
      throw new PonchoError(
        'ERR_VIRTUAL_PACKAGE',
        `invalid version for ${name} in ${source}: "${value}"`,
        {
          hint: 'Give a plain version such as 2.17.',
        },
      );
    }
    add(name, value);
  };
  for (const [name, variable] of Object.entries(OVERRIDES)) {
    const value = env[variable];
    if (value !== undefined) apply(name, value.trim(), variable);
  }
  for (const [rawName, value] of Object.entries(overrides)) {
    const name = rawName.startsWith('__') ? rawName : `__${rawName}`;
    apply(name, value.trim(), 'the virtualPackages option');
  }
  return [...found.values()];
}

/** The virtual packages as a repodata document of a synthetic channel, for the solver. */
export function virtualRepodata(
  packages: VirtualPackage[],
  subdir: string,
): Record<string, unknown> {
  const records: Record<string, unknown> = {};
  for (const p of packages) {
    records[`${p.name}-${p.version}-${p.build}.tar.bz2`] = {
      name: p.name,
      version: p.version,
      build: p.build,
      build_number: 0,
      depends: [],
      subdir,
    };
  }
  return { info: { subdir }, packages: records, 'packages.conda': {}, repodata_version: 1 };
}
