/**
 * The target Python version: `--python-version`, else the version of `--python PATH`, else the
 * `python` package of the conda environment, else `python3` on PATH.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PonchoError, UsageError } from '@poncho/core/errors';
import type { PrefixIndex } from './prefix.js';
import { minorVersion } from './stdlib.js';

const run = promisify(execFile);

export interface PythonTarget {
  /** X.Y or X.Y.Z. */
  version: string;
  /** Where the version came from, for the report. */
  from: string;
  /** The spec's python entry: exact when given or pinned by the environment, X.Y otherwise. */
  spec: string;
}

const VERSION = /^3\.\d+(?:\.\d+)?$/;

export async function pythonTarget(options: {
  pythonVersion?: string;
  python?: string;
  prefix?: PrefixIndex;
  env?: NodeJS.ProcessEnv;
}): Promise<PythonTarget> {
  if (options.pythonVersion !== undefined) {
    checkPythonVersion(options.pythonVersion);
    return {
      version: options.pythonVersion,
      from: '--python-version',
      spec: `python=${options.pythonVersion}`,
    };
  }
  if (options.python !== undefined) {
    const version = await interpreterVersion(options.python, options.env, '--python');
    return { version, from: `--python ${options.python}`, spec: `python=${minorVersion(version)}` };
  }
  const python = options.prefix?.conda.get('python');
  if (python) {
    return {
      version: python.version,
      from: `conda environment ${options.prefix?.prefix}`,
      spec: `python=${python.version}=${python.build}`,
    };
  }
  const version = await interpreterVersion('python3', options.env, 'python3 on PATH');
  return { version, from: 'python3 on PATH', spec: `python=${minorVersion(version)}` };
}

/** Rejects a --python-version that is not X.Y[.Z] (the data covers 3.8 to 3.14: stdlib.ts). */
export function checkPythonVersion(version: string): void {
  if (!VERSION.test(version)) {
    throw new UsageError(
      `--python-version ${JSON.stringify(version)} is not a Python 3 version`,
      'Write it as X.Y or X.Y.Z, e.g. --python-version 3.11.',
    );
  }
}

async function interpreterVersion(
  command: string,
  env: NodeJS.ProcessEnv | undefined,
  what: string,
): Promise<string> {
  let stdout: string;
  try {
    ({ stdout } = await run(
      command,
      ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'],
      {
        env: env ?? process.env,
        timeout: 30_000,
      },
    ));
  } catch (error) {
    throw new PonchoError(
      'ERR_PYTHON',
      `cannot run ${what} (${command}) to find the target Python version`,
      {
        hint: 'Pass the version instead, e.g. --python-version 3.11, or point --python at a working interpreter.',
        cause: error,
      },
    );
  }
  const version = stdout.trim();
  if (!VERSION.test(version)) {
    throw new PonchoError(
      'ERR_PYTHON',
      `${what} (${command}) is Python ${version}; poncho targets Python 3`,
      {
        hint: 'Pass --python-version 3.X (the version the environment should have).',
      },
    );
  }
  return version;
}
