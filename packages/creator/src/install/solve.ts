/**
 * Solving specs into a Lock with rattler. We load (and cache) the repodata ourselves, apply
 * strict channel priority (a package name found in an earlier channel hides it in later ones;
 * rattler's simpleSolve has no priority setting), add the virtual packages as a synthetic
 * channel, and serve all of it to rattler through solver-fetch. rattler's string errors become
 * one readable PonchoError.
 */
import { simpleSolve } from '@conda-org/rattler';
import { PonchoError } from '@poncho/core/errors';
import type { Lock, LockedPackage } from '@poncho/core/lock';
import { type Channel, resolveChannels } from './channels.js';
import { type InstallerOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { loadSubdir, type RepodataRecord, type SubdirRepodata } from './repodata.js';
import { serveToSolver } from './solver-fetch.js';
import { detectVirtualPackages, virtualRepodata } from './virtual-packages.js';

type Platform = Parameters<typeof simpleSolve>[2][number];

/** Loads every channel's platform and noarch repodata; a channel with neither is an error. */
export async function loadChannels(
  channels: Channel[],
  options: ResolvedOptions,
): Promise<SubdirRepodata[][]> {
  const subdirs = [options.platform, 'noarch'];
  return Promise.all(
    channels.map(async (channel) => {
      const loaded = await Promise.all(
        subdirs.map((subdir) =>
          loadSubdir(channel, subdir, {
            cacheDir: options.cacheDir,
            offline: options.offline,
            logger: options.logger,
            signal: options.signal,
          }),
        ),
      );
      const found = loaded.filter((s): s is SubdirRepodata => s !== null);
      if (found.length === 0) {
        throw new PonchoError(
          'ERR_CHANNEL_NOT_FOUND',
          `channel not found: ${channel.source} (no ${channel.url}/${options.platform}/repodata.json nor ${channel.url}/noarch/repodata.json)`,
          {
            hint: channel.localPath
              ? 'Check the path: a channel folder holds noarch/repodata.json and <platform>/repodata.json.'
              : 'Check the channel name or URL (and the channel alias).',
          },
        );
      }
      return found;
    }),
  );
}

/** Strict priority: drop every record whose name an earlier channel already provides. */
export function applyStrictPriority(perChannel: SubdirRepodata[][]): SubdirRepodata[][] {
  const taken = new Set<string>();
  return perChannel.map((subdirs) => {
    const names = new Set<string>();
    const filtered = subdirs.map((s): SubdirRepodata => {
      const packages = new Map<string, RepodataRecord>();
      for (const [fileName, record] of s.packages) {
        names.add(record.name);
        if (!taken.has(record.name)) packages.set(fileName, record);
      }
      if (packages.size === s.packages.size) return s; // nothing hidden: keep the original text
      const { text: _unused, ...rest } = s;
      return { ...rest, packages };
    });
    for (const name of names) taken.add(name);
    return filtered;
  });
}

function repodataText(subdir: SubdirRepodata): string {
  // Re-serialising a big index (conda-forge: hundreds of MB) costs time and memory: only
  // channels that lost records to strict priority are rewritten.
  if (subdir.text !== undefined) return subdir.text;
  const packages: Record<string, RepodataRecord> = {};
  const conda: Record<string, RepodataRecord> = {};
  for (const [fileName, record] of subdir.packages) {
    (fileName.endsWith('.conda') ? conda : packages)[fileName] = record;
  }
  return JSON.stringify({
    info: { subdir: subdir.subdir },
    packages,
    'packages.conda': conda,
    repodata_version: 1,
  });
}

function toLocked(record: RepodataRecord, fileName: string, source: SubdirRepodata): LockedPackage {
  const { channel, subdir } = source;
  if (!record.sha256 || !/^[0-9a-f]{64}$/.test(record.sha256)) {
    throw new PonchoError(
      'ERR_REPODATA_INVALID',
      `no valid sha256 for ${fileName} in ${channel.url}/${subdir}/repodata.json`,
      {
        hint: 'poncho verifies every package by sha256: re-index the channel so its records carry sha256.',
      },
    );
  }
  const locked: LockedPackage = {
    name: record.name,
    version: record.version,
    build: record.build,
    buildNumber: record.build_number,
    subdir,
    channel: channel.url,
    url: source.baseUrl ? `${source.baseUrl}/${fileName}` : `${channel.url}/${subdir}/${fileName}`,
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

export async function solve(specs: string[], options: InstallerOptions): Promise<Lock> {
  const resolved = resolveOptions(options);
  const channels = resolveChannels(resolved.channels, resolved.channelAlias);
  const loaded = await loadChannels(channels, resolved);
  const filtered = applyStrictPriority(loaded);
  const virtual = detectVirtualPackages(resolved.platform, resolved.virtualPackages);
  resolved.logger.debug(
    `virtual packages: ${virtual.map((v) => `${v.name}=${v.version}=${v.build}`).join(', ')}`,
  );

  // rattler wants every subdir of every channel: a missing one is served empty.
  const documents = (subdirs: SubdirRepodata[]) =>
    new Map(
      [resolved.platform, 'noarch'].map((name) => {
        const found = subdirs.find((s) => s.subdir === name);
        return [name, found ? repodataText(found) : JSON.stringify(virtualRepodata([], name))];
      }),
    );
  const servers = filtered.map((subdirs) => serveToSolver(documents(subdirs)));
  const virtualServer = serveToSolver(
    new Map([
      [resolved.platform, JSON.stringify(virtualRepodata(virtual, resolved.platform))],
      ['noarch', JSON.stringify(virtualRepodata([], 'noarch'))],
    ]),
  );
  const byServerUrl = new Map(servers.map((server, index) => [`${server.url}/`, index]));
  try {
    let solved: Awaited<ReturnType<typeof simpleSolve>>;
    try {
      solved = await simpleSolve(
        specs,
        [...servers.map((s) => s.url), virtualServer.url],
        [resolved.platform as Platform, 'noarch'],
        [],
      );
    } catch (error) {
      throw solveError(error, specs, channels, loaded, resolved.platform);
    }
    const packages: LockedPackage[] = [];
    for (const pkg of solved) {
      const index =
        pkg.repoName === undefined
          ? undefined
          : byServerUrl.get(pkg.repoName.endsWith('/') ? pkg.repoName : `${pkg.repoName}/`);
      const subdirName = pkg.subdir ?? '';
      const fileName = pkg.filename;
      pkg.free();
      if (index === undefined) continue; // a virtual package
      // The folder the record was listed in (its own `subdir` field may say otherwise).
      const candidates = filtered[index] ?? [];
      const source =
        candidates.find((s) => s.subdir === subdirName && s.packages.has(fileName)) ??
        candidates.find((s) => s.packages.has(fileName));
      const record = source?.packages.get(fileName);
      if (!record || !source) {
        throw new Error(`solver returned an unknown package ${fileName} (${subdirName})`);
      }
      packages.push(toLocked(record, fileName, source));
    }
    packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      lockVersion: 1,
      platform: resolved.platform,
      channels: channels.map((c) => c.url),
      specs,
      packages,
      pip: [],
    };
  } finally {
    for (const server of servers) server.release();
    virtualServer.release();
  }
}

/** Turns rattler's message into one error naming the package, the constraint and the channels. */
export function solveError(
  error: unknown,
  specs: string[],
  channels: Channel[],
  loaded: SubdirRepodata[][],
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
    for (const subdirs of loaded) {
      const versions = new Set<string>();
      for (const s of subdirs)
        for (const r of s.packages.values()) if (r.name === name) versions.add(r.version);
      const channel = subdirs[0]?.channel;
      if (versions.size > 0 && channel)
        offers.push(`${channel.url} has ${name} ${[...versions].sort().slice(-5).join(', ')}`);
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
