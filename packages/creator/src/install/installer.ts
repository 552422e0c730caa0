/**
 * The installer: a Lock -> a working conda prefix (download, verify, extract, link, compile,
 * conda-meta), and specs -> solve -> prefix. Phases run one after the other so that each is
 * timed on its own; within a phase packages run in parallel with a bound.
 */

import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { findEscapingSymlink } from '@poncho/core/archive-paths';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { Lock, type LockedPackage } from '@poncho/core/lock';
import { compilePython } from './compile.js';
import {
  assertPrefixFits,
  executeLink,
  type LinkedPackage,
  type LinkPlan,
  planLink,
  pythonLayout,
} from './link.js';
import { runPostLinkScripts } from './link-scripts.js';
import { appendHistory, writeCondaMeta } from './meta.js';
import { type InstallerOptions, resolveOptions } from './options.js';
import {
  archivePath,
  ensureArchive,
  ensureExtracted,
  extractedPackageDamage,
  extractedPackageDir,
  isExtracted,
  withPackageLock,
} from './package-cache.js';
import { readPackageMetadata } from './package-metadata.js';
import { hostPlatform } from './platform.js';
import { mapBounded } from './pool.js';
import { createProgress } from './progress.js';
import { solve } from './solve.js';

export interface InstallReport {
  prefix: string;
  packages: number;
  /** linkMs includes compileMs (the .pyc compilation with the environment's python). */
  timings: {
    solveMs: number;
    downloadMs: number;
    extractMs: number;
    linkMs: number;
    compileMs?: number;
  };
  /**
   * Every linked file that held a prefix placeholder, in package order; `source` is its pristine
   * copy in the package cache (for noarch: python packages its path differs from `path`).
   */
  prefixFiles: Array<{
    path: string;
    placeholder: string;
    mode: 'text' | 'binary';
    package: string;
    source: string;
  }>;
  /** Bytes downloaded (0 on a warm package cache) and packages downloaded / extracted now. */
  downloadedBytes?: number;
  downloadedPackages?: number;
  extractedPackages?: number;
  /** Things the user should know (post-link scripts skipped). */
  warnings?: string[];
  /** What post-link scripts wrote to $PREFIX/.messages.txt. */
  messages?: string;
}

export interface InstallLockOptions extends InstallerOptions {
  /** The specs the user asked for: recorded as requested_spec and in conda-meta/history. */
  requestedSpecs?: string[];
  /** The command line recorded in conda-meta/history. */
  command?: string;
}

function validateLock(lock: Lock): Lock {
  const parsed = Lock.safeParse(lock);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PonchoError(
      'ERR_LOCK_INVALID',
      `invalid lock: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      {
        hint: 'Regenerate the lock by solving again.',
      },
    );
  }
  return parsed.data;
}

/** The prefix must not exist, or be an empty folder: we never mix with or overwrite a tree. */
async function preparePrefix(prefix: string): Promise<boolean> {
  try {
    const entries = await readdir(prefix);
    if (entries.length > 0) {
      throw new PonchoError(
        'ERR_PREFIX_EXISTS',
        `the environment folder already exists and is not empty: ${prefix}`,
        {
          hint: 'Remove it, or choose another path for the new environment.',
        },
      );
    }
    return false;
  } catch (error) {
    if (error instanceof PonchoError) throw error;
    if (errnoCode(error) !== 'ENOENT') throw fileError(error, prefix, 'environment folder');
  }
  try {
    await mkdir(prefix, { recursive: true });
  } catch (error) {
    throw fileError(error, prefix, 'environment folder');
  }
  return true;
}

export async function installLock(
  lockInput: Lock,
  prefixInput: string,
  options: InstallLockOptions,
): Promise<InstallReport> {
  const lock = validateLock(lockInput);
  const resolved = resolveOptions({
    ...options,
    channels: options.channels ?? lock.channels,
    platform: lock.platform,
  });
  const { pkgsDir, logger, signal } = resolved;
  // Relative paths are taken from the working directory: the prefix is baked into files.
  const prefix = resolve(prefixInput);
  const progress = createProgress(logger, {
    intervalMs: Number(process.env.PONCHO_PROGRESS_INTERVAL_MS) || undefined,
  });
  const packages = lock.packages;
  const extractLimit = Math.max(1, Math.min(4, availableParallelism()));

  // Download: only what is not already extracted in the cache.
  const downloadStart = performance.now();
  const missing: typeof packages = [];
  // Damaged cache entries (a file edited, appended to or deleted in pkgs/) are extracted again
  // from their archive, which ensureArchive verifies against the lock's sha256.
  const damaged = new Set<string>();
  await mapBounded(
    packages,
    extractLimit,
    async (pkg) => {
      if (!(await isExtracted(pkgsDir, pkg))) return;
      const damage = await extractedPackageDamage(pkgsDir, pkg, resolved.verifyCache);
      if (!damage) return;
      logger.warn(
        `the package cache's copy of ${pkg.fileName} is damaged (${damage}); extracting it again`,
      );
      damaged.add(pkg.fileName);
    },
    signal,
  );
  for (const pkg of packages) {
    if (damaged.has(pkg.fileName) || !(await isExtracted(pkgsDir, pkg))) missing.push(pkg);
  }
  let downloadedBytes = 0;
  let downloadedPackages = 0;
  progress.phase(
    'downloading',
    missing.length,
    missing.reduce((sum, p) => sum + (p.size ?? 0), 0),
  );
  await mapBounded(
    missing,
    resolved.concurrency,
    async (pkg) => {
      await withPackageLock(pkgsDir, pkg, async () => {
        if (!damaged.has(pkg.fileName) && (await isExtracted(pkgsDir, pkg))) return;
        const bytes = await ensureArchive(pkgsDir, pkg, {
          offline: resolved.offline,
          signal,
          onBytes: (n) => progress.bytes(n),
        });
        if (bytes > 0) {
          downloadedBytes += bytes;
          downloadedPackages += 1;
          logger.debug(`downloaded ${pkg.url} (${bytes} bytes)`);
        }
      });
      progress.done();
    },
    signal,
  );
  const downloadMs = performance.now() - downloadStart;

  const extractStart = performance.now();
  let extractedPackages = 0;
  progress.phase('extracting', missing.length);
  await mapBounded(
    missing,
    extractLimit,
    async (pkg) => {
      await withPackageLock(pkgsDir, pkg, async () => {
        const force = damaged.has(pkg.fileName);
        if (await ensureExtracted(pkgsDir, pkg, { force })) extractedPackages += 1;
      });
      progress.done();
    },
    signal,
  );
  const extractMs = performance.now() - extractStart;

  // Link: plan (and check) everything first, so a bad package fails before the prefix is touched.
  const linkStart = performance.now();
  const python = pythonLayout(packages, await pythonSitePackagesPath(pkgsDir, packages));
  const plans: LinkPlan[] = [];
  for (const pkg of packages) {
    const dir = extractedPackageDir(pkgsDir, pkg);
    const plan = await planLink(pkg, dir, await readPackageMetadata(dir), python);
    assertPrefixFits(plan, prefix);
    plans.push(plan);
  }
  const created = await preparePrefix(prefix);
  progress.phase('linking', plans.length);
  try {
    const linked: LinkedPackage[] = [];
    for (const plan of plans) {
      signal?.throwIfAborted();
      linked.push(await executeLink(plan, prefix, python));
      progress.done();
    }
    // Each softlink was checked as text; together they may still lead out (`d -> a/..` with
    // `a -> .`), which only the file system can tell once all packages are linked.
    const softlinks = plans.flatMap((plan) =>
      plan.paths.flatMap(
        (p): Array<[string, string]> =>
          p.linkTarget === undefined ? [] : [[p.target, p.linkTarget]],
      ),
    );
    const escaping = await findEscapingSymlink(prefix, softlinks);
    if (escaping) {
      throw new PonchoError(
        'ERR_UNSAFE_PATH',
        `refusing the environment ${prefix}: symlink "${escaping.path}" -> "${escaping.target}" resolves outside the prefix`,
        { hint: 'A package of this environment is malformed or malicious; do not use it.' },
      );
    }
    let compileMs = 0;
    if (resolved.compile && python && lock.platform === hostPlatform()) {
      const compileStart = performance.now();
      const sources = linked.flatMap((l) => l.pythonSources);
      const compiled = await compilePython(prefix, python, sources, signal);
      for (const l of linked) {
        for (const source of l.pythonSources) {
          const pyc = compiled.get(source);
          if (pyc) l.paths.push({ _path: pyc, path_type: 'pyc_file' });
        }
      }
      compileMs = performance.now() - compileStart;
    }
    const scripts = await runPostLinkScripts(
      prefix,
      linked.map((l) => l.pkg),
      {
        runScripts: resolved.linkScripts,
        cannotRunBecause:
          lock.platform === hostPlatform()
            ? undefined
            : `the environment is for ${lock.platform}, not this machine`,
        logger,
        signal,
      },
    );
    const requested = options.requestedSpecs ?? lock.specs;
    for (const l of linked) await writeCondaMeta(prefix, l, requested, archivePath(pkgsDir, l.pkg));
    await appendHistory(
      prefix,
      packages,
      requested,
      options.command ?? `poncho_package_create ${requested.join(' ')}`,
    );
    progress.finish();
    return {
      prefix,
      packages: packages.length,
      timings: {
        solveMs: 0,
        downloadMs,
        extractMs,
        linkMs: performance.now() - linkStart,
        compileMs,
      },
      prefixFiles: linked.flatMap((l) => l.prefixFiles),
      downloadedBytes,
      downloadedPackages,
      extractedPackages,
      warnings: scripts.warnings,
      ...(scripts.messages ? { messages: scripts.messages } : {}),
    };
  } catch (error) {
    progress.finish();
    // Never leave a half-built environment behind.
    if (created) await rm(prefix, { recursive: true, force: true });
    else await emptyFolder(prefix);
    throw error;
  }
}

/** The python record's own `python_site_packages_path`, if it has one (from its index.json). */
async function pythonSitePackagesPath(
  pkgsDir: string,
  packages: LockedPackage[],
): Promise<string | undefined> {
  const python = packages.find((p) => p.name === 'python');
  if (!python) return undefined;
  const index = join(extractedPackageDir(pkgsDir, python), 'info', 'index.json');
  const record = JSON.parse(await readFile(index, 'utf8').catch(() => '{}')) as {
    python_site_packages_path?: unknown;
  };
  const path = record.python_site_packages_path;
  return typeof path === 'string' && path !== '' ? path : undefined;
}

async function emptyFolder(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => []))
    await rm(resolve(dir, entry), { recursive: true, force: true });
}

export async function createEnvironment(
  specs: string[],
  prefix: string,
  options: InstallLockOptions,
): Promise<{ lock: Lock; report: InstallReport }> {
  const solveStart = performance.now();
  const lock = await solve(specs, options);
  const solveMs = performance.now() - solveStart;
  const report = await installLock(lock, prefix, {
    ...options,
    requestedSpecs: options.requestedSpecs ?? specs,
  });
  report.timings.solveMs = solveMs;
  return { lock, report };
}
