/**
 * Solving specs into a Lock with rattler, on the subset of records the specs can reach: the
 * repodata sources are opened (repodata/sources.ts: sharded, monolithic, local), the walk
 * collects the reachable records with strict channel priority (repodata/subset.ts), and only
 * those are handed to rattler, as small repodata.json documents it fetches from us
 * (solver-fetch.ts), in a worker thread that a signal ends at once (solver-run.ts). rattler's
 * simpleSolve takes channel URLs only (no records, no priority setting), hence the documents.
 * The virtual packages are a synthetic channel of their own. rattler's string errors become one
 * readable PonchoError.
 */
import { PonchoError } from '@poncho/core/errors';
import type { Lock, LockedPackage } from '@poncho/core/lock';
import { splitChannelSpecs } from './channel-specs.js';
import { type Channel, resolveChannels } from './channels.js';
import { type InstallerOptions, resolveOptions } from './options.js';
import { createRepodataProgress } from './repodata/progress.js';
import type { RecordsByFile, RepodataRecord } from './repodata/record.js';
import { openChannels } from './repodata/sources.js';
import { collectSubset, type Subset, type SubsetSubdir } from './repodata/subset.js';
import { SolverFailure, startSolver } from './solver-run.js';
import { detectVirtualPackages, virtualRepodata } from './virtual-packages.js';

export type { RepodataRecord } from './repodata/record.js';

/** A repodata.json document of the given records (what rattler reads from us). */
function repodataText(records: RecordsByFile, subdir: string): string {
  const packages: Record<string, RepodataRecord> = {};
  const conda: Record<string, RepodataRecord> = {};
  for (const [fileName, record] of records) {
    (fileName.endsWith('.conda') ? conda : packages)[fileName] = record;
  }
  return JSON.stringify({
    info: { subdir },
    packages,
    'packages.conda': conda,
    repodata_version: 1,
  });
}

function toLocked(record: RepodataRecord, fileName: string, found: SubsetSubdir): LockedPackage {
  const { channel, subdir, url: indexUrl } = found.source;
  if (!record.sha256 || !/^[0-9a-f]{64}$/.test(record.sha256)) {
    throw new PonchoError(
      'ERR_REPODATA_INVALID',
      `no valid sha256 for ${fileName} in ${indexUrl}`,
      {
        hint: 'poncho verifies every package by sha256: re-index the channel so its records carry sha256.',
      },
    );
  }
  const baseUrl = found.source.baseUrl;
  const locked: LockedPackage = {
    name: record.name,
    version: record.version,
    build: record.build,
    buildNumber: record.build_number,
    subdir,
    channel: channel.url,
    url: baseUrl ? `${baseUrl}/${fileName}` : `${channel.url}/${subdir}/${fileName}`,
    fileName,
    sha256: record.sha256,
    depends: record.depends ?? [],
  };
  if (record.md5) locked.md5 = record.md5;
  if (typeof record.size === 'number') locked.size = record.size;
  if (record.constrains && record.constrains.length > 0) locked.constrains = record.constrains;
  if (record.noarch === 'python' || record.noarch === 'generic') locked.noarch = record.noarch;
  if (record.license) locked.license = record.license;
  if (typeof record.timestamp === 'number') locked.timestamp = record.timestamp;
  return locked;
}

export interface SolveInternals {
  /** Hand the solver every record instead of the reachable subset (tests compare the two). */
  everything?: boolean;
  /** Told how many records the solver was given. */
  onSubset?: (subset: Subset) => void;
}

export async function solve(
  specs: string[],
  options: InstallerOptions,
  internals: SolveInternals = {},
): Promise<Lock> {
  const resolved = resolveOptions(options);
  const { logger, signal, platform } = resolved;
  // `channel::pkg` and `pkg[channel=...]`: the solver gets plain specs, the walk the pins.
  const qualified = splitChannelSpecs(specs, resolved.channelAlias);
  const channels = resolveChannels(
    [...resolved.channels, ...qualified.channels],
    resolved.channelAlias,
  );
  const subdirs = [platform, 'noarch'];
  // Bad overrides fail before any work starts.
  const virtual = detectVirtualPackages(platform, resolved.virtualPackages);
  logger.debug(
    `virtual packages: ${virtual.map((v) => `${v.name}=${v.version}=${v.build}`).join(', ')}`,
  );
  const progress = createRepodataProgress(logger);
  const solver = startSolver();
  let subset: Subset;
  try {
    const sources = await openChannels(channels, subdirs, {
      cacheDir: resolved.cacheDir,
      offline: resolved.offline,
      logger,
      signal,
      progress,
    });
    subset = await collectSubset(qualified.specs, sources, {
      signal,
      pins: qualified.pins,
      onNames: (n) => progress.names(n),
      everything: internals.everything,
    });
  } catch (error) {
    solver.dispose();
    throw error;
  } finally {
    progress.finish();
  }
  internals.onSubset?.(subset);
  logger.debug(`solving on ${subset.records} records of ${subset.names.size} package names`);

  // rattler wants every subdir of every channel: a missing one is served empty.
  const documents = subset.channels.map((channel) =>
    subdirs.map((name): [string, string] => {
      const found = channel.subdirs.find((s) => s.source.subdir === name);
      return [name, repodataText(found?.records ?? new Map(), name)];
    }),
  );
  let picked: Awaited<ReturnType<typeof solver.solve>>;
  try {
    picked = await solver.solve(
      {
        specs: qualified.specs,
        platform,
        channels: documents,
        virtual: subdirs.map((name) => [
          name,
          JSON.stringify(virtualRepodata(name === platform ? virtual : [], name)),
        ]),
      },
      signal,
    );
  } catch (error) {
    if (signal?.aborted) throw error;
    if (error instanceof SolverFailure)
      throw solveError(error.message, specs, channels, subset, platform);
    // The WebAssembly panicked (rattler aborts on e.g. capacity overflows in huge problems).
    throw new PonchoError(
      'ERR_SOLVE',
      `the solver crashed for [${specs.join(', ')}]: ${(error as Error).message}`,
      {
        hint: `Narrow the specs (the solver was given ${subset.records} records of ${subset.names.size} package names).`,
        cause: error,
      },
    );
  }
  const packages: LockedPackage[] = [];
  for (const { channel: index, subdir: subdirName, fileName } of picked) {
    if (index === null) continue; // a virtual package
    // The folder the record was listed in (its own `subdir` field may say otherwise).
    const candidates = subset.channels[index]?.subdirs ?? [];
    const found =
      candidates.find((s) => s.source.subdir === subdirName && s.records.has(fileName)) ??
      candidates.find((s) => s.records.has(fileName));
    const record = found?.records.get(fileName);
    if (!record || !found) {
      throw new Error(`solver returned an unknown package ${fileName} (${subdirName})`);
    }
    packages.push(toLocked(record, fileName, found));
  }
  packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    lockVersion: 1,
    platform,
    channels: channels.map((c) => c.url),
    specs,
    packages,
    pip: [],
  };
}

/** Turns rattler's message into one error naming the package, the constraint and the channels. */
export function solveError(
  error: unknown,
  specs: string[],
  channels: Channel[],
  subset: Subset,
  platform: string,
): PonchoError {
  const raw =
    typeof error === 'string' ? error : error instanceof Error ? error.message : String(error);
  if (!/Cannot solve/i.test(raw)) {
    if (/invalid|parse|unexpected/i.test(raw)) {
      return new PonchoError(
        'ERR_SPEC_INVALID',
        `invalid package spec in [${specs.join(', ')}]: ${raw.trim()}`,
        {
          hint: 'Write specs as conda match specs, e.g. "numpy >=1.26" or "python=3.11".',
          cause: error,
        },
      );
    }
    return new PonchoError(
      'ERR_SOLVE',
      `the solver failed for [${specs.join(', ')}]: ${raw.trim()}`,
      {
        hint: 'Check the match specs and the channels; run again with --debug for the details.',
        cause: error,
      },
    );
  }
  const channelList = channels.map((c) => c.url).join(', ');
  // "No candidates were found for bar <2" / "bar >=3, for which no candidates were found".
  const missing =
    /No candidates were found for ([^\s.,]+)\s*([^\n]*?)\.?\s*$/m.exec(raw) ??
    /([A-Za-z0-9_.-]+)[ \t]+([^\n,]*), for which no candidates were found/m.exec(raw);
  // The package whose dependency failed: the nearest "X would require" line above it.
  const requirer = missing
    ? [
        ...raw.slice(0, missing.index).matchAll(/([A-Za-z0-9_.-]+ [^\s]+) would require/g),
      ].pop()?.[1]
    : undefined;
  const neededBy = requirer ? `, required by ${requirer}` : '';
  let headline: string;
  let hint = 'Relax the version constraints, or add a channel that provides the package.';
  if (missing?.[1]) {
    const name = missing[1];
    const constraint = (missing[2] ?? '').trim().replace(/\.$/, '') || '*';
    const offers: string[] = [];
    for (const { sources, subdirs } of subset.channels) {
      const versions = new Set<string>();
      for (const s of subdirs)
        for (const r of s.records.values()) if (r.name === name) versions.add(r.version);
      if (versions.size > 0)
        offers.push(
          `${sources.channel.url} has ${name} ${[...versions].sort().slice(-5).join(', ')}`,
        );
    }
    if (name.startsWith('__')) {
      headline = `cannot install for ${platform}: a package needs the virtual package ${name} ${constraint}${neededBy}, which this target does not provide`;
      hint = `Override it (for example CONDA_OVERRIDE_${name.slice(2).toUpperCase()}=<version>) if the target machine has it.`;
    } else if (offers.length > 0) {
      headline = `no package matches ${name} ${constraint}${neededBy} for ${platform} (${offers.join('; ')})`;
    } else {
      headline = `package ${name} (${constraint}${neededBy}) not found for ${platform} in channels ${channelList}`;
      hint = 'Check the package name, or add the channel that provides it.';
    }
  } else {
    headline = `the specs [${specs.join(', ')}] cannot be satisfied together for ${platform} from channels ${channelList}`;
  }
  const detail = raw.replace(/^Cannot solve the request because of:\s*/i, '').trim();
  return new PonchoError('ERR_UNSATISFIABLE', `${headline}\n${indent(detail)}`, {
    hint,
    cause: error,
  });
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}
