/**
 * ensureTestChannel: build the channel once, cache it under test/.cache/channel/<key>/.
 *
 * The key hashes this builder's own source files and the Debian inputs (python, pip, gcc
 * versions), so editing the builder or upgrading Debian's python rebuilds it. A build goes into
 * a temporary sibling folder that is renamed into place, under a lock, so that concurrent test
 * files (or processes) never see or produce a half-built channel.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import lockfile from 'proper-lockfile';
import { buildChannel } from './build-channel.js';
import { cacheRoot } from './cache-root.js';
import { exists, findDebianPip, findDebianPython } from './debian-python.js';

const run = promisify(execFile);
const BUILDER_DIR = dirname(fileURLToPath(import.meta.url));

/** Modules of this folder that do not shape the built channel (editing them keeps the cache). */
const NOT_BUILD_INPUTS = new Set([
  'cache.ts',
  'cli.ts',
  'extract.ts',
  'hostile.ts',
  'index.ts',
  'serve.ts',
  'specs.ts',
  'virtual-packages.ts',
]);

/** The cache key: a hash of the builder's sources and of the Debian inputs it packages. */
export async function channelCacheKey(): Promise<string> {
  const hash = createHash('sha256');
  const sources = (await readdir(BUILDER_DIR))
    .filter((name) => /\.(ts|py)$/.test(name) && !NOT_BUILD_INPUTS.has(name))
    .sort();
  for (const name of sources) {
    hash.update(`${name}\0`);
    hash.update(await readFile(join(BUILDER_DIR, name)));
  }
  const python = await findDebianPython();
  const pip = await findDebianPip();
  const { stdout: gcc } = await run('gcc', ['-dumpfullversion']);
  hash.update(`python ${python.version}\0pip ${pip.version}\0gcc ${gcc.trim()}\0`);
  return hash.digest('hex').slice(0, 16);
}

/** `test/.cache/channel` (or `$PONCHO_TEST_CACHE/channel`). */
export function channelCacheDir(): string {
  return join(cacheRoot(), 'channel');
}

let channelPromise: Promise<string> | undefined;

/** Builds the test channel once (cached between runs) and returns its folder. */
export function ensureTestChannel(): Promise<string> {
  channelPromise ??= ensureTestChannelUncached().catch((error) => {
    channelPromise = undefined;
    throw error;
  });
  return channelPromise;
}

async function ensureTestChannelUncached(): Promise<string> {
  const cacheDir = channelCacheDir();
  const key = await channelCacheKey();
  const channel = join(cacheDir, key);
  if (await exists(channel)) return channel;
  await mkdir(cacheDir, { recursive: true });
  // One builder at a time; the lock goes stale (and is taken over) if its holder dies.
  const release = await lockfile.lock(channel, {
    realpath: false,
    lockfilePath: `${channel}.lock`,
    stale: 30_000,
    retries: { retries: 1_000, minTimeout: 100, maxTimeout: 1_000, factor: 1.5 },
  });
  try {
    if (await exists(channel)) return channel;
    const temp = join(cacheDir, `.tmp-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await buildChannel(temp);
      await rename(temp, channel);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    await removeOtherVersions(cacheDir, key);
    return channel;
  } finally {
    await release();
  }
}

/** Channels of other keys younger than this may still be in use by a running test. */
const PRUNE_AFTER_MS = 24 * 60 * 60 * 1000;

/** Drops channels built by older versions of the builder (and abandoned temp folders). */
async function removeOtherVersions(cacheDir: string, key: string): Promise<void> {
  for (const name of await readdir(cacheDir)) {
    if (name === key || name === `${key}.lock`) continue;
    const path = join(cacheDir, name);
    const info = await stat(path).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > PRUNE_AFTER_MS) {
      await rm(path, { recursive: true, force: true });
    }
  }
}
