import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExecutorContext, logger } from '@nx/devkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseProjectConfig, resolveChannel } from '../src/config.js';
import analyzeExecutor, { pkgMappingList } from '../src/executors/analyze/analyze.impl.js';
import packExecutor, { formatSize } from '../src/executors/pack/pack.impl.js';
import runExecutor, { commandOf } from '../src/executors/run/run.impl.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'poncho-nx-exec-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  vi.restoreAllMocks();
});

/** What the executor logged as its failure reason. */
function spyOnErrors(): () => string {
  const spy = vi.spyOn(logger, 'error').mockImplementation(() => {});
  return () => spy.mock.calls.map((call) => String(call[0])).join('\n');
}

function context(projectRoot = 'app'): ExecutorContext {
  return {
    root,
    cwd: root,
    isVerbose: false,
    projectName: 'app',
    projectsConfigurations: { version: 2, projects: { app: { root: projectRoot } } },
    nxJsonConfiguration: {},
    projectGraph: { nodes: {}, dependencies: {} },
  } as ExecutorContext;
}

function write(path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), text);
}

describe('project config', () => {
  it('names the file and the field of an invalid value', () => {
    expect(() => parseProjectConfig('{"channels": "conda-forge"}', 'app/poncho.json')).toThrow(
      /app\/poncho\.json: field channels/,
    );
    expect(() => parseProjectConfig('{"entyr": []}', 'app/poncho.json')).toThrow(
      /app\/poncho\.json/,
    );
    expect(() => parseProjectConfig('{', 'app/poncho.json')).toThrow(/not valid JSON/);
  });

  it('resolves folder channels against the config file and keeps names and URLs', () => {
    expect(resolveChannel('../chan', '/ws/app')).toBe('/ws/chan');
    expect(resolveChannel('./chan', '/ws/app')).toBe('/ws/app/chan');
    expect(resolveChannel('conda-forge', '/ws/app')).toBe('conda-forge');
    expect(resolveChannel('https://example.org/c', '/ws/app')).toBe('https://example.org/c');
    expect(resolveChannel('/abs/chan', '/ws/app')).toBe('/abs/chan');
  });
});

describe('executor helpers', () => {
  it("turns the config's mapping object into the analyzer's IMPORT=NAME list", () => {
    expect(pkgMappingList({ yaml: 'pyyaml', cv2: 'pip:opencv-python' })).toEqual([
      'yaml=pyyaml',
      'cv2=pip:opencv-python',
    ]);
    expect(pkgMappingList(['a=b'])).toEqual(['a=b']);
    expect(pkgMappingList(undefined)).toBeUndefined();
  });

  it('builds the command from the option, the config and the args', () => {
    expect(commandOf({ environment: 'e' }, ['python', 'main.py'])).toEqual(['python', 'main.py']);
    expect(commandOf({ environment: 'e', args: ['a b'] }, ['python', 'main.py'])).toEqual([
      'python',
      'main.py',
      'a b',
    ]);
    expect(commandOf({ environment: 'e', command: 'python -V' }, ['python', 'main.py'])).toEqual([
      'sh',
      '-c',
      'python -V',
      'sh',
    ]);
    expect(commandOf({ environment: 'e', command: 'echo', args: ['x y'] }, undefined)).toEqual([
      'sh',
      '-c',
      'echo "$@"',
      'sh',
      'x y',
    ]);
    expect(() => commandOf({ environment: 'e' }, undefined)).toThrow(/no command/);
  });

  it('formats sizes', () => {
    expect(formatSize(10)).toBe('10 B');
    expect(formatSize(5 * 1024 * 1024)).toBe('5.0 MiB');
  });
});

describe('analyze writes a spec that does not depend on the checkout folder', () => {
  it('writes a folder channel relative to the workspace root (the same in every checkout, usable from the root)', async () => {
    write(
      'app/poncho.json',
      '{"channels": ["../channels/local", "conda-forge"], "pythonVersion": "3.11"}',
    );
    write('app/main.py', 'import os\n');
    vi.spyOn(logger, 'info').mockImplementation(() => {});
    const result = await analyzeExecutor(
      { config: 'app/poncho.json', output: 'dist/app/env.json' },
      context(),
    );
    expect(result).toEqual({ success: true });
    const spec = JSON.parse(readFileSync(join(root, 'dist/app/env.json'), 'utf8'));
    expect(spec.conda.channels).toEqual(['./channels/local', 'conda-forge']);
  });
});

describe('analyze reads what the analyzer reads', () => {
  it("takes the project's notebooks, and leaves its tests out", async () => {
    write('app/poncho.json', '{"pythonVersion": "3.11"}');
    write('app/main.py', 'import yaml\n');
    const cell = {
      cell_type: 'code',
      metadata: {},
      source: ['%matplotlib inline\n', 'import numpy\n'],
    };
    write(
      'app/explore.ipynb',
      JSON.stringify({ cells: [cell], metadata: {}, nbformat: 4, nbformat_minor: 5 }),
    );
    write('app/tests/test_main.py', 'import pytest\n');
    vi.spyOn(logger, 'info').mockImplementation(() => {});
    vi.spyOn(logger, 'warn').mockImplementation(() => {});
    const result = await analyzeExecutor(
      { config: 'app/poncho.json', output: 'dist/app/env.json', pkgMapping: { yaml: 'pyyaml' } },
      context(),
    );
    expect(result).toEqual({ success: true });
    const spec = JSON.parse(readFileSync(join(root, 'dist/app/env.json'), 'utf8'));
    expect(spec.conda.dependencies).toEqual(expect.arrayContaining(['numpy', 'pyyaml']));
    expect(JSON.stringify(spec)).not.toContain('pytest');
  });
});

describe('outputs that are not files', () => {
  it.runIf(process.getuid?.() === 0)(
    'analyze writes into a device in place (mknod in the workspace): it stays a device',
    async () => {
      write('app/poncho.json', '{}');
      write('app/main.py', 'import os\n');
      mkdirSync(join(root, 'dist'));
      execFileSync('mknod', ['-m', '666', join(root, 'dist/null'), 'c', '1', '3']);
      vi.spyOn(logger, 'info').mockImplementation(() => {});
      const result = await analyzeExecutor(
        { config: 'app/poncho.json', output: 'dist/null' },
        context(),
      );
      expect(result).toEqual({ success: true });
      expect(lstatSync(join(root, 'dist/null')).isCharacterDevice()).toBe(true);
      expect(readdirSync(join(root, 'dist'))).toEqual(['null']);
    },
  );
});

describe('expected failures return success: false with a logged reason', () => {
  const analyzeApp = () =>
    analyzeExecutor({ config: 'app/poncho.json', output: 'dist/app/env.json' }, context());
  const packApp = () =>
    packExecutor({ spec: 'dist/app/env.json', output: 'dist/app/env.tar.gz' }, context());

  it('analyze: a broken config file', async () => {
    write('app/poncho.json', '{"channels": 1}');
    write('app/main.py', 'import os\n');
    const errors = spyOnErrors();
    expect(await analyzeApp()).toEqual({ success: false });
    expect(errors()).toMatch(/poncho\.json: field channels/);
    expect(existsSync(join(root, 'dist/app/env.json'))).toBe(false);
  });

  it('analyze: a project without Python files', async () => {
    write('app/poncho.json', '{}');
    const errors = spyOnErrors();
    expect(await analyzeApp()).toEqual({ success: false });
    expect(errors()).toMatch(/no Python files/);
  });

  it('pack: a missing spec, with a hint to run analyze first', async () => {
    const errors = spyOnErrors();
    expect(await packApp()).toEqual({ success: false });
    expect(errors()).toMatch(/environment spec not found[\s\S]*hint: Run the analyze target first/);
  });

  it('pack: a spec that is not a spec, and no tarball is written', async () => {
    write('dist/app/env.json', '{"conda": {"dependencies": [3]}}');
    const errors = spyOnErrors();
    expect(await packApp()).toEqual({ success: false });
    expect(errors()).toMatch(/env\.json: invalid spec/);
    expect(existsSync(join(root, 'dist/app/env.tar.gz'))).toBe(false);
  });

  it('run: no command configured', async () => {
    write('app/poncho.json', '{}');
    const errors = spyOnErrors();
    const result = await runExecutor(
      { environment: 'dist/app/env.tar.gz', config: 'app/poncho.json' },
      context(),
    );
    expect(result).toEqual({ success: false });
    expect(errors()).toMatch(/no command to run/);
  });
});
