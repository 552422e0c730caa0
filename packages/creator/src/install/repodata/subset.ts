/**
 * The subset of records a solve can use: starting from the names of the specs, add every name
 * that a reached record depends on, across every channel and subdir, until nothing new comes
 * (conda's "treat all repodata as if it was sharded"). `constrains` adds no names: it only
 * limits packages that something else brings in.
 *
 * Strict channel priority is applied per name on the way: a name is taken from the first
 * channel that has it (in any subdir), and the later channels' records of that name are
 * neither read nor followed. This is the same rule as filtering the whole index first, and the
 * records the solver could ever pick are all reached, so the solve result is the same. A name
 * pinned to a channel (`conda-forge::numpy`) is taken from that channel only.
 */
import type { ChannelPin } from '../channel-specs.js';
import { type RecordsByFile, specName } from './record.js';
import { type RepodataSource, settleAll } from './source.js';
import type { ChannelSources } from './sources.js';

export interface SubsetSubdir {
  source: RepodataSource;
  /** file name -> record, of the reached names this subdir has. */
  records: RecordsByFile;
}

export interface Subset {
  /** Per channel (same order), per subdir the channel has. */
  channels: Array<{ sources: ChannelSources; subdirs: SubsetSubdir[] }>;
  /** Names looked up (reached), including those no channel has. */
  names: Set<string>;
  records: number;
}

export interface SubsetOptions {
  signal?: AbortSignal;
  onNames?: (count: number) => void;
  /** Start from every name of every channel: the whole index (for comparisons in tests). */
  everything?: boolean;
  /** Names pinned to a channel and/or subdir (channel-specs.ts): taken only from there. */
  pins?: ReadonlyMap<string, ChannelPin>;
}

export async function collectSubset(
  specs: string[],
  channels: ChannelSources[],
  options: SubsetOptions = {},
): Promise<Subset> {
  const subset: Subset = {
    channels: channels.map((sources) => ({
      sources,
      subdirs: sources.subdirs.map((source) => ({ source, records: new Map() })),
    })),
    names: new Set(),
    records: 0,
  };
  let level: string[] = [];
  const reach = (name: string) => {
    if (subset.names.has(name)) return;
    subset.names.add(name);
    level.push(name);
  };
  for (const spec of specs) reach(specName(spec));
  if (options.everything) {
    for (const channel of channels)
      for (const source of channel.subdirs) for (const name of source.names()) reach(name);
  }
  while (level.length > 0) {
    options.signal?.throwIfAborted();
    options.onNames?.(subset.names.size);
    const names = level;
    level = [];
    // Strict priority: each name from the first channel that has it.
    const perChannel = channels.map(() => [] as string[]);
    for (const name of names) {
      const pin = options.pins?.get(name);
      const owner = channels.findIndex(
        (c) =>
          (pin?.url === undefined || c.channel.url === pin.url) &&
          c.subdirs.some((s) => allowed(s, pin) && s.has(name)),
      );
      if (owner >= 0) perChannel[owner]?.push(name);
    }
    const loaded = await settleAll(
      subset.channels.flatMap((channel, index) =>
        channel.subdirs.map(async (subdir) => {
          const wanted = (perChannel[index] ?? []).filter(
            (n) => allowed(subdir.source, options.pins?.get(n)) && subdir.source.has(n),
          );
          return { subdir, found: wanted.length > 0 ? await subdir.source.load(wanted) : null };
        }),
      ),
    );
    for (const { subdir, found } of loaded) {
      if (!found) continue;
      for (const records of found.values()) {
        for (const [fileName, record] of records) {
          subdir.records.set(fileName, record);
          subset.records += 1;
          for (const dependency of record.depends ?? []) reach(specName(dependency));
        }
      }
    }
  }
  options.onNames?.(subset.names.size);
  return subset;
}

/** A name pinned to a subdir (`conda-forge/noarch::pkg`) is looked up in that subdir only. */
function allowed(source: RepodataSource, pin: ChannelPin | undefined): boolean {
  return pin?.subdir === undefined || source.subdir === pin.subdir;
}
