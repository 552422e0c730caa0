/**
 * @poncho/nx-plugin: Nx plugin entry point (createNodes / createNodesV2) and public types.
 * Executors and generators are listed in executors.json and generators.json.
 */
import { createNodes, createNodesV2 } from './plugin.js';

export {
  CONFIG_FILE_NAME,
  DEFAULT_CHANNELS,
  ProjectConfig,
  parseProjectConfig,
  projectConfigJsonSchema,
  readProjectConfig,
  SCHEMA_FILE_NAME,
} from './config.js';
export {
  createNodes,
  createNodesV2,
  DEFAULT_TARGET_NAMES,
  outputPaths,
  type PonchoPluginOptions,
} from './plugin.js';

/**
 * The plugin as one plain object. Nx 21 and 22 assign `name` on what they load, which fails on
 * an ES module's (frozen) namespace object; they use `default` instead when it holds
 * createNodes, so this must be an ordinary, extensible object. Nx 23+ accepts either.
 */
const plugin: {
  name: string;
  createNodes: typeof createNodes;
  createNodesV2: typeof createNodesV2;
} = { name: '@poncho/nx-plugin', createNodes, createNodesV2 };
export default plugin;
