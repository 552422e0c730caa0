/**
 * `poncho_package_analyze [options] SRC... OUT` (also `python_package_analyze`): a thin layer
 * over analyze() that parses options, writes the outputs atomically and prints warnings.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { packageVersion, parseCommandLine, runCli } from '@poncho/core/cli';
import { ExitCode, UsageError } from '@poncho/core/errors';
import { assertParentDirectory, planOutput, writeFileAtomic } from '@poncho/core/fs';
import { createLogger } from '@poncho/core/log';
import { Command, Option } from 'commander';
import { STDIN } from './sources.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface CliOptions {
  toplevel?: boolean;
  function?: string;
  pkgMapping?: string[];
  extraPkg?: string[];
  channel?: string[];
  pythonVersion?: string;
  python?: string;
  prefix?: string;
  env: boolean;
  sourceRoot?: string[];
  exclude?: string[];
  report?: string;
  strict?: boolean;
  cache: boolean;
  cacheDir?: string;
  threads?: string;
  quiet?: boolean;
  debug?: boolean;
}

function buildProgram(name: string): Command {
  return new Command(name)
    .description(
      'Find the imports of Python sources and write a conda environment spec\n(JSON, a valid ' +
        '`conda env create` file) for poncho_package_create.\n\n' +
        'SRC: a Python file, a notebook, a folder (every *.py and *.ipynb below it, and\n' +
        'scripts with a python shebang) or - for stdin.\n' +
        'OUT: the spec file to write, or - for stdout.',
    )
    .usage('[options] SRC... OUT')
    .argument('<SRC...>', 'sources, then the output spec file (last)')
    .option('--toplevel', 'only imports executed when the module loads (not inside functions)')
    .option('--function <NAME>', 'only imports inside function NAME (methods as Class.method)')
    .option(
      '--pkg-mapping <IMPORT=NAME>',
      'module IMPORT is provided by package NAME (pip:NAME for pip); repeatable',
      collect,
    )
    .option(
      '--extra-pkg <PKG>',
      'also add package PKG (conda match spec, or pip:REQ); repeatable',
      collect,
    )
    .option(
      '--channel <NAME|URL>',
      'conda channel of the spec; repeatable (default: conda-forge)',
      collect,
    )
    .option(
      '--python-version <X.Y[.Z]>',
      'target Python version (default: the version of --python or python3)',
    )
    .option('--python <PATH>', 'interpreter whose version is the target')
    .option(
      '--prefix <DIR>',
      'conda environment to resolve and pin packages from (default: $CONDA_PREFIX)',
    )
    .option('--no-env', 'ignore $CONDA_PREFIX (no environment lookup)')
    .option('--source-root <DIR>', 'folder where local modules live too; repeatable', collect)
    .option('--exclude <MODULE>', 'never turn import MODULE into a dependency; repeatable', collect)
    .option(
      '--report <FILE|->',
      'write a JSON report: every import, where, how resolved, what was excluded',
    )
    .option(
      '--strict',
      'syntax errors (Python 2 syntax too), unreadable files in folders and statements too large to parse are fatal (default: warn and go on)',
    )
    .option('--no-cache', 'do not read or write the caches (scans and whole results)')
    .option('--cache-dir <DIR>', 'cache folder (default: $XDG_CACHE_HOME/poncho/analyze)')
    .option(
      '--threads <N>',
      'threads that parse large inputs, this one included (default: number of cores)',
    )
    .option('-q, --quiet', 'do not print warnings')
    .addOption(new Option('--debug', 'show stack traces on errors'))
    .version(packageVersion(new URL('../package.json', import.meta.url)), '-V, --version')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      '\nExit status: 0 success, 1 failure (bad input, unreadable file), 2 usage error.\n' +
        '\nExamples:\n' +
        `  ${name} script.py spec.json\n` +
        `  ${name} --function main --report - src/ spec.json\n` +
        `  cat job.py | ${name} --python-version 3.11 - -`,
    )
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true);
}

async function run(name: string, argv: string[]): Promise<number> {
  const program = buildProgram(name);
  if (!parseCommandLine(() => program.parse(argv, { from: 'user' }))) return ExitCode.ok;
  const options = program.opts<CliOptions>();
  const args = program.args;
  if (args.length < 2) {
    throw new UsageError(
      args.length === 0 ? 'missing SRC and OUT' : `missing OUT after ${args[0]}`,
      `Give the sources, then the spec file to write (or - for stdout): ${name} script.py spec.json`,
    );
  }
  const out = args[args.length - 1] as string;
  const sources = args.slice(0, -1);
  if (out.endsWith('.py')) {
    throw new UsageError(
      `the output ${out} is a Python file: the last argument is the spec to write`,
      `Add the output spec file after the sources, e.g. ${name} ${args.join(' ')} spec.json`,
    );
  }
  if (!options.env && options.prefix !== undefined) {
    throw new UsageError('--prefix and --no-env exclude each other', 'Use one of them.');
  }
  if (out === STDIN && options.report === STDIN) {
    throw new UsageError(
      'the spec and the report cannot both go to stdout',
      'Write one of them to a file.',
    );
  }
  let threads: number | undefined;
  if (options.threads !== undefined) {
    threads = Number(options.threads);
    if (!Number.isInteger(threads) || threads < 0)
      throw new UsageError(
        `--threads ${options.threads} is not a whole number`,
        'Give a count, e.g. --threads 4 (0 or 1: parse on the main thread only).',
      );
  }
  // Check where the outputs go before the work, so a typo fails fast.
  for (const [target, what] of [
    [out, 'spec file'],
    [options.report, 'report'],
  ] as const) {
    if (target === undefined || target === STDIN) continue;
    const info = await stat(target).catch(() => undefined);
    if (info?.isDirectory())
      throw new UsageError(`the ${what} ${target} is a folder`, 'Give a file name.');
    // A device, FIFO or /dev/stdout is written in place; only a file needs its folder.
    const plan = await planOutput(target);
    if (plan.kind === 'replace') await assertParentDirectory(plan.path, what);
  }

  const logger = createLogger({ prefix: name, level: options.quiet ? 'error' : 'info' });
  if (sources.includes(STDIN) && process.stdin.isTTY) {
    logger.info('reading a Python script from standard input (end it with Ctrl-D)');
  }
  let lastProgress = 0;
  const progress = logger.interactive
    ? (done: number, total: number) => {
        const now = Date.now();
        if (done < total && now - lastProgress < 100) return;
        lastProgress = now;
        process.stderr.write(
          `\r\u001b[Kscanning ${done}/${total} files${done === total ? '\n' : ''}`,
        );
      }
    : undefined;
  // Loaded here so that --help and usage errors do not pay for them. The spec serialiser is
  // the zod-free one: validation is the reader's job (the creator), not the writer's.
  const specModule = import('@poncho/core/spec-format');
  const { analyze } = await import('./analyze.js');
  const result = await analyze(sources, {
    toplevel: options.toplevel,
    function: options.function,
    pkgMapping: options.pkgMapping ?? [],
    extraPkgs: options.extraPkg ?? [],
    channels: options.channel ?? [],
    pythonVersion: options.pythonVersion,
    python: options.python,
    prefix: options.env ? options.prefix : null,
    sourceRoots: options.sourceRoot ?? [],
    exclude: options.exclude ?? [],
    strict: options.strict,
    cache: options.cache ? (options.cacheDir ? resolve(options.cacheDir) : undefined) : false,
    threads,
    onWarning: (message) => logger.warn(message),
    onProgress: progress,
  });

  const { serializeSpec } = await specModule;
  const specText = serializeSpec(result.spec);
  // The report is parsed and written only when asked for (a reused result holds it as text).
  const reportText =
    options.report === undefined ? '' : `${JSON.stringify(result.report, null, 2)}\n`;
  // Files first, stdout last: a failed write then leaves stdout with the JSON error alone.
  if (options.report !== undefined && options.report !== STDIN)
    await writeFileAtomic(options.report, reportText, { what: 'report' });
  if (out !== STDIN) await writeFileAtomic(out, specText, { what: 'spec file' });
  if (options.report === STDIN) process.stdout.write(reportText);
  if (out === STDIN) process.stdout.write(specText);
  return ExitCode.ok;
}

/** `--report -` (the report, JSON, on stdout): a failure is then JSON on stdout too. */
function reportOnStdout(argv: string[]): boolean {
  return argv.some(
    (arg, i) => arg === '--report=-' || (arg === '--report' && argv[i + 1] === STDIN),
  );
}

export function main(program: string): Promise<never> {
  return runCli(program, (argv) => run(program, argv), process.argv.slice(2), {
    jsonErrors: reportOnStdout,
  });
}
