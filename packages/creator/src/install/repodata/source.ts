/**
 * What the subset walk needs from one subdir of one channel, whatever holds its repodata
 * (a CEP-16 sharded index, a monolithic repodata.json, over HTTP or in a local folder): which
 * package names it has (cheap: no record is read), and the records of a few names.
 */
import type { Channel } from '../channels.js';
import type { RecordsByFile } from './record.js';

export interface RepodataSource {
  channel: Channel;
  subdir: string;
  /** What it was read from (for messages): the index or document URL. */
  url: string;
  kind: 'sharded' | 'monolithic';
  /** Where package files are: `<baseUrl>/<fileName>` (repodata v2 base_url, CEP-16 base_url). */
  baseUrl?: string;
  has(name: string): boolean;
  names(): Iterable<string>;
  /** The records of the given names (names it does not have are left out of the result). */
  load(names: string[]): Promise<Map<string, RecordsByFile>>;
}

/** A bound on concurrent work shared by every source of one solve (shard downloads). */
export interface Limiter {
  run<T>(task: () => Promise<T>): Promise<T>;
}

export function createLimiter(limit: number): Limiter {
  let active = 0;
  const waiting: Array<() => void> = [];
  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      // A finishing task hands its slot straight to the next waiter.
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else active += 1;
      try {
        return await task();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else active -= 1;
      }
    },
  };
}

/**
 * Promise.all that waits for every promise to settle before it rejects with the first
 * failure: on SIGINT/SIGTERM each branch removes its own temporary files before the error
 * reaches the CLI (which exits as soon as it has it).
 */
export async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}
