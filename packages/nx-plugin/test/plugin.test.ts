import { execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CreateNodesContext, TargetConfiguration } from '@nx/devkit';
import { createNodes, createNodesV2, projectConfigJsonSchema } from '@poncho/nx-plugin';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let workspaceRoot: string;

beforeEach(() => {
  workspaceRoot = mkdtempSync(join(tmpdir(), 'poncho-nx-unit-'));
});
afterEach(() => {
  rmSync(workspaceRoot, { recursive: true, force: true });
});

function write(path: string, text: string): void {
  mkdirSync(join(workspaceRoot, path, '..'), { recursive: true });
  writeFileSync(join(workspaceRoot, path), text);
}

async function infer(files: string[], options?: Record<string, string>) {
  const context: CreateNodesContext = { workspaceRoot, nxJsonConfiguration: {} };
  return createNodes[1](files, options, context);
}

async function targetsOf(
  file: string,
  options?: Record<string, string>,
): Promise<Record<string, TargetConfiguration>> {
  const [[, result] = []] = await infer([file], options);
  const root = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
  const targets = result?.projects?.[root]?.targets;
  if (!targets) throw new Error(`no targets inferred for ${file}`);
  return targets;
}

describe('createNodes', () => {
  it('loads the way Nx 21 and 22 load plugins: require(), default object, name assigned', () => {
    // Their loader: m = require(path); plugin = m.default if it holds createNodes*; then
    // `plugin.name ??= name`, which throws on an ES module namespace object.
    const m = createRequire(import.meta.url)('@poncho/nx-plugin');
    const plugin = m.default && 'createNodesV2' in m.default ? m.default : m;
    expect(() => {
      plugin.name ??= '@poncho/nx-plugin';
    }).not.toThrow();
    expect(plugin.createNodesV2[0]).toBe('**/poncho.json');
    expect(typeof plugin.createNodesV2[1]).toBe('function');
    expect(plugin.createNodes).toBe(plugin.createNodesV2);
  });

  it('is exported under both names, matching poncho.json anywhere', () => {
    expect(createNodesV2).toBe(createNodes);
    expect(createNodes[0]).toBe('**/poncho.json');
  });

  it('infers the four targets with cache keys that keep pack-env on the lock only', async () => {
    write('apps/myapp/poncho.json', '{}');
    write('apps/myapp/project.json', '{"name":"myapp"}');
    const [[, result] = []] = await infer(['apps/myapp/poncho.json']);
    expect(result?.projects?.['apps/myapp']?.projectType).toBe('application');
    const targets = await targetsOf('apps/myapp/poncho.json');
    expect(Object.keys(targets)).toEqual(['analyze-env', 'lock-env', 'pack-env', 'run-env']);

    const analyze = targets['analyze-env'];
    expect(analyze?.cache).toBe(true);
    expect(analyze?.inputs).toContain('default');
    // Workspace-root globs: they also cover the files of nested projects.
    expect(analyze?.inputs).toContain('{workspaceRoot}/apps/myapp/**/*.py');
    expect(analyze?.inputs).toContain('!{projectRoot}/poncho.lock.json');
    expect(analyze?.outputs).toEqual(['{options.output}']);
    expect(analyze?.options).toEqual({
      config: 'apps/myapp/poncho.json',
      output: 'dist/apps/myapp/env.json',
    });

    const lock = targets['lock-env'];
    expect(lock?.cache).toBe(false);
    expect(lock?.dependsOn).toEqual(['analyze-env']);
    expect(lock?.outputs).toEqual(['{options.lockFile}']);
    expect(lock?.options).toMatchObject({
      spec: 'dist/apps/myapp/env.json',
      lockFile: 'apps/myapp/poncho.lock.json',
    });

    const pack = targets['pack-env'];
    expect(pack?.cache).toBe(true);
    expect(pack?.dependsOn).toEqual(['lock-env']);
    // Neither the sources nor poncho.json: the lock (lock-env's output) and the versions.
    expect(pack?.inputs).toEqual([
      { dependentTasksOutputFiles: '**/*' },
      { runtime: expect.stringContaining('@poncho/creator') },
      { externalDependencies: [] },
    ]);
    expect(pack?.outputs).toEqual(['{options.output}']);
    expect(pack?.options).toMatchObject({
      lockFile: 'apps/myapp/poncho.lock.json',
      output: 'dist/apps/myapp/env.tar.gz',
    });

    const run = targets['run-env'];
    expect(run?.cache).toBe(false);
    expect(run?.dependsOn).toEqual(['pack-env']);
    expect(run?.options).toMatchObject({
      environment: 'dist/apps/myapp/env.tar.gz',
      cwd: 'apps/myapp',
    });

    for (const target of Object.values(targets)) {
      expect(target.metadata?.technologies).toEqual(['python']);
      expect(target.metadata?.description).toMatch(/\w/);
    }
  });

  it('keys analyze-env on the production named input when the workspace defines one', async () => {
    write('app/poncho.json', '{}');
    const context: CreateNodesContext = {
      workspaceRoot,
      nxJsonConfiguration: { namedInputs: { production: ['default', '!{projectRoot}/tests/**'] } },
    };
    const [[, result] = []] = await createNodes[1](['app/poncho.json'], {}, context);
    const inputs = result?.projects?.app?.targets?.['analyze-env']?.inputs;
    expect(inputs).toContain('production');
    expect(inputs).not.toContain('default');
  });

  it('adds the files the analyzer reads outside the project: entries, package roots', async () => {
    write('apps/a/poncho.json', '{"entry": ["main.py", "../../shared/tool.py", "../../libs/pkg"]}');
    write('apps/a/main.py', '');
    write('shared/tool.py', '');
    write('libs/pkg/__init__.py', '');
    write('apps/b/poncho.json', '{}');
    write('apps/b/__init__.py', '');
    write('apps/__init__.py', '');
    const inputs = async (file: string) =>
      ((await targetsOf(file))['analyze-env']?.inputs ?? []).filter(
        (i): i is string => typeof i === 'string' && i.startsWith('{workspaceRoot}'),
      );
    expect(await inputs('apps/a/poncho.json')).toEqual([
      '{workspaceRoot}/apps/a/**/*.py',
      '{workspaceRoot}/apps/a/**/*.ipynb',
      // a package folder: the folder above it is where Python finds it (and its siblings)
      '{workspaceRoot}/libs/**/*.py',
      '{workspaceRoot}/libs/**/*.ipynb',
      '{workspaceRoot}/shared/**/*.py',
      '{workspaceRoot}/shared/**/*.ipynb',
    ]);
    // apps/b and apps are packages: their modules see the workspace root.
    expect(await inputs('apps/b/poncho.json')).toEqual([
      '{workspaceRoot}/**/*.py',
      '{workspaceRoot}/**/*.ipynb',
    ]);
  });

  it('renames targets from the plugin options and keeps dependsOn consistent', async () => {
    write('py/poncho.json', '{}');
    write('py/project.json', '{}');
    const targets = await targetsOf('py/poncho.json', {
      analyzeTargetName: 'spec',
      lockTargetName: 'lock',
      packTargetName: 'env',
      runTargetName: 'exec',
    });
    expect(Object.keys(targets)).toEqual(['spec', 'lock', 'env', 'exec']);
    expect(targets.lock?.dependsOn).toEqual(['spec']);
    expect(targets.env?.dependsOn).toEqual(['lock']);
    expect(targets.exec?.dependsOn).toEqual(['env']);
  });

  it('names a project that has only a poncho.json, and leaves named projects alone', async () => {
    write('a/poncho.json', '{"name":"alpha"}');
    write('b/poncho.json', '{}');
    write('c/poncho.json', '{"name":"ignored"}');
    write('c/package.json', '{"name":"c-pkg"}');
    const results = await infer(['a/poncho.json', 'b/poncho.json', 'c/poncho.json']);
    const names = Object.fromEntries(
      results.map(([file, result]) => [file, Object.values(result.projects ?? {})[0]?.name]),
    );
    expect(names).toEqual({
      'a/poncho.json': 'alpha',
      'b/poncho.json': 'b',
      'c/poncho.json': undefined,
    });
  });

  it('keys analyze-env on the python3 on PATH only when poncho.json names no pythonVersion', async () => {
    write('a/poncho.json', '{"name": "a"}');
    write('b/poncho.json', '{"name": "b", "pythonVersion": "3.11"}');
    const python3 = { runtime: 'python3 --version 2>&1 || echo no python3' };
    expect((await targetsOf('a/poncho.json'))['analyze-env']?.inputs).toContainEqual(python3);
    expect((await targetsOf('b/poncho.json'))['analyze-env']?.inputs).not.toContainEqual(python3);
  });

  it('keys pack-env on the creator and plugin versions, and the host unless a platform is set', async () => {
    write('a/poncho.json', '{"name": "a"}');
    write('b/poncho.json', '{"name": "b", "platform": "linux-64"}');
    const runtimeOutput = async (file: string) => {
      const inputs = (await targetsOf(file))['pack-env']?.inputs ?? [];
      const runtime = inputs.find((input) => typeof input === 'object' && 'runtime' in input);
      // As Nx runs it: a shell command in the workspace root (here: the repository's).
      return execSync((runtime as { runtime: string }).runtime, {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      })
        .toString()
        .trim();
    };
    const version = (name: string) =>
      createRequire(import.meta.url)(`${name}/package.json`).version as string;
    const versions = `@poncho/creator@${version('@poncho/creator')} @poncho/nx-plugin@${version('@poncho/nx-plugin')}`;
    expect(await runtimeOutput('a/poncho.json')).toBe(
      `${versions} ${process.platform}-${process.arch}`,
    );
    expect(await runtimeOutput('b/poncho.json')).toBe(versions);
  });

  it('handles a poncho.json at the workspace root', async () => {
    write('poncho.json', '{}');
    write('project.json', '{}');
    const targets = await targetsOf('poncho.json');
    expect(targets['pack-env']?.options).toMatchObject({
      lockFile: 'poncho.lock.json',
      output: 'dist/env.tar.gz',
    });
    expect(targets['analyze-env']?.inputs).toContain('{workspaceRoot}/**/*.py');
  });
});

describe('poncho.schema.json', () => {
  it('is the JSON schema of the config parser (regenerate it when the parser changes)', () => {
    // node -e "import('@poncho/nx-plugin').then(m => console.log(JSON.stringify(m.projectConfigJsonSchema(), null, 2)))" > packages/nx-plugin/poncho.schema.json
    const shipped = JSON.parse(
      readFileSync(new URL('../poncho.schema.json', import.meta.url), 'utf8'),
    );
    expect(shipped).toEqual(projectConfigJsonSchema());
  });
});
