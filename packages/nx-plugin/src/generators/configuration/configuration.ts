/** Adds poncho.json to a project, so the plugin infers its environment targets. */
import {
  formatFiles,
  type GeneratorCallback,
  joinPathFragments,
  offsetFromRoot,
  readProjectConfiguration,
  type Tree,
  writeJson,
} from '@nx/devkit';
import { PonchoError } from '@poncho/core/errors';
import { CONFIG_FILE_NAME, type ProjectConfig, SCHEMA_FILE_NAME } from '../../config.js';
import { addPlugin } from '../init/init.js';
import type { ConfigurationGeneratorSchema } from './schema.js';

export async function configurationGenerator(
  tree: Tree,
  schema: ConfigurationGeneratorSchema,
): Promise<GeneratorCallback> {
  const { root } = readProjectConfiguration(tree, schema.project);
  const configPath = joinPathFragments(root, CONFIG_FILE_NAME);
  if (tree.exists(configPath)) {
    throw new PonchoError('ERR_NX_CONFIG_EXISTS', `${configPath} already exists`, {
      hint: 'Edit the file instead, or delete it and run the generator again.',
    });
  }
  addPlugin(tree, {});
  // Editors validate and complete the file with the schema the plugin ships.
  const schemaPath = joinPathFragments(
    offsetFromRoot(root),
    'node_modules/@poncho/nx-plugin',
    SCHEMA_FILE_NAME,
  );
  writeJson(tree, configPath, { $schema: schemaPath, ...configFor(tree, root, schema) });
  if (!schema.skipFormat) await formatFiles(tree);
  return () => {};
}

function configFor(tree: Tree, root: string, schema: ConfigurationGeneratorSchema): ProjectConfig {
  const config: ProjectConfig = {};
  if (schema.entry?.length) config.entry = schema.entry;
  if (schema.channels?.length) config.channels = schema.channels;
  if (schema.pythonVersion) config.pythonVersion = schema.pythonVersion;
  if (schema.platform) config.platform = schema.platform;
  if (schema.extraPackages?.length) config.extraPackages = schema.extraPackages;
  const command = schema.command?.trim().split(/\s+/).filter(Boolean);
  if (command?.length) {
    config.command = command;
  } else {
    const script =
      schema.entry?.[0] ??
      (tree.exists(joinPathFragments(root, 'main.py')) ? 'main.py' : undefined);
    if (script) config.command = ['python', script];
  }
  return config;
}

export default configurationGenerator;
