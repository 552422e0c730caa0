/**
 * The library entry point: sources in, spec and report out. Reads and scans the sources (cached
 * by content, spread over worker threads when there are many), follows local modules, then
 * classifies every import (future, relative, local, stdlib, or a package) and builds the spec.
 */

import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { ExitCode, fileError, PonchoError, UsageError } from '@poncho/core/errors';
import { condaDependencies, pipDependencies, type Spec } from '@poncho/core/spec-format';
import { defaultCacheDir, ScanCache } from './cache.js';
import type { FoundImport } from './imports.js';
import { legacyModule } from './legacy-stdlib.js';
import { type LocalModule, LocalResolver } from './local.js';
import {
  depfinderTable,
  PackageMapper,
  parsePackageMappings,
  type ResolvedPackage,
} from './mapping.js';
import type { ScanPool } from './pool.js';
import { type PrefixIndex, pin, readPrefix } from './prefix.js';
import { checkPythonVersion, type PythonTarget, pythonTarget } from './python-version.js';
import type {
  AnalyzeReport,
  ExclusionReason,
  ReportImport,
  ReportSource,
  Resolution,
} from './report.js';
import { parseCondaSpec, parsePipRequirement } from './requirements.js';
import { type FoundResult, ResultCache, recordTool } from './result-cache.js';
import { RunInputs } from './run-inputs.js';
import { type FileScan, outcomeError, type ScanOutcome } from './scan-outcome.js';
import {
  displayPath,
  expandSources,
  isTestFile,
  readSource,
  readStream,
  type SourceFile,
  STDIN,
} from './sources.js';
import { buildSpec } from './spec.js';
import { stdlibModules } from './stdlib.js';

export interface AnalyzeOptions {
  /** Folder relative paths are resolved against (default: process.cwd()). */
  cwd?: string;
  /** Only imports executed when the module loads (not inside any function). */
  toplevel?: boolean;
  /** Only imports inside this function (`name`, `Class.method`, `outer.inner`). */
  function?: string;
  /** `IMPORT=NAME` strings or a ready map; NAME may be `pip:NAME`. */
  pkgMapping?: readonly string[] | ReadonlyMap<string, string>;
  /** Conda environment to resolve and pin packages from. Default: $CONDA_PREFIX; null: none. */
  prefix?: string | null;
  /** Packages added whatever the code imports (`pip:NAME` for pip). */
  extraPkgs?: readonly string[];
  /** Channels of the spec (default: conda-forge). */
  channels?: readonly string[];
  /** Target Python version X.Y[.Z]. */
  pythonVersion?: string;
  /** Interpreter whose version is the target. */
  python?: string;
  /** More folders local modules may live in. */
  sourceRoots?: readonly string[];
  /** Import names (or dotted prefixes) never turned into dependencies. */
  exclude?: readonly string[];
  /** Syntax errors are fatal instead of warnings. */
  strict?: boolean;
  /** Scan cache folder, or false to disable (default: $XDG_CACHE_HOME/poncho/analyze). */
  cache?: string | false;
  /** Threads that parse, this one included (default: available cores; 0 or 1: this one only). */
  threads?: number;
  env?: NodeJS.ProcessEnv;
  /** Standard input, read when a source is `-` (default: process.stdin). */
  stdin?: Uint8Array | NodeJS.ReadableStream;
  /** Called with each warning as it is found (they are also in the report). */
  onWarning?: (message: string) => void;
  /** Called as files are scanned. */
  onProgress?: (done: number, total: number) => void;
}

export interface AnalyzeStats {
  files: number;
  /** Files read from disk (the others were unchanged since a run that cached them). */
  read: number;
  cacheHits: number;
  parsed: number;
  threads: number;
  /** The whole result is an earlier run's: same options, nothing it read has changed. */
  reused: boolean;
}

export interface AnalyzeResult {
  spec: Spec;
  report: AnalyzeReport;
  stats: AnalyzeStats;
}

/** Below this many files to parse, starting worker threads costs more than it saves. */
const WORKER_THRESHOLD = 16;
/** Files read (and held in memory) at once. */
const CHUNK = 1024;
const DEFAULT_CHANNELS = ['conda-forge'];

interface Entry {
  file: SourceFile;
  /** Named on the command line (selection options apply), not followed from an import. */
  original: boolean;
  followedFrom?: string;
  scan?: FileScan;
  /** Local resolution of each import, by index in scan.imports. */
  local?: Array<LocalModule | undefined>;
}

export async function analyze(
  sources: readonly string[],
  options: AnalyzeOptions = {},
): Promise<AnalyzeResult> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  if (sources.length === 0)
    throw new UsageError('no source given', 'Name at least one Python file or folder.');
  if (options.toplevel && options.function !== undefined) {
    throw new UsageError('--toplevel and --function exclude each other', 'Use one of them.');
  }
  const channels = options.channels?.length ? [...options.channels] : DEFAULT_CHANNELS;
  for (const channel of channels) {
    if (!channel.trim())
      throw new UsageError(
        'empty --channel',
        'Give a channel name or URL, e.g. --channel conda-forge.',
      );
  }
  const extras = splitExtras(options.extraPkgs ?? []);
  const mappings =
    options.pkgMapping instanceof Map
      ? options.pkgMapping
      : parsePackageMappings((options.pkgMapping as string[]) ?? []);
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    options.onWarning?.(message);
  };

  if (options.pythonVersion !== undefined) {
    checkPythonVersion(options.pythonVersion);
    stdlibModules(options.pythonVersion);
  }
  const prefixPath =
    options.prefix === null ? undefined : options.prefix || env.CONDA_PREFIX || undefined;
  const wantFunctions = options.function !== undefined;
  const cache =
    options.cache === false
      ? undefined
      : new ScanCache(
          options.cache ?? defaultCacheDir(env),
          `${wantFunctions ? 'functions' : 'imports'}${options.strict ? '+python2' : ''}`,
        );
  // The same options and nothing read has changed since an earlier run: its result.
  const results =
    cache && !sources.includes(STDIN)
      ? new ResultCache(cache.dir, {
          scan: cache.salt,
          cwd,
          sources,
          toplevel: options.toplevel === true,
          function: options.function ?? null,
          mappings: [...mappings],
          extras,
          channels,
          pythonVersion: options.pythonVersion ?? null,
          python: options.python ?? null,
          prefix: prefixPath === undefined ? null : resolve(cwd, prefixPath),
          sourceRoots: (options.sourceRoots ?? []).map((root) => resolve(cwd, root)),
          exclude: options.exclude ?? [],
          strict: options.strict === true,
        })
      : undefined;
  const earlier = results?.lookup();
  if (earlier && (await samePython(earlier, options, env))) return reuse(earlier, options);
  const inputs = results ? new RunInputs() : undefined;
  if (inputs) recordTool(inputs);

  const expanded = await expandSources(sources, cwd, {
    strict: options.strict,
    warn,
    inputs,
  });
  const sourceRoots = await Promise.all(
    (options.sourceRoots ?? []).map((root) => checkFolder(resolve(cwd, root), root, inputs)),
  );
  const resolver = new LocalResolver([...expanded.roots, ...sourceRoots], inputs);

  // The environment and the target version (which may start an interpreter) are only needed
  // once the files are scanned: find them meanwhile.
  const prefixReady: Promise<PrefixIndex | undefined> = prefixPath
    ? readPrefix(resolve(cwd, prefixPath), inputs)
    : Promise.resolve(undefined);
  const pythonReady = prefixReady.then((prefix) =>
    pythonTarget({ pythonVersion: options.pythonVersion, python: options.python, prefix, env }),
  );
  // Awaited below; until then a failure must not count as unhandled.
  prefixReady.catch(() => {});
  pythonReady.catch(() => {});

  // Scan the sources, then the local modules they import, breadth first, each file once.
  const threads = options.threads ?? availableParallelism();
  // The parser's modules are loaded only when something is not in the cache.
  let poolModule: typeof import('./pool.js') | undefined;
  const newPool = async (count: number) => {
    poolModule ??= await import('./pool.js');
    return new poolModule.ScanPool(count, { functions: wantFunctions, python2: options.strict });
  };
  // Promises, so that concurrent callers share one pool.
  let inline: Promise<ScanPool> | undefined;
  let workers: Promise<ScanPool> | undefined;
  const stats: AnalyzeStats = {
    files: 0,
    read: 0,
    cacheHits: 0,
    parsed: 0,
    threads: 0,
    reused: false,
  };
  let stdinBytes: Promise<Uint8Array> | undefined;
  const stdin = () => {
    stdinBytes ??=
      options.stdin instanceof Uint8Array
        ? Promise.resolve(options.stdin)
        : readStream(options.stdin ?? process.stdin);
    return stdinBytes;
  };

  // Whether an installed package of this top-level name comes before a local namespace
  // portion: the environment's records say so exactly. Without an environment, a package must
  // be known for the name (the table, --pkg-mapping) and the portion must not hold what is
  // imported (a `config/` folder with the `config/settings.py` imported is the user's code).
  const installed = async (top: string, local: LocalModule): Promise<boolean> => {
    const prefix = await prefixReady;
    if (prefix) return prefix.regular.has(top) || prefix.moduleFiles.has(top);
    return local.files.length === 0 && (mappings.has(top) || depfinderTable().has(top));
  };
  const entries: Entry[] = [];
  const seen = new Set<string>(expanded.files.map((f) => f.path));
  let queue: Entry[] = expanded.files.map((file) => ({ file, original: true }));
  let total = queue.length;
  try {
    while (queue.length > 0) {
      const round = queue;
      queue = [];
      for (let start = 0; start < round.length; start += CHUNK) {
        const chunk = round.slice(start, start + CHUNK);
        // Read, hash and look up every file first (cheap), then parse the misses largest first
        // so that no thread is left with one big file at the end.
        const prepared = await Promise.all(
          chunk.map(async (entry) => {
            // Unchanged since the last run (same stat): the cached scan, without reading.
            const path = entry.file.path;
            // statSync: a few microseconds each, against a thread-pool round trip for stat().
            const info =
              cache && path !== STDIN ? statSync(path, { throwIfNoEntry: false }) : undefined;
            if (path === STDIN) inputs?.unverifiable();
            else inputs?.path(path, info ?? null);
            const known = info?.isFile() ? cache?.stats.lookup(path, info) : undefined;
            const cached = known === undefined ? undefined : cache?.get(known);
            if (cached) return { hit: cached };
            const readAt = Date.now();
            let bytes: Uint8Array;
            try {
              bytes = await readSource(entry.file, stdin);
              stats.read++;
            } catch (error) {
              // One dangling link or unreadable file in a folder does not end the run.
              if (entry.file.named || options.strict || !(error instanceof PonchoError))
                throw error;
              inputs?.unverifiable();
              warn(`${entry.file.display}: skipped: ${error.message}`);
              return { skipped: true as const };
            }
            const key = cache?.key(bytes);
            if (key !== undefined && info?.isFile()) cache?.stats.record(path, info, key, readAt);
            const hit = key === undefined ? undefined : cache?.get(key);
            if (!hit && threads > 1 && chunk.length >= WORKER_THRESHOLD) {
              // Probably a cold run: boot the workers while the other files are read.
              workers ??= newPool(threads);
              (await workers).warmUp();
            }
            return { bytes, key, hit };
          }),
        );
        const outcomes: Array<ScanOutcome | undefined> = [];
        const misses: number[] = [];
        for (const [i, read] of prepared.entries()) {
          if ('skipped' in read) {
            stats.files++;
            continue;
          }
          const { hit } = read;
          if (hit) {
            outcomes[i] = hit;
            stats.cacheHits++;
            stats.files++;
            options.onProgress?.(stats.files, total);
          } else misses.push(i);
        }
        const size = (i: number) => {
          const read = prepared[i];
          return read && 'bytes' in read ? (read.bytes?.length ?? 0) : 0;
        };
        misses.sort((a, b) => size(b) - size(a));
        let scanner: ScanPool | undefined;
        if (threads > 1 && misses.length >= WORKER_THRESHOLD) {
          workers ??= newPool(threads);
          stats.threads = threads;
          scanner = await workers;
        } else if (misses.length > 0) {
          inline ??= newPool(0);
          scanner = await inline;
        }
        await Promise.all(
          misses.map(async (i) => {
            const { bytes, key } = prepared[i] as { bytes: Uint8Array; key?: string };
            const outcome = await (scanner as ScanPool).scan(
              bytes,
              (chunk[i] as Entry).file.display,
            );
            outcomes[i] = outcome;
            stats.parsed++;
            stats.files++;
            if (cache && key !== undefined && outcome.ok) cache.put(key, outcome);
            options.onProgress?.(stats.files, total);
          }),
        );
        for (const [i, entry] of chunk.entries()) {
          const outcome = outcomes[i];
          if (!outcome) continue; // skipped (unreadable)
          if (!outcome.ok) {
            const error = outcomeError(outcome);
            if (entry.file.named || options.strict) throw error;
            warn(`${entry.file.display}: skipped: ${error.message}`);
            continue;
          }
          entry.scan = outcome.scan;
          entries.push(entry);
          for (const followed of await follow(entry, resolver, options, cwd, seen, installed)) {
            queue.push(followed);
            total++;
          }
        }
      }
    }
  } finally {
    // One write per shard for the whole run (see cache.ts).
    cache?.flush();
    if (workers) await (await workers).close();
  }

  for (const entry of entries) {
    for (const problem of entry.scan?.syntaxErrors ?? []) {
      const where = `${entry.file.display}:${problem.line}:${problem.column}`;
      if (problem.kind === 'too-large') {
        const message = `${where}: ${problem.what}`;
        if (options.strict)
          throw new PonchoError('ERR_SOURCE_TOO_LARGE', message, {
            hint: 'Keep such data in a file the code reads (JSON, .npy...), or run without --strict to skip the statement with a warning.',
          });
        warn(message);
        continue;
      }
      const message = `${where}: syntax error${problem.what ? `: ${problem.what}` : problem.kind === 'missing' ? ' (something is missing here)' : ''}`;
      if (options.strict) {
        throw new PonchoError('ERR_SYNTAX', message, {
          hint: 'Fix the file (python3 -m py_compile FILE shows the error), or run without --strict to only warn.',
        });
      }
      warn(`${message}; tree-sitter recovered and imports elsewhere in the file are still found`);
    }
  }
  if (options.function !== undefined) checkFunction(options.function, entries);

  const prefix = await prefixReady;
  const python = await pythonReady;
  const stdlib = stdlibModules(python.version);

  const mapper = new PackageMapper(mappings, prefix);
  const displayed = new Map<string, string>();
  const display = (path: string) => {
    let shown = displayed.get(path);
    if (shown === undefined) {
      shown = displayPath(path, cwd);
      displayed.set(path, shown);
    }
    return shown;
  };
  const imports: ReportImport[] = [];
  const warnedNames = new Set<string>();
  const warnOnce = (key: string, message: string) => {
    if (warnedNames.has(key)) return;
    warnedNames.add(key);
    warn(message);
  };
  const context = { options, stdlib, mapper, display, pythonVersion: python.version };
  for (const entry of entries) {
    const scan = entry.scan as FileScan;
    for (const [i, found] of scan.imports.entries()) {
      for (const record of classify(found, entry, entry.local?.[i], context)) {
        imports.push(record);
        const where = `${record.file}:${record.line}`;
        const legacy = record.legacy;
        if (legacy && !found.optional) {
          const what =
            legacy.kind === 'python2'
              ? `"${record.name}" is a Python 2 standard-library module`
              : legacy.kind === 'removed'
                ? `"${record.name}" was removed from the standard library in Python ${legacy.removedIn} (the target is ${python.version})`
                : `"${record.name}" is in the standard library only from Python ${legacy.addedIn} on (the target is ${python.version})`;
          const outcome = record.package
            ? `; using "${record.package}", which provides it`
            : '; it is left out of the spec';
          warnOnce(`legacy:${record.name}`, `${where}: ${what}: ${legacy.advice}${outcome}`);
        }
        if (record.excluded === 'optional-unresolved') {
          warnOnce(
            `optional:${record.name}`,
            `${where}: optional import "${record.module}" (inside try/except ImportError) is not a known package; it is left out of the spec (to include it: --pkg-mapping ${record.name}=PACKAGE)`,
          );
        }
        if (record.excluded || !record.package) continue;
        if (record.resolution === 'name') {
          warnOnce(
            record.package,
            `${where}: no known package provides "${record.module}"; using the conda package "${record.package}" (if that is wrong: --pkg-mapping ${record.module}=PACKAGE)`,
          );
        } else if (prefix && record.resolution === 'depfinder') {
          warnOnce(
            record.package,
            `${where}: "${record.module}" is not installed in ${prefix.prefix}; using "${record.package}" (not pinned) from the bundled import table`,
          );
        }
      }
    }
  }
  for (const [module, name] of mappings) {
    const top = module.split('.')[0] as string;
    if (stdlib.has(top))
      warn(
        `--pkg-mapping ${module}=${name} has no effect: ${top} is in the standard library of Python ${python.version}, which Python imports first`,
      );
  }
  const testOnly = markTestOnly(imports);
  const conda: string[] = [];
  const pip: string[] = [];
  for (const record of imports) {
    if (record.excluded || !record.package) continue;
    if (record.package.startsWith('pip:')) pip.push(record.package.slice(4));
    else conda.push(record.package);
  }

  const pipProvider = prefix?.conda.get('pip');
  const spec = buildSpec({
    channels,
    python: python.spec,
    pip: pipProvider ? pin(pipProvider) : 'pip',
    conda,
    pipRequirements: pip,
    extraConda: extras.conda,
    extraPip: extras.pip,
  });
  const report: AnalyzeReport = {
    reportVersion: 1,
    python: { version: python.version, from: python.from },
    prefix: prefix?.prefix ?? null,
    channels,
    sources: entries.map(reportSource),
    imports,
    packages: { conda: condaDependencies(spec), pip: pipDependencies(spec), testOnly },
    warnings,
  };
  if (inputs) {
    // The version came from running an interpreter (not an option, not the environment's
    // records): a later run asks it again.
    const pythonRun = options.pythonVersion === undefined && !prefix?.conda.has('python');
    results?.store(inputs, { spec, report, warnings, files: stats.files, python, pythonRun });
  }
  return { spec, report, stats };
}

/** Whether the interpreter an earlier result took its target version from still has it. */
async function samePython(
  earlier: FoundResult,
  options: AnalyzeOptions,
  env: NodeJS.ProcessEnv,
): Promise<boolean> {
  if (!earlier.pythonRun) return true;
  let now: PythonTarget;
  try {
    now = await pythonTarget({ python: options.python, env });
  } catch {
    return false; // the normal run reports it
  }
  return now.version === earlier.python.version && now.from === earlier.python.from;
}

/** An earlier run's result: its warnings again, its report parsed only when read. */
function reuse(earlier: FoundResult, options: AnalyzeOptions): AnalyzeResult {
  for (const message of earlier.warnings) options.onWarning?.(message);
  options.onProgress?.(earlier.files, earlier.files);
  let report: AnalyzeReport | undefined;
  return {
    spec: earlier.spec,
    get report() {
      report ??= earlier.report();
      return report;
    },
    stats: {
      files: earlier.files,
      read: 0,
      cacheHits: earlier.files,
      parsed: 0,
      threads: 0,
      reused: true,
    },
  };
}

function splitExtras(values: readonly string[]): { conda: string[]; pip: string[] } {
  const conda: string[] = [];
  const pip: string[] = [];
  for (const value of values) {
    const spec = value.trim();
    const isPip = spec.startsWith('pip:');
    const body = isPip ? spec.slice(4).trim() : spec;
    if (!body)
      throw new UsageError(
        `--extra-pkg ${JSON.stringify(value)} names no package`,
        'e.g. --extra-pkg numpy or --extra-pkg pip:uproot==5.0.5',
      );
    // Checked here: a typo would otherwise be written into the spec and fail at create time.
    const parsed = isPip ? parsePipRequirement(body) : parseCondaSpec(body);
    if (typeof parsed === 'string')
      throw new UsageError(
        `--extra-pkg ${JSON.stringify(value)}: ${parsed}`,
        isPip
          ? 'Give a pip requirement after pip:, e.g. --extra-pkg pip:uproot==5.0.5'
          : 'Give a conda match spec, e.g. --extra-pkg "numpy>=1.24,<2" or --extra-pkg numpy=1.26.4',
      );
    (isPip ? pip : conda).push(body);
  }
  return { conda, pip };
}

async function checkFolder(
  path: string,
  given: string,
  inputs: RunInputs | undefined,
): Promise<string> {
  let isDir: boolean;
  try {
    const info = await stat(path);
    inputs?.path(path, info);
    isDir = info.isDirectory();
  } catch (error) {
    throw fileError(error, given, '--source-root folder');
  }
  if (!isDir)
    throw new UsageError(
      `--source-root ${given} is not a folder`,
      'Give the folder that holds the modules (the folder above a package).',
    );
  return path;
}

/** Whether an import of an original source is outside what --toplevel / --function select. */
function selectionExclusion(
  found: FoundImport,
  entry: Entry,
  options: AnalyzeOptions,
): ExclusionReason | undefined {
  if (!entry.original) return undefined;
  if (options.toplevel && found.functions.length > 0) return 'not-toplevel';
  if (options.function !== undefined && !found.functions.includes(options.function))
    return 'outside-function';
  return undefined;
}

/** Resolves the local imports of a scanned entry and returns the files not seen yet. */
async function follow(
  entry: Entry,
  resolver: LocalResolver,
  options: AnalyzeOptions,
  cwd: string,
  seen: Set<string>,
  installed: (top: string, local: LocalModule) => Promise<boolean>,
): Promise<Entry[]> {
  const scan = entry.scan as FileScan;
  const dir = entry.file.path === STDIN ? resolve(cwd) : dirname(entry.file.path);
  const next: Entry[] = [];
  entry.local = [];
  for (const found of scan.imports) {
    const local = found.kind === 'future' ? undefined : resolver.resolve(found, dir);
    // A folder without __init__.py does not hide an installed package of that name.
    const hidden =
      local?.namespace &&
      found.level === 0 &&
      (await installed(found.module.split('.')[0] as string, local));
    entry.local.push(hidden ? undefined : followOne(found, local));
  }
  return next;

  function followOne(found: FoundImport, local: LocalModule | undefined): LocalModule | undefined {
    if (!local || found.typeChecking || selectionExclusion(found, entry, options)) return local;
    for (const path of local.files) {
      if (seen.has(path)) continue;
      seen.add(path);
      const file: SourceFile = { path, display: displayPath(path, cwd) };
      if (isTestFile(pathBelowRoots(path, resolver.roots))) file.test = true;
      next.push({
        file,
        original: false,
        followedFrom: `${entry.file.display}:${found.line}`,
      });
    }
    return local;
  }
}

interface ClassifyContext {
  options: AnalyzeOptions;
  stdlib: ReadonlySet<string>;
  mapper: PackageMapper;
  display: (path: string) => string;
  pythonVersion: string;
}

/**
 * The report records of one import: usually one, but `from google.cloud import storage,
 * bigquery` names two packages, so it gives one record per package (each with the dotted name
 * that decided it as its module).
 */
/** `path` relative to the innermost root holding it (its file name when none does). */
function pathBelowRoots(path: string, roots: readonly string[]): string {
  let best: string | undefined;
  for (const root of roots) {
    const rel = relative(root, path);
    if (rel.startsWith('..') || isAbsolute(rel)) continue;
    if (best === undefined || rel.length < best.length) best = rel;
  }
  return best ?? basename(path);
}

function classify(
  found: FoundImport,
  entry: Entry,
  local: LocalModule | undefined,
  context: ClassifyContext,
): ReportImport[] {
  const top = found.level > 0 ? '' : (found.module.split('.')[0] ?? '');
  const record: ReportImport = {
    module: `${'.'.repeat(found.level)}${found.module}`,
    name: top,
    file: entry.file.display,
    line: found.line,
    kind: found.kind,
    optional: found.optional,
    typeChecking: found.typeChecking,
    resolution: 'name',
  };
  const innermost = found.functions[found.functions.length - 1];
  if (innermost) record.function = innermost;
  if (entry.file.test) record.testFile = true;
  let intrinsic: ExclusionReason | undefined;
  let records = [record];
  if (found.kind === 'future') {
    record.resolution = 'future';
    intrinsic = 'future';
  } else if (found.level > 0 || local) {
    record.resolution = found.level > 0 ? 'relative' : 'local';
    intrinsic = 'local';
    if (local) record.location = context.display(local.location);
  } else if (context.stdlib.has(top)) {
    record.resolution = 'stdlib';
    intrinsic = 'stdlib';
  } else {
    const legacy = legacyModule(top, context.pythonVersion);
    const mapped = context.mapper.mapped(found.module);
    if (legacy && !mapped) {
      record.resolution =
        `${legacy.kind === 'python2' ? 'python2' : legacy.kind}-stdlib` as Resolution;
      record.legacy = legacy;
      const replacement = legacy.kind === 'removed' ? legacy.package : undefined;
      if (replacement) {
        const resolved = context.mapper.named(replacement, 'depfinder');
        record.package = resolved.section === 'pip' ? `pip:${resolved.spec}` : resolved.spec;
      } else intrinsic = record.resolution as ExclusionReason;
    } else {
      records = resolvePackages(found, record, context.mapper);
    }
  }
  for (const each of records) {
    const excluded =
      intrinsic ??
      selectionExclusion(found, entry, context.options) ??
      (found.typeChecking ? 'type-checking' : undefined) ??
      (isUserExcluded(each.module, context.options.exclude) ? 'user-excluded' : undefined) ??
      (found.optional && each.resolution === 'name' ? 'optional-unresolved' : undefined);
    if (excluded) each.excluded = excluded;
  }
  return records;
}

/**
 * Resolves an import to packages. For `from M import a, b` each name may be a submodule that a
 * different distribution provides (namespace packages), so `M.a` and `M.b` are resolved; when
 * they agree (almost always) the import stays one record.
 */
function resolvePackages(
  found: FoundImport,
  record: ReportImport,
  mapper: PackageMapper,
): ReportImport[] {
  const candidates =
    found.kind === 'from'
      ? found.names.filter((n) => n !== '*').map((n) => `${found.module}.${n}`)
      : [];
  if (candidates.length === 0) candidates.push(found.module);
  const groups = new Map<string, { module: string; resolved: ResolvedPackage }>();
  for (const candidate of candidates) {
    const resolved = mapper.resolve(candidate);
    const key = `${resolved.section}:${resolved.spec}`;
    if (!groups.has(key)) groups.set(key, { module: candidate, resolved });
  }
  const many = groups.size > 1;
  return [...groups.values()].map(({ module, resolved }) => {
    const each: ReportImport = { ...record, resolution: resolved.resolution };
    if (many) each.module = module;
    each.package = resolved.section === 'pip' ? `pip:${resolved.spec}` : resolved.spec;
    return each;
  });
}

/**
 * Marks the records of packages that only test files import (`testOnly`), and returns those
 * packages: the spec keeps them (the user named the tests), callers may leave them out.
 */
function markTestOnly(imports: ReportImport[]): string[] {
  const usedOutsideTests = new Set<string>();
  for (const record of imports)
    if (!record.excluded && record.package && !record.testFile)
      usedOutsideTests.add(record.package);
  const only = new Set<string>();
  for (const record of imports) {
    if (record.excluded || !record.package || !record.testFile) continue;
    if (usedOutsideTests.has(record.package)) continue;
    record.testOnly = true;
    only.add(record.package);
  }
  return [...only].sort();
}

function isUserExcluded(module: string, exclude: readonly string[] | undefined): boolean {
  return (exclude ?? []).some((name) => module === name || module.startsWith(`${name}.`));
}

/** An unknown --function is an error that lists the functions that exist. */
function checkFunction(name: string, entries: Entry[]): void {
  const defined = new Set<string>();
  for (const entry of entries)
    if (entry.original) for (const f of entry.scan?.functions ?? []) defined.add(f);
  if (defined.has(name)) return;
  const list = [...defined].sort();
  const shown = list.slice(0, 40).join(', ');
  throw new PonchoError('ERR_UNKNOWN_FUNCTION', `no function named "${name}" in the sources`, {
    hint:
      list.length === 0
        ? 'The sources define no functions; drop --function (or use --toplevel).'
        : `Functions defined there: ${shown}${list.length > 40 ? `, and ${list.length - 40} more` : ''}. Methods are named Class.method.`,
    exitCode: ExitCode.usage,
  });
}

function reportSource(entry: Entry): ReportSource {
  const scan = entry.scan as FileScan;
  const source: ReportSource = {
    file: entry.file.display,
    encoding: scan.encoding,
    lines: scan.lines,
    syntaxErrors: scan.syntaxErrors,
  };
  if (entry.followedFrom) source.followedFrom = entry.followedFrom;
  return source;
}
