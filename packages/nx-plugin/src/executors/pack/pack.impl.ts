/** `@poncho/nx-plugin:pack`: environment spec -> relocatable tarball, via @poncho/creator. */
import { access, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ExecutorContext, logger } from '@nx/devkit';
import { PonchoError } from '@poncho/core/errors';
import { createTarball } from '@poncho/creator';
import { createNxLogger } from '../nx-logger.js';
import {
  display,
  type ExecutorResult,
  fromWorkspace,
  loadConfig,
  resolveChannels,
  runExecutorBody,
} from '../shared.js';
import type { PackExecutorOptions } from './schema.js';

export default async function packExecutor(
  options: PackExecutorOptions,
  context: ExecutorContext,
): Promise<ExecutorResult> {
  return runExecutorBody('pack', async () => {
    const loaded = await loadConfig(context, options.config);
    const specPath = fromWorkspace(context, options.spec);
    await assertSpecExists(specPath);
    const output = fromWorkspace(context, options.output);
    await mkdir(dirname(output), { recursive: true });
    const channels = resolveChannels(context, options.channels, loaded);
    const platform = options.platform ?? loaded.config.platform;
    const result = await createTarball(specPath, output, {
      logger: createNxLogger('info'),
      // Nx caches the tarball, keyed on the spec, the config and the creator's version; the
      // creator's own tarball cache would only store a second copy, and would hand back a
      // tarball built by an older creator after an upgrade.
      noCache: true,
      ...(channels ? { channels } : {}),
      ...(platform ? { platform } : {}),
      ...(options.pkgsDir ? { pkgsDir: fromWorkspace(context, options.pkgsDir) } : {}),
    });
    for (const warning of result.warnings) logger.warn(`warning: ${warning}`);
    logger.info(
      `Packed ${result.packages} package(s) into ${display(context, result.path)} ` +
        `(${formatSize(result.size)}, sha256 ${result.sha256})`,
    );
    return { success: true };
  });
}

/** The creator would read a missing path as an environment name; say what is missing instead. */
async function assertSpecExists(path: string): Promise<void> {
  try {
    await access(path);
  } catch (error) {
    throw new PonchoError('ERR_FILE_NOT_FOUND', `environment spec not found: ${path}`, {
      hint: 'Run the analyze target first (pack-env depends on analyze-env), or fix the "spec" option.',
      cause: error,
    });
  }
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
