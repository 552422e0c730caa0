/**
 * createTarball: a spec (or lock, or existing prefix) -> a relocatable environment tarball.
 *
 *   spec --solve--> lock --install--> build prefix --pip, data, pins--> packPrefix --> OUT
 *                     (embedded installer, or conda/mamba/micromamba)
 *
 * The build prefix is a folder under the temporary directory named after the lock's hash, so
 * that the same solved package set gives the same prefix string inside the files, hence a
 * byte-identical tarball; builds of one lock take a lock on it. It is always removed at the end,
 * also on failure and on abort (SIGINT/SIGTERM abort the signal in the CLI). Tarballs are
 * cached by content (cache.ts); OUT is written through a temporary file and a rename.
 */
import { constants } from 'node:fs';
import { access, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { errnoCode, fileError, isPonchoError, PonchoError } from '@poncho/core/errors';
import {
  assertParentDirectory,
  copyToOutput,
  type OutputPlan,
  planOutput,
  usableTempDir,
  writeFileAtomic,
} from '@poncho/core/fs';
import { type Lock, pipIsPinned, serializeLock } from '@poncho/core/lock';
import type { Logger } from '@poncho/core/log';
import { condaDependencies, pipDependencies, type Spec, serializeSpec } from '@poncho/core/spec';
import {
  type Backend,
  type BackendChoice,
  createWithBackend,
  selectBackend,
} from './backends/index.js';
import { withBuildFolder } from './build-folder.js';
import { canonicalJson, defaultCacheDir, hashKey, TarballCache } from './cache.js';
import { resolveChannel } from './install/channels.js';
import type { InstallerOptions } from './install/index.js';
import { defaultPkgsDir } from './install/paths.js';
import { hostPlatform } from './install/platform.js';
import { removeDeadBuilds, removeDeadOutputTemps } from './leftovers.js';
import { readCondaMeta } from './pack/inventory.js';
import {
  type ArchiveFormat,
  archiveFormatFor,
  type PackProgress,
  packPrefix,
} from './pack/packer.js';
import type { ChannelAlias } from './pack/portable-meta.js';
import { pipArguments } from './pip.js';
import { canonicalLock, solveSpec } from './solve-spec.js';
import { LOCK_SPEC_KEY, readSpecSource, type SpecSource } from './spec-input.js';
import {
  redactError,
  redactingLogger,
  redactUrlCredentials,
  restoreUrlCredentials,
} from './url-credentials.js';

export interface CreateOptions {
  /** Channels to use instead of the spec's (highest priority first). */
  channels?: string[];
  channelAlias?: string;
  /** Target conda subdir (default: this machine's). */
  platform?: string;
  pkgsDir?: string;
  repodataDir?: string;
  offline?: boolean;
  virtualPackages?: Record<string, string>;
  /** Byte-compile noarch python packages (default: true when building for this machine). */
  compile?: boolean;
  /** Parallel package downloads (the installer's default when unset). */
  downloadConcurrency?: number;
  /** Hash every file of the cached packages used, not only those changed since extraction. */
  verifyCache?: boolean;
  /** Run the packages' post-link scripts (default true), as conda does. */
  linkScripts?: boolean;
  /** Who builds the environment (default: the embedded installer). */
  backend?: BackendChoice;
  condaExecutable?: string;
  pipIndexUrl?: string;
  findLinks?: string[];
  noPipIndex?: boolean;
  /** gzip level 0-9 (default 6). */
  compressLevel?: number;
  /** Compression threads (default: every core). */
  threads?: number;
  /** Write the lock (exact URLs, sha256, pip pins) here. */
  lockFile?: string;
  /** Tarball cache folder (default $PONCHO_CACHE_DIR or $XDG_CACHE_HOME/poncho/tarballs). */
  cacheDir?: string;
  /** Skip the tarball cache (neither read nor written). */
  noCache?: boolean;
  /** Rebuild even when the cache has the tarball (and refresh the cache). */
  force?: boolean;
  /** Where build prefixes are made (default: the temporary directory). */
  buildRoot?: string;
  /**
   * Packing an existing prefix: warn about conda-managed files that were deleted or
   * overwritten instead of refusing (conda-pack's --ignore-missing-files).
   */
  ignoreMissingFiles?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  onPackProgress?: (progress: PackProgress) => void;
}

export interface CreateResult {
  path: string;
  size: number;
  sha256: string;
  /** conda packages in the environment. */
  packages: number;
  /** True when the tarball came from the cache. */
  cached: boolean;
  /** The lock the environment was built from (absent when an existing prefix was packed). */
  lock?: Lock;
  lockFile?: string;
  warnings: string[];
}

/**
 * Part of the tarball cache's key: raised whenever the packer writes other bytes for the same
 * packages, so that a cache filled by an older creator is not served (2: the packed prefix).
 */
const CACHE_FORMAT = 2;

/**
 * The lock file as written by --lock-file: the core Lock plus the spec it came from. Credentials
 * in URLs are redacted (a lock file gets committed and shared); a rebuild from it takes them
 * from --channel again (restoreLockCredentials).
 */
export function lockFileText(lock: Lock, spec: Spec | undefined): string {
  const base = JSON.parse(serializeLock(lock)) as Record<string, unknown>;
  if (spec) base[LOCK_SPEC_KEY] = JSON.parse(serializeSpec(spec));
  // Keys sorted at every level: a lock read back and written again gives the same bytes.
  return redactUrlCredentials(`${JSON.stringify(JSON.parse(canonicalJson(base)), null, 2)}\n`);
}

/** The data sections of a lock's spec cannot be fetched once their credentials were left out. */
function assertDataCredentials(spec: Spec | undefined, source: string): void {
  const urls = [
    ...Object.values(spec?.git ?? {}).map((data) => data.remote),
    ...Object.values(spec?.http ?? {}).map((data) => data.url),
  ];
  const redacted = urls.find((url) => url.includes('***'));
  if (redacted) {
    throw new PonchoError(
      'ERR_LOCK_CREDENTIALS',
      `the lock file ${source} has a data section at ${redacted}, whose credentials were left out of the lock file`,
      { hint: 'Rebuild from the spec file itself, which holds the credentials.' },
    );
  }
}

/**
 * A lock's pip section is installed as it is (no resolution, no dependencies): requirements as
 * written (lock files of older lock-envs) would give an environment without their dependencies.
 */
function assertPipPinned(lock: Lock, source: string): void {
  if (pipIsPinned(lock)) return;
  throw new PonchoError(
    'ERR_LOCK_PIP_UNPINNED',
    `the lock file ${source} holds its pip section as written (${lock.pip.join(', ')}), not as pins: built from it, they would miss their dependencies`,
    {
      hint: 'Build from the spec with --lock-file to write a lock with pinned pip packages (or run lock-env again).',
    },
  );
}

/** A lock read from a file, with the credentials it had redacted put back from --channel. */
function restoreLockCredentials(lock: Lock, channels: string[], source: string): Lock {
  const restore = (url: string) => {
    const restored = restoreUrlCredentials(url, channels);
    if (restored !== undefined) return restored;
    throw new PonchoError(
      'ERR_LOCK_CREDENTIALS',
      `the lock file ${source} names ${url}, whose credentials were left out of the lock file`,
      {
        hint: 'Give that channel again with its credentials: --channel with USER:TOKEN@ before the host in its URL.',
      },
    );
  };
  return {
    ...lock,
    channels: lock.channels.map(restore),
    packages: lock.packages.map((pkg) => ({
      ...pkg,
      url: restore(pkg.url),
      channel: restore(pkg.channel),
    })),
  };
}

/** The environment.yml form of a spec (conda_spec.yml at the tarball's root). */
export async function condaSpecYaml(
  channels: string[],
  dependencies: Array<string | { pip: string[] }>,
): Promise<string> {
  const { stringify } = await import('yaml');
  return stringify({ channels, dependencies }, { lineWidth: 0 });
}

function lockDependencies(lock: Lock): Array<string | { pip: string[] }> {
  const deps: Array<string | { pip: string[] }> = [...lock.packages]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((p) => `${p.name}=${p.version}=${p.build}`);
  if (lock.pip.length > 0) deps.push({ pip: lock.pip });
  return deps;
}

/** File name endings of formats we do not write: such an OUT would hold gzip under a false name. */
const OTHER_FORMATS = /\.(zip|7z|rar|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|tzst|tar\.lz4|conda)$/i;

/**
 * Checks early that OUT can be written, so a long build does not end in a failed rename, and
 * says how it will be written (core's planOutput: a file is replaced, a device or FIFO written
 * in place).
 */
async function checkOutput(out: string): Promise<OutputPlan> {
  const plan = await planOutput(out);
  const other = OTHER_FORMATS.exec(plan.path)?.[0];
  if (other && plan.kind === 'replace') {
    throw new PonchoError(
      'ERR_OUTPUT_FORMAT',
      `cannot write ${out}: a ${other} file is not a format poncho_package_create writes`,
      { hint: 'Name OUT with .tar.gz (or .tgz) for a gzip tarball, or .tar for no compression.' },
    );
  }
  const existing = await stat(out).catch(() => null);
  if (existing?.isDirectory()) {
    throw new PonchoError('ERR_OUTPUT_IS_DIR', `the output path is a folder: ${out}`, {
      hint: 'Give a file name, e.g. env.tar.gz.',
    });
  }
  if (plan.kind === 'in-place') {
    try {
      await access(plan.path, constants.W_OK);
    } catch (error) {
      throw fileError(error, plan.path, 'environment tarball');
    }
    return plan;
  }
  await assertParentDirectory(plan.path, 'environment tarball');
  try {
    await access(dirname(plan.path), constants.W_OK);
  } catch (error) {
    const why = errnoCode(error) === 'EROFS' ? 'is on a read-only file system' : 'is not writable';
    throw new PonchoError(
      'ERR_OUTPUT_NOT_WRITABLE',
      `cannot write the environment tarball ${out}: its folder ${dirname(plan.path)} ${why}`,
      {
        hint: 'Choose another output path, or fix the folder permissions.',
        cause: error,
      },
    );
  }
  return plan;
}

/**
 * Local channels that the spec names by a relative path (`./channel`), with the file:// URL
 * they resolve to here: the tarball records them as written, so that the same packages give
 * the same bytes wherever the checkout is, and no home folder leaks into it.
 */
function relativeChannelAliases(written: string[], channelAlias?: string): ChannelAlias[] {
  const aliases: ChannelAlias[] = [];
  for (const text of written) {
    const trimmed = text.trim().replace(/\/+$/, '');
    if (!/^(\.{1,2}|~)(\/|$)/.test(trimmed)) continue;
    for (const channel of resolveChannel(trimmed, channelAlias)) {
      aliases.push({ url: channel.url, as: trimmed });
    }
  }
  return aliases;
}

/** `text` with every local channel URL of `aliases` replaced by its alias. */
function aliasChannelUrls(text: string, aliases: ChannelAlias[]): string {
  let result = text;
  for (const { url, as } of aliases)
    result = result.split(`${url}/`).join(`${as}/`).split(`"${url}"`).join(`"${as}"`);
  return result;
}

/** Makes conda-meta/history independent of the build time (it is the only dated file). */
async function normalizeHistory(prefix: string): Promise<void> {
  const path = join(prefix, 'conda-meta', 'history');
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  await writeFile(path, text.replace(/^==> .* <==$/gm, '==> 2000-01-01 00:00:00 <=='));
}

/** conda-meta/pinned from the spec's `pinned.conda` ({name: "version[=build]"}). */
async function writePinned(prefix: string, spec: Spec | undefined): Promise<void> {
  const pins = spec?.pinned?.conda;
  if (!pins || Object.keys(pins).length === 0) return;
  const lines = Object.keys(pins)
    .sort()
    .map((name) => `${name}=${pins[name]}`);
  await mkdir(join(prefix, 'conda-meta'), { recursive: true });
  await writeFile(join(prefix, 'conda-meta', 'pinned'), `${lines.join('\n')}\n`);
}

/**
 * Builds (or serves from the cache) the tarball for a spec. Credentials in URLs are redacted
 * from everything it logs and from the errors it throws.
 */
export async function createTarball(
  specInput: string | SpecSource,
  output: string,
  options: CreateOptions = {},
): Promise<CreateResult> {
  const logger = options.logger && redactingLogger(options.logger);
  try {
    return await createTarballUnredacted(specInput, output, { ...options, logger });
  } catch (error) {
    throw redactError(explainDiskFull(error, options));
  }
}

/** A full disk: say which of the folders a create writes to is full, and how to move it. */
function explainDiskFull(error: unknown, options: CreateOptions): unknown {
  if (!isPonchoError(error) || error.code !== 'ERR_DISK_FULL') return error;
  const places: Array<[string, string]> = [
    [
      options.buildRoot ?? tmpdir(),
      'set TMPDIR to a folder on a larger disk (the environment is built there)',
    ],
    [options.cacheDir ?? defaultCacheDir(), 'use --cache-dir on a larger disk, or --no-cache'],
    [options.pkgsDir ?? defaultPkgsDir(), 'use --pkgs-dir (or PONCHO_PKGS_DIR) on a larger disk'],
  ];
  const place = places.find(([dir]) => error.message.includes(`${dir}/`));
  if (place) {
    Object.defineProperty(error, 'hint', {
      value: `Free some disk space in ${place[0]}, or ${place[1]}.`,
      configurable: true,
      writable: true,
    });
  }
  return error;
}

async function createTarballUnredacted(
  specInput: string | SpecSource,
  output: string,
  options: CreateOptions,
): Promise<CreateResult> {
  const read = typeof specInput === 'string' ? await readSpecSource(specInput) : specInput;
  if (read.kind === 'lock') {
    assertDataCredentials(read.spec, read.source);
    assertPipPinned(read.lock, read.source);
  }
  const source =
    read.kind === 'lock'
      ? { ...read, lock: restoreLockCredentials(read.lock, options.channels ?? [], read.source) }
      : read;
  const out = resolve(output);
  const outPlan = await checkOutput(out);
  // What killed creates left behind (never an error: cleaning up is not this create's job).
  if (outPlan.kind === 'replace') await removeDeadOutputTemps(outPlan.path);
  await removeDeadBuilds(options.buildRoot ?? tmpdir());
  if (source.kind === 'prefix') return packExistingPrefix(source.prefix, out, options);

  const logger = options.logger;
  const platform =
    options.platform ?? (source.kind === 'lock' ? source.lock.platform : hostPlatform());
  const spec = source.spec;
  const channels = options.channels?.length
    ? options.channels
    : source.kind === 'lock'
      ? source.lock.channels
      : (spec as Spec).conda.channels;
  const backend = await selectBackend(options.backend ?? 'embedded', options.condaExecutable);
  const format = archiveFormatFor(out);
  const level = options.compressLevel ?? 6;
  const pipItems = source.kind === 'lock' ? source.lock.pip : spec ? pipDependencies(spec) : [];
  const pipSources = {
    indexUrl: options.pipIndexUrl,
    findLinks: options.findLinks?.map((l) => (l.includes('://') ? l : resolve(l))),
    noIndex: options.noPipIndex,
  };

  // The cache is keyed on what gets installed, not only on the spec's text: solve first (a warm
  // solve takes well under a second), so that a channel that added or withdrew a version gives
  // a new key instead of the old tarball.
  const solved =
    source.kind === 'spec' && backend.kind === 'embedded'
      ? await solveSpec(source.spec, {
          channels,
          platform,
          channelAlias: options.channelAlias,
          pkgsDir: options.pkgsDir ?? defaultPkgsDir(),
          cacheDir: options.repodataDir,
          offline: options.offline,
          virtualPackages: options.virtualPackages,
          logger: options.logger,
          signal: options.signal,
        })
      : undefined;
  const key = hashKey({
    cacheFormat: CACHE_FORMAT,
    kind: source.kind,
    spec: spec ? serializeSpec(spec) : null,
    // Without credentials: they give access, they do not change the tarball.
    lock: source.kind === 'lock' ? redactUrlCredentials(serializeLock(source.lock)) : null,
    solved: solved ? redactUrlCredentials(serializeLock(solved)) : null,
    platform,
    channels,
    channelAlias: options.channelAlias ?? process.env.CONDA_CHANNEL_ALIAS ?? null,
    pip: {
      items: pipArguments(pipItems, source.baseDir),
      indexUrl: pipSources.indexUrl ?? null,
      findLinks: pipSources.findLinks ?? [],
      noIndex: Boolean(pipSources.noIndex),
    },
    backend: backend.kind,
    // With and without .pyc files are different tarballs.
    compile: options.compile ?? true,
    // Likewise without what post-link scripts add (only then in the key: old keys stay).
    ...(options.linkScripts === false ? { linkScripts: false } : {}),
    format,
    level,
  });

  const plan: BuildPlan = {
    source,
    spec,
    channels,
    platform,
    backend,
    pipItems,
    pipSources,
    format,
    level,
    key,
    solved,
    options,
  };
  const build = (target: string) => buildTarball(plan, target);

  const finish = async (result: Omit<CreateResult, 'lockFile'>): Promise<CreateResult> => {
    if (options.lockFile && result.lock) {
      await writeFileAtomic(resolve(options.lockFile), lockFileText(result.lock, spec), {
        what: 'lock file',
      });
      return { ...result, lockFile: resolve(options.lockFile) };
    }
    return result;
  };

  if (options.noCache) {
    const built = await build(out);
    return finish({ path: out, ...built, cached: false });
  }

  const cache = new TarballCache(
    options.cacheDir ?? defaultCacheDir(),
    format === 'tar' ? '.tar' : '.tar.gz',
  );
  return cache.withLock(
    key,
    async () => {
      const lockCopy = join(cache.dir, `${key}.lock.json`);
      if (!options.force) {
        const hit = await cache.lookup(key);
        if (hit) {
          await copyToOutput(hit.path, out, { what: 'environment tarball' });
          logger?.info(`served from the tarball cache (${hit.path})`);
          const lockText = await readFile(lockCopy, 'utf8').catch(() => undefined);
          const lock = lockText ? (JSON.parse(lockText) as Lock) : undefined;
          return finish({
            path: out,
            size: hit.size,
            sha256: hit.sha256,
            packages: hit.packages,
            cached: true,
            lock,
            warnings: [],
          });
        }
      }
      const temp = cache.tempPath(key);
      try {
        const built = await build(temp);
        const entry = await cache.store(key, temp, {
          sha256: built.sha256,
          size: built.size,
          packages: built.packages,
        });
        await writeFileAtomic(lockCopy, lockFileText(built.lock, spec), { what: 'cached lock' });
        await copyToOutput(entry.path, out, { what: 'environment tarball' });
        return finish({ path: out, ...built, cached: false });
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    },
    (message) => logger?.info(message),
  );
}

/** Everything createTarball decided before building. */
interface BuildPlan {
  source: Exclude<SpecSource, { kind: 'prefix' }>;
  spec: Spec | undefined;
  channels: string[];
  platform: string;
  backend: Backend;
  pipItems: string[];
  pipSources: { indexUrl?: string; findLinks?: string[]; noIndex?: boolean };
  format: ArchiveFormat;
  level: number;
  /** The cache key (names the build folder when no lock is known before building). */
  key: string;
  /** The spec's solve, done before the cache lookup (embedded backend). */
  solved?: Lock;
  options: CreateOptions;
}

interface Built {
  size: number;
  sha256: string;
  packages: number;
  lock: Lock;
  warnings: string[];
}

/**
 * Solves (unless a lock is given), builds the environment in a build folder named after the
 * lock, adds the pip section, pins and data, packs it into `target`, and removes the folder.
 */
async function buildTarball(plan: BuildPlan, target: string): Promise<Built> {
  const { source, spec, channels, platform, options } = plan;
  const { logger, signal } = options;
  // Checked before anything is built: a missing or read-only TMPDIR is a message at once.
  const buildRoot = options.buildRoot ?? (await usableTempDir());
  const pkgsDir = options.pkgsDir ?? defaultPkgsDir();
  const installerOptions: InstallerOptions = {
    channels,
    platform,
    channelAlias: options.channelAlias,
    pkgsDir,
    cacheDir: options.repodataDir,
    offline: options.offline,
    virtualPackages: options.virtualPackages,
    compile: options.compile,
    concurrency: options.downloadConcurrency,
    verifyCache: options.verifyCache,
    linkScripts: options.linkScripts,
    logger,
    signal,
  };
  const specs = spec ? condaDependencies(spec) : source.kind === 'lock' ? source.lock.specs : [];
  const lock = source.kind === 'lock' ? canonicalLock(source.lock) : plan.solved;
  // The spec's own channel names (a lock holds them resolved to URLs).
  const specChannels = options.channels?.length
    ? options.channels
    : spec
      ? spec.conda.channels
      : channels;
  const channelAliases = relativeChannelAliases(specChannels, options.channelAlias);
  // Same packages, same folder: the prefix string inside the files (.pyc files name their
  // source) is then the same too, also for a relative local channel checked out elsewhere.
  const buildKey = lock
    ? hashKey(
        aliasChannelUrls(
          lockFileText({ ...lock, pip: [], pipRequested: undefined }, undefined),
          channelAliases,
        ),
      )
    : plan.key;
  return withBuildFolder(
    buildRoot,
    buildKey,
    async (buildPrefix) => {
      const { lock: built, warnings } = await buildEnvironment(
        plan,
        buildPrefix,
        specs,
        lock,
        installerOptions,
      );
      logger?.info(`packing ${buildPrefix}`);
      // The tarball travels to other machines: no credentials in what it carries.
      const specYaml = redactUrlCredentials(
        spec
          ? await condaSpecYaml(specChannels, spec.conda.dependencies)
          : await condaSpecYaml(channels, lockDependencies(built)),
      );
      const packed = await packPrefix({
        prefix: buildPrefix,
        // The same bytes whatever TMPDIR is: the files name the build folder as it would be
        // under the default temporary folder (builds there are packed unchanged).
        packedPrefix: posix.join('/tmp', basename(buildPrefix)),
        output: target,
        platform,
        specYaml,
        channelAliases,
        pkgsDirs: [pkgsDir],
        compressLevel: plan.level,
        threads: options.threads,
        format: plan.format,
        logger,
        signal,
        onProgress: options.onPackProgress,
        extraFiles: [
          {
            path: '.poncho/lock.json',
            mode: 0o644,
            data: Buffer.from(aliasChannelUrls(lockFileText(built, spec), channelAliases)),
          },
        ],
      });
      return {
        size: packed.size,
        sha256: packed.sha256,
        packages: built.packages.length,
        lock: built,
        warnings: [...warnings, ...packed.warnings],
      };
    },
    logger,
  );
}

/**
 * The environment in `prefix`: conda packages, pip section, pins, data sections. Returns the
 * lock, and warnings (post-link scripts not run).
 */
async function buildEnvironment(
  plan: BuildPlan,
  prefix: string,
  specs: string[],
  lock: Lock | undefined,
  installerOptions: InstallerOptions,
): Promise<{ lock: Lock; warnings: string[] }> {
  const { source, spec, backend, options } = plan;
  const { logger, signal } = options;
  let built: Lock;
  const warnings: string[] = [];
  if (backend.kind === 'embedded') {
    const { installLock } = await import('./install/index.js');
    built = lock as Lock;
    logger?.info(`installing ${built.packages.length} package(s)`);
    const report = await installLock(built, prefix, { ...installerOptions, requestedSpecs: specs });
    warnings.push(...(report.warnings ?? []));
  } else {
    const scratch = `${prefix}.scratch`;
    await mkdir(scratch, { recursive: true });
    try {
      built = await createWithBackend(backend, prefix, lock ? { lock } : { specs }, {
        channels: plan.channels,
        platform: plan.platform,
        logger,
        signal,
        scratch,
      });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const { installPipRequirements } = await import('./pip.js');
  const fromLock = source.kind === 'lock' ? source.lock : undefined;
  const pip = await installPipRequirements(prefix, plan.pipItems, {
    ...plan.pipSources,
    baseDir: source.baseDir,
    exact: fromLock !== undefined,
    requested: fromLock?.pipRequested,
    compile: options.compile,
    logger,
    signal,
  });
  await writePinned(prefix, spec);
  if (spec) {
    const { fetchDataSections } = await import('./data-sections.js');
    await fetchDataSections(prefix, spec, { logger, signal });
  }
  await normalizeHistory(prefix);
  signal?.throwIfAborted();
  const pipLock = fromLock
    ? {
        pip: fromLock.pip,
        ...(fromLock.pipRequested ? { pipRequested: fromLock.pipRequested } : {}),
      }
    : { pip: pip.pins, ...(pip.pins.length > 0 ? { pipRequested: pip.requested } : {}) };
  return { lock: { ...built, ...pipLock }, warnings };
}

/** SPEC is an existing conda prefix: pack it as it is (no cache: its content is not keyed). */
async function packExistingPrefix(
  prefix: string,
  out: string,
  options: CreateOptions,
): Promise<CreateResult> {
  const packages = await readCondaMeta(prefix);
  const platform = options.platform ?? (await prefixPlatform(prefix)) ?? hostPlatform();
  const deps = packages.map((p) => `${p.name}=${p.version}=${p.build}`).sort();
  const channels = [
    ...new Set(packages.map((p) => p.channel).filter((c): c is string => Boolean(c))),
  ];
  try {
    const packed = await packPrefix({
      prefix,
      output: out,
      platform,
      managedFiles: options.ignoreMissingFiles ? 'warn' : 'check',
      specYaml: redactUrlCredentials(await condaSpecYaml(channels, deps)),
      pkgsDirs: [options.pkgsDir ?? defaultPkgsDir()],
      compressLevel: options.compressLevel,
      threads: options.threads,
      logger: options.logger,
      signal: options.signal,
      onProgress: options.onPackProgress,
    });
    return {
      path: out,
      size: packed.size,
      sha256: packed.sha256,
      packages: packages.length,
      cached: false,
      warnings: packed.warnings,
    };
  } catch (error) {
    if (isPonchoError(error) || !errnoCode(error)) throw error;
    throw fileError(error, out, 'environment tarball');
  }
}

async function prefixPlatform(prefix: string): Promise<string | undefined> {
  for (const pkg of await readCondaMeta(prefix)) {
    const text = await readFile(
      join(prefix, 'conda-meta', `${pkg.name}-${pkg.version}-${pkg.build}.json`),
      'utf8',
    ).catch(() => '');
    const subdir = /"subdir"\s*:\s*"([^"]+)"/.exec(text)?.[1];
    if (subdir && subdir !== 'noarch') return subdir;
  }
  return undefined;
}
