import { addProjectConfiguration, readJson, readNxJson, updateNxJson } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { describe, expect, it } from 'vitest';
import { parseProjectConfig } from '../src/config.js';
import configurationGenerator from '../src/generators/configuration/configuration.js';
import initGenerator from '../src/generators/init/init.js';

describe('init generator', () => {
  it('registers the plugin in nx.json once', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, { skipFormat: true });
    await initGenerator(tree, { skipFormat: true });
    const plugins = readNxJson(tree)?.plugins ?? [];
    expect(
      plugins.filter((p) => (typeof p === 'string' ? p : p.plugin) === '@poncho/nx-plugin'),
    ).toEqual(['@poncho/nx-plugin']);
  });

  it('writes options only for renamed targets', async () => {
    const tree = createTreeWithEmptyWorkspace();
    await initGenerator(tree, {
      packTargetName: 'env',
      analyzeTargetName: 'analyze-env',
      skipFormat: true,
    });
    expect(readNxJson(tree)?.plugins).toContainEqual({
      plugin: '@poncho/nx-plugin',
      options: { packTargetName: 'env' },
    });
  });

  it('recognises the plugin registered in object form', async () => {
    const tree = createTreeWithEmptyWorkspace();
    const nxJson = readNxJson(tree) ?? {};
    nxJson.plugins = [{ plugin: '@poncho/nx-plugin', options: { runTargetName: 'go' } }];
    updateNxJson(tree, nxJson);
    await initGenerator(tree, { skipFormat: true });
    expect(readNxJson(tree)?.plugins).toHaveLength(1);
  });
});

describe('configuration generator', () => {
  it('writes a valid poncho.json with a default command and registers the plugin', async () => {
    const tree = createTreeWithEmptyWorkspace();
    addProjectConfiguration(tree, 'myapp', { root: 'apps/myapp' });
    tree.write('apps/myapp/main.py', 'print(1)\n');
    await configurationGenerator(tree, {
      project: 'myapp',
      channels: ['conda-forge'],
      skipFormat: true,
    });
    const written = readJson(tree, 'apps/myapp/poncho.json');
    expect(written).toEqual({
      $schema: '../../node_modules/@poncho/nx-plugin/poncho.schema.json',
      channels: ['conda-forge'],
      command: ['python', 'main.py'],
    });
    expect(() => parseProjectConfig(JSON.stringify(written), 'poncho.json')).not.toThrow();
    expect(readNxJson(tree)?.plugins).toContain('@poncho/nx-plugin');
  });

  it('splits the command option and keeps the other fields', async () => {
    const tree = createTreeWithEmptyWorkspace();
    addProjectConfiguration(tree, 'svc', { root: 'svc' });
    await configurationGenerator(tree, {
      project: 'svc',
      entry: ['app.py'],
      pythonVersion: '3.11',
      platform: 'linux-64',
      extraPackages: ['numpy'],
      command: 'python  app.py --fast',
      skipFormat: true,
    });
    expect(readJson(tree, 'svc/poncho.json')).toEqual({
      $schema: '../node_modules/@poncho/nx-plugin/poncho.schema.json',
      entry: ['app.py'],
      pythonVersion: '3.11',
      platform: 'linux-64',
      extraPackages: ['numpy'],
      command: ['python', 'app.py', '--fast'],
    });
  });

  it('refuses to overwrite an existing poncho.json', async () => {
    const tree = createTreeWithEmptyWorkspace();
    addProjectConfiguration(tree, 'svc', { root: 'svc' });
    tree.write('svc/poncho.json', '{"entry":["keep.py"]}');
    await expect(
      configurationGenerator(tree, { project: 'svc', skipFormat: true }),
    ).rejects.toMatchObject({
      code: 'ERR_NX_CONFIG_EXISTS',
    });
    expect(readJson(tree, 'svc/poncho.json')).toEqual({ entry: ['keep.py'] });
  });
});
