/** `nx add @poncho/nx-plugin` runs this: it registers the plugin in nx.json, once. */
import { type GeneratorCallback, nxDevkit, type Tree } from '../../nx.js';
import { DEFAULT_TARGET_NAMES, type PonchoPluginOptions } from '../../plugin.js';
import type { InitGeneratorSchema } from './schema.js';

export const PLUGIN_NAME = '@poncho/nx-plugin';

/** True when nx.json already lists the plugin (as a string or as `{ plugin }`). */
export function hasPlugin(tree: Tree): boolean {
  const plugins = nxDevkit.readNxJson(tree)?.plugins ?? [];
  return plugins.some((p) => (typeof p === 'string' ? p : p.plugin) === PLUGIN_NAME);
}

/** Adds the plugin to nx.json; target names equal to the defaults are left out. */
export function addPlugin(tree: Tree, schema: InitGeneratorSchema): void {
  if (hasPlugin(tree)) return;
  const nxJson = nxDevkit.readNxJson(tree) ?? {};
  const options: PonchoPluginOptions = {};
  for (const key of Object.keys(DEFAULT_TARGET_NAMES) as Array<keyof typeof DEFAULT_TARGET_NAMES>) {
    const value = schema[key];
    if (value && value !== DEFAULT_TARGET_NAMES[key]) options[key] = value;
  }
  nxJson.plugins = [
    ...(nxJson.plugins ?? []),
    Object.keys(options).length > 0 ? { plugin: PLUGIN_NAME, options } : PLUGIN_NAME,
  ];
  nxDevkit.updateNxJson(tree, nxJson);
}

export async function initGenerator(
  tree: Tree,
  schema: InitGeneratorSchema,
): Promise<GeneratorCallback> {
  // nx.json is written formatted; no formatter (prettier) is needed.
  addPlugin(tree, schema);
  return () => {};
}

export default initGenerator;
