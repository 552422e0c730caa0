/** `@poncho/nx-plugin:analyze`: Python sources -> environment spec, via @poncho/analyzer. */
import { join, resolve } from 'node:path';
import { analyze } from '@poncho/analyzer';
import { PonchoError } from '@poncho/core/errors';
import { writeFileAtomic } from '@poncho/core/fs';
import { serializeSpec } from '@poncho/core/spec';
import { DEFAULT_CHANNELS } from '../../config.js';
import { type ExecutorContext, logger } from '../../nx.js';
import { rawOption } from '../../raw-args.js';
import {
  configFolder,
  display,
  type ExecutorResult,
  fromWorkspace,
  loadConfig,
  runExecutorBody,
  specChannels,
} from '../shared.js';
import { productionSources } from './production-sources.js';
import type { AnalyzeExecutorOptions } from './schema.js';

export default async function analyzeExecutor(
  options: AnalyzeExecutorOptions,
  context: ExecutorContext,
): Promise<ExecutorResult> {
  return runExecutorBody('analyze', async () => {
    const loaded = await loadConfig(context, options.config);
    const { config } = loaded;
    const base = configFolder(loaded, context);
    // Default: the project folder's Python files without its tests (test_*.py, *_test.py,
    // conftest.py, tests/): what pytest needs is not what the program needs.
    const named = options.sources?.length
      ? options.sources.map((s) => fromWorkspace(context, s))
      : config.entry?.map((s) => resolve(base, s));
    const sources =
      named ??
      (await productionSources(base, new Set([join(context.root, 'dist')]), (message) =>
        logger.warn(`warning: ${message}`),
      ));
    if (sources.length === 0) {
      throw new PonchoError(
        'ERR_NO_PYTHON_FILES',
        `no Python files (*.py, *.ipynb, python scripts) found under ${base}`,
        {
          hint: 'Add the program, or name it in the "entry" field of poncho.json (test files are not analyzed).',
        },
      );
    }
    const output = fromWorkspace(context, options.output);
    const { spec, report } = await analyze(sources, {
      cwd: base,
      // The project folder is where its local modules live, as when it was named as a folder.
      ...(named ? {} : { sourceRoots: [base] }),
      toplevel: options.toplevel ?? config.toplevel,
      function: options.function ?? config.function,
      pkgMapping: pkgMappingList(options.pkgMapping ?? config.pkgMapping),
      extraPkgs: options.extraPackages ?? config.extraPackages,
      channels: specChannels(context, options.channels, loaded) ?? DEFAULT_CHANNELS,
      pythonVersion:
        rawOption(options.unparsed, 'pythonVersion', options.pythonVersion) ?? config.pythonVersion,
      // An active conda environment ($CONDA_PREFIX) is not part of the task's cache key, so
      // the spec must not depend on it.
      prefix: null,
      onWarning: (message) => logger.warn(`warning: ${message}`),
    });
    await writeFileAtomic(output, serializeSpec(spec), { what: 'spec file', mkdirs: true });
    const packages = [...report.packages.conda, ...report.packages.pip.map((p) => `pip:${p}`)];
    logger.info(
      `Analyzed ${report.sources.length} file(s) for Python ${report.python.version}: ` +
        `${packages.length > 0 ? packages.join(', ') : 'no third-party packages'}`,
    );
    logger.info(`Spec written to ${display(context, output)}`);
    return { success: true };
  });
}

/** `{ yaml: "pyyaml" }` or `["yaml=pyyaml"]` -> `["yaml=pyyaml"]`; the analyzer validates them. */
export function pkgMappingList(
  mapping: AnalyzeExecutorOptions['pkgMapping'],
): string[] | undefined {
  if (mapping === undefined) return undefined;
  if (Array.isArray(mapping)) return mapping;
  return Object.entries(mapping).map(([module, name]) => `${module}=${name}`);
}
