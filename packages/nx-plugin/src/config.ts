/**
 * The project config file (`poncho.json` in a project's root): its presence opts the project in
 * to the inferred targets, and its fields are the analyzer's and creator's options for it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileError, PonchoError } from '@poncho/core/errors';
import { z } from 'zod';

export const CONFIG_FILE_NAME = 'poncho.json';

/** The lock file lock-env keeps beside poncho.json (meant to be committed). */
export const LOCK_FILE_NAME = 'poncho.lock.json';

/** The JSON schema of the config file, shipped as poncho.schema.json (for editors). */
export function projectConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ProjectConfig) as Record<string, unknown>;
}

export const SCHEMA_FILE_NAME = 'poncho.schema.json';

/** The conda channel a project gets when its config names none. */
export const DEFAULT_CHANNELS = ['conda-forge'];

export const ProjectConfig = z
  .object({
    $schema: z.string().optional(),
    name: z
      .string()
      .min(1)
      .optional()
      .describe('Project name, used only when no project.json or package.json names the project.'),
    entry: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Python files or folders to analyze, relative to this file. Default: the project folder.',
      ),
    extraPackages: z
      .array(z.string().min(1))
      .optional()
      .describe(
        'Packages the code does not import but needs (conda match specs; pip:NAME for pip).',
      ),
    pkgMapping: z
      .record(z.string().min(1), z.string().min(1))
      .optional()
      .describe(
        'Import name -> package name, for imports the analyzer cannot map (e.g. {"yaml": "pyyaml"}).',
      ),
    channels: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe(
        'Conda channels: names, URLs, or folders relative to this file. Default: ["conda-forge"].',
      ),
    pythonVersion: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Python version of the environment, e.g. "3.11". Default: that of python3 on PATH.',
      ),
    platform: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Conda subdir of the machines that run the environment (linux-64, osx-arm64, ...). Default: this machine's.",
      ),
    toplevel: z.boolean().optional().describe('Count only imports at module level.'),
    function: z.string().min(1).optional().describe('Count only the imports inside this function.'),
    command: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('What run-env runs by default, as an argument vector, in the project folder.'),
  })
  .strict()
  .describe(
    '@poncho/nx-plugin project config: its presence gives the project analyze-env, pack-env and run-env.',
  );
export type ProjectConfig = z.infer<typeof ProjectConfig>;

/** Parses the text of a config file; `source` names the file in errors. */
export function parseProjectConfig(text: string, source: string): ProjectConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new PonchoError(
      'ERR_NX_CONFIG_JSON',
      `${source} is not valid JSON: ${(error as Error).message}`,
      {
        hint: 'Fix the JSON syntax of the file.',
        cause: error,
      },
    );
  }
  const parsed = ProjectConfig.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new PonchoError(
      'ERR_NX_CONFIG',
      `${source}: field ${field}: ${issue?.message ?? 'invalid'}`,
      {
        hint: `See the @poncho/nx-plugin README for the fields of ${CONFIG_FILE_NAME}.`,
      },
    );
  }
  return parsed.data;
}

export async function readProjectConfig(path: string): Promise<ProjectConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw fileError(error, path, 'poncho project config');
  }
  return parseProjectConfig(text, path);
}

/**
 * A channel that names a folder relative to `baseDir` (`./x`, `../x`) becomes an absolute path,
 * so that it means the same thing whatever the current folder; names, URLs and absolute paths
 * are kept as they are.
 */
export function resolveChannel(channel: string, baseDir: string): string {
  if (
    channel === '.' ||
    channel === '..' ||
    channel.startsWith('./') ||
    channel.startsWith('../')
  ) {
    return resolve(baseDir, channel);
  }
  return channel;
}
