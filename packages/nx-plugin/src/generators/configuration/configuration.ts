/** Adds poncho.json to a project, so the plugin infers its environment targets. */
import { PonchoError } from '@poncho/core/errors';
import { CONFIG_FILE_NAME, type ProjectConfig, SCHEMA_FILE_NAME } from '../../config.js';
import { type GeneratorCallback, nxDevkit, type Tree } from '../../nx.js';
import { pythonVersionText } from '../../raw-args.js';
import { addPlugin } from '../init/init.js';
import type { ConfigurationGeneratorSchema } from './schema.js';

export async function configurationGenerator(
  tree: Tree,
  schema: ConfigurationGeneratorSchema,
): Promise<GeneratorCallback> {
  const root = projectFolder(tree, schema.project);
  const configPath = nxDevkit.joinPathFragments(root, CONFIG_FILE_NAME);
  if (tree.exists(configPath)) {
    throw new PonchoError('ERR_NX_CONFIG_EXISTS', `${configPath} already exists`, {
      hint: 'Edit the file instead, or delete it and run the generator again.',
    });
  }
  addPlugin(tree, {});
  // Editors validate and complete the file with the schema the plugin ships.
  const schemaPath = nxDevkit.joinPathFragments(
    offsetFromRoot(root),
    'node_modules/@poncho/nx-plugin',
    SCHEMA_FILE_NAME,
  );
  // Written formatted (two-space JSON); no formatter (prettier) is needed.
  nxDevkit.writeJson(tree, configPath, { $schema: schemaPath, ...configFor(tree, root, schema) });
  return () => {};
}

/**
 * The root of the named project, or a plain folder: poncho.json alone makes a folder a project
 * (the plugin infers it), so a folder of Python files needs no project.json first.
 */
function projectFolder(tree: Tree, nameOrFolder: string): string {
  try {
    return nxDevkit.readProjectConfiguration(tree, nameOrFolder).root;
  } catch {
    const folder = nameOrFolder.replace(/^\.\/+/, '').replace(/\/+$/, '') || '.';
    if (folder === '.' || (tree.exists(folder) && !tree.isFile(folder))) return folder;
    throw new PonchoError(
      'ERR_NX_PROJECT_NOT_FOUND',
      `no project and no folder named ${nameOrFolder} in the workspace`,
      {
        hint: 'Give a project name (nx show projects) or the path of a folder, relative to the workspace root.',
      },
    );
  }
}

/** `../../` for `apps/x`: the way from a project folder back to the workspace root. */
function offsetFromRoot(root: string): string {
  const depth = root === '.' || root === '' ? 0 : root.split('/').filter(Boolean).length;
  return '../'.repeat(depth) || './';
}

function configFor(tree: Tree, root: string, schema: ConfigurationGeneratorSchema): ProjectConfig {
  const config: ProjectConfig = {};
  if (schema.entry?.length) config.entry = schema.entry;
  if (schema.channels?.length) config.channels = schema.channels;
  if (schema.pythonVersion !== undefined && schema.pythonVersion !== '')
    config.pythonVersion = pythonVersionText(schema.pythonVersion, [
      ...(schema.unparsed ?? []),
      ...process.argv.slice(2),
    ]);
  if (schema.platform) config.platform = schema.platform;
  if (schema.extraPackages?.length) config.extraPackages = schema.extraPackages;
  const command = schema.command?.trim().split(/\s+/).filter(Boolean);
  if (command?.length) {
    config.command = command;
  } else {
    const script =
      schema.entry?.[0] ??
      (tree.exists(nxDevkit.joinPathFragments(root, 'main.py')) ? 'main.py' : undefined);
    if (script) config.command = ['python', script];
  }
  return config;
}

export default configurationGenerator;
