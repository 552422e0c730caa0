/**
 * `poncho_package_create [options] SPEC OUT` (also `python_package_create`): a thin layer over
 * createTarball() that parses options, turns SIGINT/SIGTERM into a clean abort (the build
 * prefix and temporary files are removed, OUT is never half-written), shows progress on a TTY
 * and prints a summary (or --json).
 */
import { availableParallelism } from 'node:os';
import { packageVersion, parseCommandLine, runCli } from '@poncho/core/cli';
import { ExitCode, PonchoError, UsageError } from '@poncho/core/errors';
import { createLogger } from '@poncho/core/log';
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, type BackendChoice } from './backends/index.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface CliOptions {
  channel?: string[];
  channelAlias?: string;
  platform?: string;
  backend: BackendChoice;
  condaExecutable?: string;
  pipIndexUrl?: string;
  findLinks?: string[];
  pipIndex: boolean;
  lockFile?: string;
  cacheDir?: string;
  cache: boolean;
  force?: boolean;
  compressLevel: string;
  threads?: string;
  pkgsDir?: string;
  offline?: boolean;
  ignoreMissingFiles?: boolean;
  verifyCache?: boolean;
  linkScripts: boolean;
  compile: boolean;
  jobs?: string;
  quiet?: boolean;
  json?: boolean;
  debug?: boolean;
  dryRun?: boolean;
}

export const EXIT_CODES_HELP =
  'Exit status: 0 success; 1 failure (bad spec, solve, download, pip or data error, unwritable OUT,\n' +
  'full disk); 2 usage error; 70 internal error; 130 interrupted (SIGINT); 143 terminated (SIGTERM).';

function buildProgram(name: string): Command {
  return new Command(name)
    .description(
      'Build a conda environment from a spec and pack it into a relocatable tarball that runs on any ' +
        'machine of the same platform: with poncho_package_run, with its own bin/conda-unpack (the ' +
        'conda-pack way), or with bin/run_in_env and bin/poncho_package_run (TaskVine, Work Queue).\n\n' +
        'SPEC: a spec file (JSON or YAML, current or old poncho format), an environment.yml, a lock file ' +
        'written by --lock-file (rebuilds without solving), - for stdin, or an existing conda environment ' +
        'folder (packed as it is). OUT: the tarball (.tar.gz; .tar for no compression).',
    )
    .usage('[options] SPEC OUT')
    .argument(
      '<SPEC>',
      'spec file, environment.yml, lock file, - (stdin) or conda environment folder',
    )
    .argument('[OUT]', 'tarball to write (.tar.gz, or .tar); not needed with --dry-run')
    .option(
      '-c, --channel <NAME|URL>',
      "conda channel to use instead of the spec's; repeatable, highest priority first",
      collect,
    )
    .option(
      '--channel-alias <URL>',
      'base URL for channel names (default: https://conda.anaconda.org)',
    )
    .option('--platform <SUBDIR>', "target platform, e.g. linux-64 (default: this machine's)")
    .addOption(
      new Option('--backend <NAME>', 'who builds the environment')
        .choices(BACKEND_CHOICES)
        .default('embedded'),
    )
    .option(
      '--conda-executable <PATH>',
      'build with this conda, mamba or micromamba instead of the embedded installer',
    )
    .option(
      '--pip-index-url <URL>',
      'package index for the pip section (default: pip configuration)',
    )
    .option('--find-links <DIR|URL>', 'wheels and sdists for the pip section; repeatable', collect)
    .option('--no-pip-index', 'pip uses only --find-links, never an index')
    .option('--lock-file <FILE>', 'write the lock: exact package URLs and sha256, and pip pins')
    .option(
      '--dry-run',
      'solve only and print the plan (packages, channels, download size); with --lock-file, write the lock',
    )
    .option(
      '--cache-dir <DIR>',
      'tarball cache (default: $PONCHO_CACHE_DIR or $XDG_CACHE_HOME/poncho/tarballs)',
    )
    .option('--no-cache', 'neither read nor write the tarball cache')
    .option('--force', 'rebuild even if the cache has the tarball')
    .option('--compress-level <0-9>', 'gzip compression level', '6')
    .option('--threads <N>', `compression threads (default: ${availableParallelism()}, every core)`)
    .option(
      '--pkgs-dir <DIR>',
      'conda package cache (default: $PONCHO_PKGS_DIR or $XDG_CACHE_HOME/poncho/pkgs)',
    )
    .option('--offline', 'use only cached repodata and packages')
    .option(
      '--no-link-scripts',
      "do not run the packages' post-link scripts (conda runs them; skipped ones are listed)",
    )
    .option(
      '--verify-cache',
      'hash every file of the cached packages used (default: sizes, and hashes of files ' +
        'changed since extraction); a damaged one is extracted again',
    )
    .option(
      '--ignore-missing-files',
      'SPEC is a conda environment: pack it even if files conda installed were deleted or ' +
        'overwritten (listed as warnings)',
    )
    .option('--no-compile', 'do not byte-compile the .py files of noarch python packages')
    .option('--jobs <N>', 'parallel package downloads (default: 6)')
    .option('-q, --quiet', 'print only errors')
    .option(
      '--json',
      'print the result as JSON on stdout: path, size, sha256, packages, cached; a failure as ' +
        '{"error": {code, message, hint}}',
    )
    .addOption(new Option('--debug', 'show debug messages and stack traces on errors'))
    .version(packageVersion(new URL('../package.json', import.meta.url)), '-V, --version')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `\n${EXIT_CODES_HELP}\n` +
        '\nExamples:\n' +
        `  ${name} spec.json env.tar.gz\n` +
        `  ${name} --lock-file env.lock.json environment.yml env.tar.gz\n` +
        `  ${name} env.lock.json env.tar.gz            # rebuild exactly, no solve\n` +
        `  ${name} --dry-run --lock-file env.lock.json spec.json  # solve and lock only\n` +
        `  ${name} --find-links ./wheels --no-pip-index spec.json env.tar.gz\n` +
        `  ${name} ~/miniconda3/envs/work work.tar.gz  # pack an existing environment`,
    )
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true);
}

function parseIntegerOption(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} ${value}: expected a whole number from ${min} to ${max}`);
  return n;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

async function run(name: string, argv: string[]): Promise<number> {
  const program = buildProgram(name);
  if (!parseCommandLine(() => program.parse(argv, { from: 'user' }))) return ExitCode.ok;
  const options = program.opts<CliOptions>();
  const [spec, outArg] = program.args as [string, string | undefined];
  if (outArg === undefined && !options.dryRun)
    throw new UsageError(
      "missing required argument 'OUT' (the tarball to write; not needed with --dry-run)",
      `e.g. ${name} ${spec} env.tar.gz`,
    );
  const out = outArg ?? '';
  if (out === '-')
    throw new UsageError(
      'OUT cannot be - (stdout): a tarball is written to a file',
      `Give a file name, e.g. ${name} ${spec} env.tar.gz`,
    );
  if (options.quiet && options.debug)
    throw new UsageError('--quiet and --debug exclude each other');
  if (!options.cache && options.force)
    throw new UsageError('--force and --no-cache exclude each other', '--no-cache always builds.');
  const compressLevel = parseIntegerOption(options.compressLevel, '--compress-level', 0, 9);
  const jobs =
    options.jobs === undefined ? undefined : parseIntegerOption(options.jobs, '--jobs', 1, 64);
  const threads = parseIntegerOption(options.threads, '--threads', 1, 1024);

  const level = options.debug ? 'debug' : options.quiet ? 'error' : options.json ? 'warn' : 'info';
  const logger = createLogger({ prefix: name, level });

  // SIGINT/SIGTERM abort the build; createTarball removes what it made. A second signal kills.
  const controller = new AbortController();
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy) process.exit(signal === 'SIGINT' ? ExitCode.interrupted : 143);
    stoppedBy = signal;
    logger.warn(`${signal}: stopping and cleaning up (send it again to quit at once)`);
    controller.abort(new PonchoError('ERR_INTERRUPTED', `interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let lastDraw = 0;
  const onPackProgress = logger.interactive
    ? ({ bytesDone, bytesTotal }: { bytesDone: number; bytesTotal: number }) => {
        const now = Date.now();
        if (bytesDone < bytesTotal && now - lastDraw < 100) return;
        lastDraw = now;
        const percent = bytesTotal ? Math.floor((100 * bytesDone) / bytesTotal) : 100;
        process.stderr.write(
          `\r\u001b[Kpacking ${percent}% (${megabytes(bytesDone)} / ${megabytes(bytesTotal)})${bytesDone >= bytesTotal ? '\n' : ''}`,
        );
      }
    : undefined;

  const started = performance.now();
  // Loaded here so that --help and usage errors do not pay for the installer.
  const { createTarball } = await import('./create.js');
  let result: Awaited<ReturnType<typeof createTarball>>;
  try {
    if (options.dryRun) {
      const { dryRun, formatPlan } = await import('./install/dry-run.js');
      const plan = await dryRun(spec, {
        channels: options.channel,
        channelAlias: options.channelAlias,
        platform: options.platform,
        lockFile: options.lockFile,
        pkgsDir: options.pkgsDir,
        offline: options.offline,
        logger,
        signal: controller.signal,
      });
      process.stdout.write(options.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
      return ExitCode.ok;
    }
    result = await createTarball(spec, out, {
      channels: options.channel,
      channelAlias: options.channelAlias,
      platform: options.platform,
      backend: options.backend,
      condaExecutable: options.condaExecutable,
      pipIndexUrl: options.pipIndexUrl,
      findLinks: options.findLinks,
      noPipIndex: !options.pipIndex,
      lockFile: options.lockFile,
      cacheDir: options.cacheDir,
      noCache: !options.cache,
      force: options.force,
      compressLevel,
      threads,
      pkgsDir: options.pkgsDir,
      offline: options.offline,
      ignoreMissingFiles: options.ignoreMissingFiles,
      verifyCache: options.verifyCache,
      linkScripts: options.linkScripts,
      compile: options.compile,
      downloadConcurrency: jobs,
      logger,
      signal: controller.signal,
      onPackProgress,
    });
  } catch (error) {
    if (stoppedBy) {
      throw new PonchoError(
        'ERR_INTERRUPTED',
        options.dryRun
          ? `interrupted by ${stoppedBy}; nothing was written`
          : `interrupted by ${stoppedBy}; the build was cleaned up and ${out} was not written`,
        {
          exitCode: stoppedBy === 'SIGINT' ? ExitCode.interrupted : 143,
          cause: error,
        },
      );
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const ms = Math.round(performance.now() - started);
  if (options.json) {
    const report = {
      path: result.path,
      size: result.size,
      sha256: result.sha256,
      packages: result.packages,
      cached: result.cached,
      ...(result.lockFile ? { lockFile: result.lockFile } : {}),
      ms,
      warnings: result.warnings,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const how = result.cached
      ? `served from the cache in ${ms} ms`
      : `built in ${(ms / 1000).toFixed(1)} s`;
    logger.info(
      `wrote ${result.path} (${megabytes(result.size)}, ${result.packages} packages, ${how})`,
    );
    logger.info(`sha256 ${result.sha256}`);
    if (result.lockFile) logger.info(`lock written to ${result.lockFile}`);
  }
  return ExitCode.ok;
}

export async function main(program: string): Promise<never> {
  // With --json, a failure is JSON on stdout too ({"error": {code, message, hint}}), same status.
  return runCli(program, (argv) => run(program, argv), process.argv.slice(2), {
    jsonErrors: (head) => head.includes('--json'),
  });
}
