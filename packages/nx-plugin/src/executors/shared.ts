/**
 * What the three executors share: turning errors into a logged reason and `{ success: false }`
 * (Nx records the log and replays it on cache hits), and reading the project config.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { type ExecutorContext, logger } from '@nx/devkit';
import { formatError } from '@poncho/core/cli';
import { isPonchoError } from '@poncho/core/errors';
import { type ProjectConfig, readProjectConfig, resolveChannel } from '../config.js';

export interface ExecutorResult {
  success: boolean;
}

/**
 * Runs an executor body. A PonchoError is an expected failure (bad input, failed build): its
 * message and hint are logged and the task fails. Anything else is a bug: logged with its stack.
 */
export async function runExecutorBody(
  name: string,
  body: () => Promise<ExecutorResult>,
): Promise<ExecutorResult> {
  try {
    return await body();
  } catch (error) {
    const debug = !isPonchoError(error) || process.env.PONCHO_DEBUG === '1';
    logger.error(formatError(`@poncho/nx-plugin:${name}`, error, { debug }));
    return { success: false };
  }
}

/** A path from the options: relative paths are relative to the workspace root, as in Nx. */
export function fromWorkspace(context: ExecutorContext, path: string): string {
  return isAbsolute(path) ? path : resolve(context.root, path);
}

/** The root folder of the project the task belongs to (absolute). */
export function projectRootOf(context: ExecutorContext): string {
  const name = context.projectName;
  const root = name ? context.projectsConfigurations?.projects[name]?.root : undefined;
  return resolve(context.root, root ?? '.');
}

export interface LoadedConfig {
  config: ProjectConfig;
  /** Absolute path of the config file, or undefined when the target names none. */
  path: string | undefined;
}

export async function loadConfig(
  context: ExecutorContext,
  configOption: string | undefined,
): Promise<LoadedConfig> {
  if (!configOption) return { config: {}, path: undefined };
  const path = fromWorkspace(context, configOption);
  return { config: await readProjectConfig(path), path };
}

/** Channels from the options (folders relative to the workspace root), else from the config
 * (folders relative to the config file). */
export function resolveChannels(
  context: ExecutorContext,
  fromOptions: string[] | undefined,
  loaded: LoadedConfig,
): string[] | undefined {
  if (fromOptions && fromOptions.length > 0) {
    return fromOptions.map((c) => resolveChannel(c, context.root));
  }
  if (loaded.config.channels && loaded.path) {
    const configDir = dirname(loaded.path);
    return loaded.config.channels.map((c) => resolveChannel(c, configDir));
  }
  return undefined;
}

/**
 * Channels as the spec records them: as written in the options or the config, so that a folder
 * channel stays relative and the spec (a cached output) does not depend on where the workspace
 * is checked out. The pack executor resolves them again (resolveChannels) when it builds.
 */
export function specChannels(
  fromOptions: string[] | undefined,
  loaded: LoadedConfig,
): string[] | undefined {
  if (fromOptions && fromOptions.length > 0) return fromOptions;
  return loaded.path ? loaded.config.channels : undefined;
}

/** A path for log lines: relative to the workspace root when inside it. */
export function display(context: ExecutorContext, path: string): string {
  const rel = relative(context.root, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

export function configFolder(loaded: LoadedConfig, context: ExecutorContext): string {
  return loaded.path ? dirname(loaded.path) : projectRootOf(context);
}
