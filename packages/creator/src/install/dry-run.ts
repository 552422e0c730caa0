/**
 * `poncho_package_create --dry-run`: solve only (or read a lock) and describe what a build would
 * install: packages, versions, channels, download size (what the package cache lacks). No
 * download, no install, no tarball; with a lock file path, the lock is written.
 */
import { resolve } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import { writeFileAtomic } from '@poncho/core/fs';
import type { Lock } from '@poncho/core/lock';
import { pipDependencies } from '@poncho/core/spec';
import { lockFileText } from '../create.js';
import { solveSpec } from '../solve-spec.js';
import { readSpecSource, type SpecSource } from '../spec-input.js';
import { redactUrlCredentials } from '../url-credentials.js';
import type { InstallerOptions } from './options.js';
import { isExtracted } from './package-cache.js';
import { defaultPkgsDir } from './paths.js';

export interface DryRunOptions extends Omit<InstallerOptions, 'channels' | 'platform'> {
  channels?: string[];
  platform?: string;
  /** Write the lock here. */
  lockFile?: string;
}

export interface PlannedPackage {
  name: string;
  version: string;
  build: string;
  channel: string;
  subdir: string;
  size: number;
  /** Already in the package cache: nothing to download. */
  cached: boolean;
}

export interface DryRunPlan {
  dryRun: true;
  platform: string;
  channels: string[];
  specs: string[];
  /** True when the plan comes from a lock file (no solve). */
  fromLock: boolean;
  packages: PlannedPackage[];
  /** Bytes of the packages the cache lacks, and of all of them. */
  downloadBytes: number;
  totalBytes: number;
  /** The pip section: not resolved in a dry run (pip needs the environment). */
  pip: string[];
  lockFile?: string;
}

/** The plan for SPEC (a spec, environment.yml, lock file or `-`). */
export async function dryRun(
  specInput: string | SpecSource,
  options: DryRunOptions,
): Promise<DryRunPlan> {
  const source = typeof specInput === 'string' ? await readSpecSource(specInput) : specInput;
  if (source.kind === 'prefix') {
    throw new PonchoError(
      'ERR_DRY_RUN_PREFIX',
      `--dry-run has nothing to solve for the existing environment ${source.prefix}`,
      { hint: 'Give a spec file, an environment.yml or a lock file.' },
    );
  }
  if (options.lockFile && source.kind === 'spec' && pipDependencies(source.spec).length > 0) {
    // A lock's pip section is pins (with their sha256), which pip gives only by installing.
    throw new PonchoError(
      'ERR_DRY_RUN_PIP_LOCK',
      `--dry-run cannot write a lock for ${source.source}: its pip section is pinned only by installing it`,
      { hint: 'Drop --dry-run: a build writes the lock file with the pip pins.' },
    );
  }
  let lock: Lock;
  if (source.kind === 'lock') {
    lock = source.lock;
  } else {
    lock = await solveSpec(source.spec, options);
  }
  const pkgsDir = options.pkgsDir ?? defaultPkgsDir();
  const packages: PlannedPackage[] = [];
  for (const pkg of lock.packages) {
    packages.push({
      name: pkg.name,
      version: pkg.version,
      build: pkg.build,
      channel: redactUrlCredentials(pkg.channel),
      subdir: pkg.subdir,
      size: pkg.size ?? 0,
      cached: await isExtracted(pkgsDir, pkg),
    });
  }
  const spec = source.spec;
  const plan: DryRunPlan = {
    dryRun: true,
    platform: lock.platform,
    channels: lock.channels.map(redactUrlCredentials),
    specs: lock.specs,
    fromLock: source.kind === 'lock',
    packages,
    downloadBytes: packages.filter((p) => !p.cached).reduce((sum, p) => sum + p.size, 0),
    totalBytes: packages.reduce((sum, p) => sum + p.size, 0),
    pip: source.kind === 'lock' ? lock.pip : spec ? pipDependencies(spec) : [],
  };
  if (options.lockFile) {
    const path = resolve(options.lockFile);
    await writeFileAtomic(path, lockFileText(lock, spec), { what: 'lock file' });
    plan.lockFile = path;
  }
  return plan;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The plan as conda prints one: a table of packages, then the sizes. */
export function formatPlan(plan: DryRunPlan): string {
  const rows = plan.packages.map((p) => [
    p.name,
    p.version,
    p.build,
    `${p.channel}/${p.subdir}`,
    p.cached ? 'cached' : megabytes(p.size),
  ]);
  const header = ['package', 'version', 'build', 'channel', 'download'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const lines = [
    `${plan.fromLock ? 'locked' : 'solved'} for ${plan.platform}: ${plan.specs.join(', ')}`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `${plan.packages.length} packages; download ${megabytes(plan.downloadBytes)} (${megabytes(plan.totalBytes)} in all)`,
  ];
  if (plan.pip.length > 0) lines.push(`pip (resolved at build time): ${plan.pip.join(' ')}`);
  if (plan.lockFile) lines.push(`lock written to ${plan.lockFile}`);
  lines.push('dry run: nothing was downloaded, installed or packed');
  return `${lines.join('\n')}\n`;
}
