/**
 * Packs a conda prefix into a relocatable, deterministic tarball:
 * - the prefix at the archive root (conda-pack's layout), entries sorted byte-wise, every mtime
 *   fixed, owners 0/0 with no names, modes 0644/0755;
 * - binary files that hold a prefix placeholder packed from their pristine package-cache copy;
 * - `.poncho/manifest.json` (for poncho_package_run), bin/activate, bin/deactivate,
 *   bin/conda-unpack, bin/run_in_env, bin/poncho_package_run, and the spec as conda_spec.yml;
 * - conda-meta without the build machine's cache paths (portable-meta.ts);
 * - gzip compressed on every core (gzip-parallel.ts), or plain tar when OUT ends in `.tar`.
 * The output is written as core's openOutput decides: a file through a temporary sibling renamed
 * into place (never a partial OUT), a device or FIFO (/dev/stdout) in place.
 */

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, posix } from 'node:path';
import { errnoCode, fileError, isPonchoError } from '@poncho/core/errors';
import { type OutputFile, openOutput } from '@poncho/core/fs';
import type { Logger } from '@poncho/core/log';
import { MANIFEST_PATH, type Manifest } from '@poncho/core/manifest';
import { defaultThreads, GzipWorkerPool, ParallelGzip } from './gzip-parallel.js';
import { type Inventory, takeInventory } from './inventory.js';
import { checkManagedFiles } from './managed-files.js';
import {
  type ChannelAlias,
  type PackedDigest,
  portableCondaMeta,
  withPackedDigests,
} from './portable-meta.js';
import { rewriteToPackedPrefix } from './portable-prefix.js';
import { pycSource, retimePyc } from './pyc.js';
import { environmentScripts, type GeneratedFile } from './scripts.js';
import { type ByteSink, HashingFileSink } from './sink.js';
import { TarWriter } from './tar-writer.js';
import { comparePaths, type TreeEntry, walkTree } from './walk.js';

export type { GeneratedFile } from './scripts.js';

/** The mtime of every entry: 2000-01-01T00:00:00Z (fixed, so builds are byte-identical). */
export const PACK_MTIME = 946684800;

export type ArchiveFormat = 'tar.gz' | 'tar';

/** `.tar` -> plain tar; anything else (`.tar.gz`, `.tgz`, no extension) -> gzip. */
export function archiveFormatFor(output: string): ArchiveFormat {
  return /\.tar$/i.test(output) ? 'tar' : 'tar.gz';
}

/** Paths of a prefix that never go into a tarball: markers and locks of earlier unpacks. */
const SKIPPED = new Set([
  '.poncho',
  '.poncho_package_run_expanded',
  '.python_package_run_expanded',
  '.poncho_relocate.lock',
]);

export interface PackProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface PackPrefixOptions {
  /** The environment folder to pack. */
  prefix: string;
  /** The tarball to write (`.tar` for plain tar, gzip otherwise). */
  output: string;
  /** The prefix string its files hold (default: `prefix`). */
  buildPrefix?: string;
  /**
   * The prefix string the packed files hold instead of `buildPrefix` (default: the same), so
   * that the tarball does not depend on where the build folder was (see portable-prefix.ts).
   */
  packedPrefix?: string;
  /** conda subdir of the environment, e.g. linux-64. */
  platform: string;
  /** Text of conda_spec.yml (the spec, as YAML); omitted -> kept from the prefix if present. */
  specYaml?: string;
  /**
   * Check the files conda-meta lists (an existing prefix): 'check' refuses deleted or
   * overwritten ones, 'warn' lists them in the warnings. Default: no check (our own builds).
   */
  managedFiles?: 'check' | 'warn';
  /** Local channels' file:// URLs and how the tarball's conda-meta records them instead. */
  channelAliases?: ChannelAlias[];
  /** Package caches to find pristine copies in (besides conda-meta's link.source). */
  pkgsDirs?: string[];
  /** More files to add (they win over the prefix's own). */
  extraFiles?: GeneratedFile[];
  compressLevel?: number;
  threads?: number;
  format?: ArchiveFormat;
  logger?: Logger;
  signal?: AbortSignal;
  onProgress?: (progress: PackProgress) => void;
}

export interface PackResult {
  path: string;
  size: number;
  sha256: string;
  /** Entries in the archive. */
  entries: number;
  /** Bytes of file content packed (before compression). */
  contentBytes: number;
  manifest: Manifest;
  inventory: Inventory;
  warnings: string[];
}

function creatorVersion(): string {
  try {
    const pkg = createRequire(import.meta.url)('../../package.json') as {
      name: string;
      version: string;
    };
    return `${pkg.name} ${pkg.version}`;
  } catch {
    return '@poncho/creator';
  }
}

type PackEntry =
  | { path: string; type: 'directory' }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'file'; mode: number; data: Buffer }
  | {
      path: string;
      type: 'file';
      mode: number;
      source: string;
      size: number;
      /** A .pyc whose header is re-timed when packed: the mtime and size of its source. */
      pycOf?: { mtimeSec: number; size: number };
    };

export async function packPrefix(options: PackPrefixOptions): Promise<PackResult> {
  const format = options.format ?? archiveFormatFor(options.output);
  // The compression threads load while the prefix is listed and scanned (tens of ms each).
  const pool =
    format === 'tar.gz' ? GzipWorkerPool.start(options.threads ?? defaultThreads()) : undefined;
  try {
    return await packWith(options, format, pool);
  } finally {
    await pool?.close();
  }
}

async function packWith(
  options: PackPrefixOptions,
  format: ArchiveFormat,
  pool: GzipWorkerPool | undefined,
): Promise<PackResult> {
  const { prefix, output, logger } = options;
  const buildPrefix = options.buildPrefix ?? prefix;

  const generated = new Map<string, GeneratedFile>();
  for (const file of environmentScripts()) generated.set(file.path, file);
  if (options.specYaml !== undefined) {
    generated.set('conda_spec.yml', {
      path: 'conda_spec.yml',
      mode: 0o644,
      data: Buffer.from(options.specYaml),
    });
  }
  for (const file of options.extraFiles ?? []) generated.set(file.path, file);

  logger?.debug(`listing ${prefix}`);
  const tree = await walkTree(prefix, (path) => SKIPPED.has(path.split('/')[0] as string));
  for (const file of await portableCondaMeta(prefix, tree, options.channelAliases ?? [])) {
    generated.set(file.path, file);
  }
  const inventory = await takeInventory({
    prefix,
    buildPrefix,
    tree,
    pkgsDirs: options.pkgsDirs,
    generated: new Set([...generated.keys(), MANIFEST_PATH]),
  });
  if (options.managedFiles) {
    inventory.warnings.push(
      ...checkManagedFiles(prefix, inventory.packages, tree, options.managedFiles === 'warn'),
    );
  }
  for (const warning of inventory.warnings) logger?.warn(warning);
  const packedPrefix = options.packedPrefix ?? buildPrefix;
  const rewritten = await rewriteToPackedPrefix(
    prefix,
    inventory.manifestFiles,
    buildPrefix,
    packedPrefix,
  );
  if (rewritten.length > 0) {
    const modes = new Map(tree.map((e) => [e.path, e.mode]));
    const digests = new Map<string, PackedDigest>();
    for (const file of rewritten) {
      generated.set(file.path, {
        path: file.path,
        mode: modes.get(file.path) ?? 0o644,
        data: file.data,
      });
      digests.set(file.path, {
        installed: file.installed,
        packed: {
          sha256: createHash('sha256').update(file.data).digest('hex'),
          size: file.data.length,
        },
      });
    }
    // conda-meta's sha256_in_prefix then describes the files as packed.
    for (const file of [...generated.values()]) {
      if (!/^conda-meta\/[^/]+\.json$/.test(file.path)) continue;
      const text = withPackedDigests(file.data.toString('utf8'), digests);
      if (text !== undefined) generated.set(file.path, { ...file, data: Buffer.from(text) });
    }
  }

  const manifest: Manifest = {
    formatVersion: 1,
    platform: options.platform,
    buildPrefix: packedPrefix,
    files: inventory.manifestFiles,
    createdBy: creatorVersion(),
  };
  generated.set(MANIFEST_PATH, {
    path: MANIFEST_PATH,
    mode: 0o644,
    data: Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`),
  });

  const entries = await planEntries(prefix, buildPrefix, tree, inventory, generated, logger);
  const bytesTotal = entries.reduce(
    (sum, e) => sum + (e.type !== 'file' ? 0 : 'data' in e ? e.data.length : e.size),
    0,
  );

  let out: OutputFile | undefined;
  let gzip: ParallelGzip | undefined;
  try {
    out = await openOutput(output, { what: 'environment tarball' });
    const sink = HashingFileSink.onDescriptor(out.fd);
    let target: ByteSink = sink;
    if (format === 'tar.gz') {
      gzip = new ParallelGzip(sink, {
        level: options.compressLevel ?? 6,
        pool,
      });
      target = gzip;
    }
    const tar = new TarWriter(target, { mtime: PACK_MTIME });
    let bytesDone = 0;
    let lastReport = 0;
    for (const entry of entries) {
      if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
      if (entry.type === 'directory') await tar.addDirectory(entry.path);
      else if (entry.type === 'symlink') await tar.addSymlink(entry.path, entry.target);
      else if ('data' in entry) {
        await tar.addFile(entry.path, entry.mode, entry.data);
        bytesDone += entry.data.length;
      } else if (entry.pycOf && entry.size < 16 << 20) {
        // Read when packed, not when listed: an environment holds thousands of .pyc files.
        const data = readFileSync(entry.source);
        const retimed = retimePyc(data, entry.pycOf.mtimeSec, entry.pycOf.size, PACK_MTIME);
        await tar.addFile(entry.path, entry.mode, retimed ?? data);
        bytesDone += data.length;
      } else {
        await tar.addFileFromDisk(entry.path, entry.mode, entry.source, entry.size);
        bytesDone += entry.size;
      }
      if (options.onProgress && bytesDone - lastReport >= 8 << 20) {
        lastReport = bytesDone;
        options.onProgress({ bytesDone, bytesTotal });
      }
    }
    await tar.end();
    if (gzip) await gzip.end();
    const { size, sha256 } = await sink.finish();
    options.onProgress?.({ bytesDone, bytesTotal });
    const written = out;
    out = undefined;
    await written.commit();
    return {
      path: output,
      size,
      sha256,
      entries: entries.length,
      contentBytes: bytesTotal,
      manifest,
      inventory,
      warnings: inventory.warnings,
    };
  } catch (error) {
    await gzip?.close().catch(() => {});
    await out?.abort();
    if (isPonchoError(error)) throw error;
    if (errnoCode(error)) {
      // Node's fs errors name the file: a failed read is about the environment; the sink's
      // writes name no path, and those are about OUT.
      const path = (error as { path?: unknown }).path;
      if (typeof path === 'string' && errnoCode(error) !== 'ENOSPC') {
        throw fileError(error, path, 'environment file');
      }
      throw fileError(error, output, 'environment tarball');
    }
    throw error;
  }
}

/** The sorted list of what goes into the archive, with the content source of each file. */
async function planEntries(
  prefix: string,
  buildPrefix: string,
  tree: TreeEntry[],
  inventory: Inventory,
  generated: Map<string, GeneratedFile>,
  logger: Logger | undefined,
): Promise<PackEntry[]> {
  const byPath = new Map(tree.map((e) => [e.path, e]));
  const entries = new Map<string, PackEntry>();
  for (const entry of tree) {
    if (generated.has(entry.path)) continue;
    if (entry.type === 'directory') {
      entries.set(entry.path, { path: entry.path, type: 'directory' });
    } else if (entry.type === 'symlink') {
      entries.set(entry.path, {
        path: entry.path,
        type: 'symlink',
        target: portableLinkTarget(entry, prefix, buildPrefix, logger),
      });
    } else {
      const source = inventory.pristine.get(entry.path) ?? join(prefix, entry.path);
      const pycOf = entry.path.endsWith('.pyc') ? pycSource(entry.path) : undefined;
      const src = pycOf ? byPath.get(pycOf) : undefined;
      entries.set(entry.path, {
        path: entry.path,
        type: 'file',
        mode: entry.mode,
        source,
        size: entry.size,
        ...(src?.type === 'file' && src.mtimeSec !== undefined
          ? { pycOf: { mtimeSec: src.mtimeSec, size: src.size } }
          : {}),
      });
    }
  }
  for (const file of generated.values()) {
    entries.set(file.path, { path: file.path, type: 'file', mode: file.mode, data: file.data });
    // Parent folders of generated files (bin/, .poncho/) exist even if the prefix had none.
    for (let dir = posix.dirname(file.path); dir !== '.'; dir = posix.dirname(dir)) {
      if (!entries.has(dir)) entries.set(dir, { path: dir, type: 'directory' });
    }
  }
  return [...entries.values()].sort((a, b) => comparePaths(a.path, b.path));
}

/**
 * Symlink targets must keep working after relocation: an absolute target inside the build
 * prefix becomes relative; one outside the prefix is kept (it names something on the host).
 */
function portableLinkTarget(
  entry: TreeEntry,
  prefix: string,
  buildPrefix: string,
  logger: Logger | undefined,
): string {
  const target = entry.linkTarget ?? '';
  if (!target.startsWith('/')) return target;
  for (const root of [prefix, buildPrefix]) {
    if (target === root || target.startsWith(`${root}/`)) {
      const inside = target.slice(root.length + 1);
      return posix.relative(posix.dirname(entry.path), inside) || '.';
    }
  }
  logger?.warn(
    `symlink ${entry.path} points outside the environment (${target}); it is packed as it is`,
  );
  return target;
}

/** Reads the manifest of a packed prefix back (for tests and the cache). */
export function manifestPathIn(prefix: string): string {
  return join(prefix, MANIFEST_PATH);
}
