/**
 * Locking without building: a spec -> the lock a build of it would use (solved with the
 * embedded installer, nothing downloaded or installed), and the check whether an existing lock
 * still satisfies a spec, so that a committed lock file is kept until the spec really needs
 * other packages (as pixi and npm keep theirs).
 */
import { Version, VersionSpec } from '@conda-org/rattler';
import { PonchoError } from '@poncho/core/errors';
import { type Lock, type LockedPackage, pipIsPinned } from '@poncho/core/lock';
import { condaDependencies, pipDependencies, type Spec } from '@poncho/core/spec';
import { lockFileText } from './create.js';
import { type InstallerOptions, resolveChannels } from './install/index.js';
import { hostPlatform } from './install/platform.js';
import { assertPipLockable, type PinPipOptions, pinPipSection } from './pip-lock.js';
import { canonicalLock, solveSpec } from './solve-spec.js';
import { readSpecSource, type SpecSource } from './spec-input.js';

export interface LockSpecOptions
  extends Omit<InstallerOptions, 'channels' | 'compile'>,
    Omit<PinPipOptions, keyof InstallerOptions> {
  /** Channels to solve against instead of the spec's (highest priority first). */
  channels?: string[];
  /**
   * A lock whose conda packages still satisfy the spec (lockSatisfiesSpec's condaSatisfied):
   * kept instead of solving, as pixi keeps its conda packages when only PyPI requirements
   * changed; only the pip section is pinned again.
   */
  keepConda?: Lock;
}

export interface SpecLock {
  lock: Lock;
  spec: Spec;
  /** The lock file's text, exactly as `poncho_package_create --lock-file` writes it. */
  text: string;
}

/**
 * Solves a spec (a path, or an already read spec) into its lock (or keeps `keepConda`'s conda
 * packages). A pip section is pinned as a
 * build pins it (pinPipSection: the conda packages installed into a build folder, pip run
 * there), so the lock is complete: a build from it solves nothing and resolves nothing.
 */
export async function lockSpec(
  specInput: string | SpecSource,
  options: LockSpecOptions = {},
): Promise<SpecLock> {
  const source = typeof specInput === 'string' ? await readSpecSource(specInput) : specInput;
  if (source.kind !== 'spec') {
    throw new PonchoError(
      'ERR_LOCK_INPUT',
      `${source.source} is ${source.kind === 'lock' ? 'a lock file' : 'a conda environment'}, not a spec`,
      { hint: 'Give the spec file (JSON or environment.yml) to lock.' },
    );
  }
  const { spec } = source;
  const pip = pipDependencies(spec);
  assertPipLockable(pip, options.platform ?? hostPlatform());
  const conda = options.keepConda
    ? canonicalLock({ ...options.keepConda, specs: condaDependencies(spec) })
    : await solveSpec(spec, options);
  const lock = await pinPipSection(conda, pip, source.baseDir, options);
  return { lock, spec, text: lockFileText(lock, spec) };
}

export interface SatisfyOptions {
  /** The channels the spec is solved against (default: the spec's). */
  channels?: string[];
  /** The platform it is built for (default: this machine's). */
  platform?: string;
  channelAlias?: string;
  /**
   * The spec the lock was made from (a lock file's `ponchoSpec`): the pip pins were resolved
   * from its pip section, so the lock keeps them while the spec's pip section is the same.
   */
  recordedSpec?: Spec;
}

/**
 * Why a lock does not satisfy a spec, or `satisfied`. `condaSatisfied`: only the pip section
 * needs pinning again; the locked conda packages still satisfy the spec (lockSpec's keepConda).
 */
export type Satisfaction =
  | { satisfied: true }
  | { satisfied: false; reason: string; condaSatisfied?: true };

/**
 * Whether a lock still gives a correct environment for a spec, without solving: the same
 * platform and channels (in the same order), every requested spec and every dependency and
 * constraint of the locked packages met by a locked package, and no locked package that nothing
 * needs any more (a removed import must leave the environment), and pip pins resolved from the
 * same pip requirements (those of `recordedSpec`: pins cannot be checked against requirements
 * without resolving). Whatever this cannot read (a bracket match spec, say) counts as not
 * satisfied: the caller then solves, which is always correct, only slower.
 */
export function lockSatisfiesSpec(
  lock: Lock,
  spec: Spec,
  options: SatisfyOptions = {},
): Satisfaction {
  const conda = condaSatisfaction(lock, spec, options);
  if (!conda.satisfied) return conda;
  const pipProblem = pipSatisfaction(lock, spec, options.recordedSpec);
  return pipProblem ? { satisfied: false, reason: pipProblem, condaSatisfied: true } : conda;
}

/** lockSatisfiesSpec for the conda packages only. */
function condaSatisfaction(lock: Lock, spec: Spec, options: SatisfyOptions): Satisfaction {
  const platform = options.platform ?? hostPlatform();
  if (lock.platform !== platform) {
    return { satisfied: false, reason: `the lock is for ${lock.platform}, not ${platform}` };
  }
  const channels = resolveChannels(
    options.channels?.length ? options.channels : spec.conda.channels,
    options.channelAlias ?? process.env.CONDA_CHANNEL_ALIAS,
  ).map((c) => c.url);
  if (channels.join('\n') !== lock.channels.join('\n')) {
    return {
      satisfied: false,
      reason: `the channels changed (lock: ${lock.channels.join(', ')}; now: ${channels.join(', ')})`,
    };
  }
  const byName = new Map(lock.packages.map((p) => [p.name, p]));
  const needed = new Set<string>();
  const queue: string[] = [];
  const need = (matchSpec: string, by: string): string | undefined => {
    const parsed = parseMatchSpec(matchSpec);
    if (!parsed) return `${by}: cannot check "${matchSpec}" without solving`;
    if (parsed.name.startsWith('__')) return undefined; // virtual packages: the machine's
    const pkg = byName.get(parsed.name);
    if (!pkg) return `${by}: nothing in the lock provides ${matchSpec}`;
    if (!matches(parsed, pkg)) {
      return `${by}: the locked ${pkg.name} ${pkg.version} ${pkg.build} does not match ${matchSpec}`;
    }
    if (!needed.has(pkg.name)) {
      needed.add(pkg.name);
      queue.push(pkg.name);
    }
    return undefined;
  };
  for (const matchSpec of condaDependencies(spec)) {
    const problem = need(matchSpec, 'the spec');
    if (problem) return { satisfied: false, reason: problem };
  }
  while (queue.length > 0) {
    const pkg = byName.get(queue.shift() as string) as LockedPackage;
    for (const dep of pkg.depends) {
      const problem = need(dep, `${pkg.name} ${pkg.version}`);
      if (problem) return { satisfied: false, reason: problem };
    }
  }
  const unneeded = lock.packages.filter((p) => !needed.has(p.name)).map((p) => p.name);
  if (unneeded.length > 0) {
    return { satisfied: false, reason: `the spec no longer needs ${unneeded.join(', ')}` };
  }
  for (const pkg of lock.packages) {
    for (const constraint of pkg.constrains ?? []) {
      const parsed = parseMatchSpec(constraint);
      if (!parsed) {
        return { satisfied: false, reason: `cannot check the constraint "${constraint}"` };
      }
      const other = byName.get(parsed.name);
      if (other && !matches(parsed, other)) {
        return {
          satisfied: false,
          reason: `${pkg.name} constrains ${constraint}, but the lock has ${other.name} ${other.version}`,
        };
      }
    }
  }
  return { satisfied: true };
}

/** Why the lock's pip pins do not fit the spec's pip section, or undefined when they do. */
function pipSatisfaction(
  lock: Lock,
  spec: Spec,
  recordedSpec: Spec | undefined,
): string | undefined {
  const wanted = pipDependencies(spec);
  if (wanted.length === 0 && lock.pip.length === 0) return undefined;
  if (!pipIsPinned(lock)) {
    return 'its pip section is not pinned (requirements as written, by an older lock-env): lock again to pin it';
  }
  if (!recordedSpec) return 'it does not record the pip requirements its pins were resolved from';
  const recorded = pipDependencies(recordedSpec);
  const text = (items: string[]) => [...items].sort().join(', ') || 'none';
  if (text(recorded) !== text(wanted)) {
    return `the pip requirements changed (lock: ${text(recorded)}; now: ${text(wanted)})`;
  }
  return undefined;
}

interface ParsedMatchSpec {
  name: string;
  version?: string;
  build?: string;
}

/**
 * The common match spec forms: `name`, `name VERSION [BUILD]`, `name=1.2` (1.2.*),
 * `name=1.2=BUILD`, `name==1.2`, `name>=1,<2`, `channel::name...`. Anything else (brackets,
 * URLs) is undefined.
 */
export function parseMatchSpec(text: string): ParsedMatchSpec | undefined {
  const trimmed = text.trim().replace(/^[^\s:]+::/, '');
  if (trimmed.includes('[') || trimmed.includes('(') || trimmed.includes('/')) return undefined;
  const match = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*(.*)$/.exec(trimmed);
  if (!match?.[1]) return undefined;
  const name = match[1].toLowerCase();
  const rest = (match[2] ?? '').trim();
  if (rest === '') return { name };
  const words = rest.split(/\s+/);
  if (words.length > 2) return undefined;
  if (words.length === 2) return { name, version: words[0], build: words[1] };
  if (rest.startsWith('=') && !rest.startsWith('==')) {
    const [version, build, extra] = rest.slice(1).split('=');
    if (!version || extra !== undefined) return undefined;
    // conda: `name=1.2` is 1.2.* ; with a build, the version is taken as written.
    if (build !== undefined) return { name, version, build };
    return { name, version: /[*<>!=~|,]/.test(version) ? version : `${version}.*` };
  }
  return { name, version: rest };
}

function matches(spec: ParsedMatchSpec, pkg: LockedPackage): boolean {
  if (spec.build !== undefined && !globMatches(spec.build, pkg.build)) return false;
  if (spec.version === undefined || spec.version === '*') return true;
  let versionSpec: VersionSpec | undefined;
  let version: Version | undefined;
  try {
    versionSpec = new VersionSpec(spec.version);
    version = new Version(pkg.version);
    return versionSpec.matches(version);
  } catch {
    return false; // unreadable: not satisfied, so the caller solves
  } finally {
    versionSpec?.free();
    version?.free();
  }
}

function globMatches(pattern: string, value: string): boolean {
  const regex = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${regex}$`).test(value);
}
