/**
 * What the three executors share: turning errors into a logged reason and `{ success: false }`
 * (Nx records the log and replays it on cache hits), and reading the project config.
 */
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { formatError } from '@poncho/core/cli';
import { isPonchoError } from '@poncho/core/errors';
import { type ProjectConfig, readProjectConfig, resolveChannel } from '../config.js';
import { type ExecutorContext, logger } from '../nx.js';

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
 * Channels as the spec records them: a folder channel relative to the workspace root (`./x`),
 * so that the spec (a cached output) does not depend on where the workspace is checked out,
 * and `poncho_package_create dist/.../env.json` run from the workspace root finds it. Folders
 * outside the workspace stay absolute; names and URLs stay as written.
 */
export function specChannels(
  context: ExecutorContext,
  fromOptions: string[] | undefined,
  loaded: LoadedConfig,
): string[] | undefined {
  const written =
    fromOptions && fromOptions.length > 0 ? fromOptions : loaded.path && loaded.config.channels;
  if (!written) return undefined;
  const base = fromOptions && fromOptions.length > 0 ? context.root : configFolder(loaded, context);
  return written.map((channel) => {
    const resolved = resolveChannel(channel, base);
    if (resolved === channel) return channel;
    const rel = relative(context.root, resolved);
    if (rel === '') return '.';
    return rel.startsWith('..') || isAbsolute(rel) ? resolved : `./${rel}`;
  });
}

/** Whether the run is in CI (as pnpm and npm read it): then lock files are not changed. */
export function inCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI;
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** A path for log lines: relative to the workspace root when inside it. */
export function display(context: ExecutorContext, path: string): string {
  const rel = relative(context.root, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

export function configFolder(loaded: LoadedConfig, context: ExecutorContext): string {
  return loaded.path ? dirname(loaded.path) : projectRootOf(context);
}
