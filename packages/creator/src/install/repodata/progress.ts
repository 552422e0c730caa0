/**
 * Progress of loading repodata, on stderr: bytes downloaded and scanned, shards fetched and
 * read from the cache. Redrawn on one line when stderr is a TTY; otherwise a line at most every
 * two seconds while it lasts (CI logs and pipes see that something is happening) and a summary.
 * Silent below the info level (--quiet, --json).
 */
import type { Logger } from '@poncho/core/log';

export interface RepodataProgress {
  downloaded(bytes: number): void;
  scanned(bytes: number): void;
  shard(downloaded: boolean): void;
  /** Names reached by the walk so far. */
  names(count: number): void;
  finish(): void;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function createRepodataProgress(
  logger: Logger,
  stream: NodeJS.WritableStream = process.stderr,
  intervalMs = 2000,
): RepodataProgress {
  const enabled = logger.level === 'info' || logger.level === 'debug';
  let downloadedBytes = 0;
  let scannedBytes = 0;
  let shardsFetched = 0;
  let shardsCached = 0;
  let reached = 0;
  let last = Date.now();
  let drawn = false;
  const line = () => {
    const parts = [`repodata: ${mb(downloadedBytes)} downloaded`];
    if (scannedBytes > 0) parts.push(`${mb(scannedBytes)} scanned`);
    if (shardsFetched + shardsCached > 0)
      parts.push(`${shardsFetched} shards fetched, ${shardsCached} from the cache`);
    if (reached > 0) parts.push(`${reached} package names reached`);
    return parts.join(', ');
  };
  const tick = () => {
    if (!enabled) return;
    const now = Date.now();
    if (logger.interactive) {
      if (now - last < 100) return;
      last = now;
      drawn = true;
      stream.write(`\r\u001b[K${line()}`);
    } else if (now - last >= intervalMs) {
      last = now;
      logger.info(line());
    }
  };
  return {
    downloaded(bytes) {
      downloadedBytes += bytes;
      tick();
    },
    scanned(bytes) {
      scannedBytes += bytes;
      tick();
    },
    shard(downloaded) {
      if (downloaded) shardsFetched += 1;
      else shardsCached += 1;
      tick();
    },
    names(count) {
      reached = count;
      tick();
    },
    finish() {
      if (!enabled) return;
      if (drawn) stream.write('\r\u001b[K');
      logger.info(line());
    },
  };
}
