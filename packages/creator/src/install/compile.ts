/**
 * Byte-compiles the python sources of noarch: python packages with the environment's own
 * python (as conda does; rattler does not), so the first import does not write into the
 * environment. Runs only for the host platform. Returns the .pyc files that now exist, by source.
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { PythonLayout } from './link.js';

/** `pkg/mod.py` -> `pkg/__pycache__/mod.cpython-311.pyc` */
export function pycPath(source: string, python: PythonLayout): string {
  const tag = `cpython-${python.version.replace('.', '')}`;
  const dir = posix.dirname(source);
  const base = posix.basename(source, '.py');
  return `${dir}/__pycache__/${base}.${tag}.pyc`;
}

/** compileall's -s/-p options exist from Python 3.9 on. */
function stripsDirectories(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return (major ?? 0) > 3 || ((major ?? 0) === 3 && (minor ?? 0) >= 9);
}

export async function findPython(
  prefix: string,
  python: PythonLayout,
): Promise<string | undefined> {
  for (const name of [`python${python.version}`, 'python3', 'python']) {
    const candidate = join(prefix, 'bin', name);
    if (
      await access(candidate).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

export async function compilePython(
  prefix: string,
  python: PythonLayout,
  sources: string[],
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const compiled = new Map<string, string>();
  if (sources.length === 0) return compiled;
  const interpreter = await findPython(prefix, python);
  if (!interpreter) return compiled;
  // -I: isolated from the caller's PYTHONPATH/PYTHONHOME and user site; files come on stdin.
  // -B: the modules compileall itself imports write no .pyc into the environment (which ones
  // depends on the python, and they would name the build folder).
  const args = ['-I', '-B', '-W', 'ignore', '-m', 'compileall', '-q', '-j', '0'];
  // -s (Python 3.9+): the .pyc files record their source relative to the environment, not
  // the build folder, so the tarball's bytes do not depend on TMPDIR. Python puts the real
  // path in when it loads them, so tracebacks still name the source.
  if (stripsDirectories(python.version)) args.push('-s', prefix);
  args.push('-i', '-');
  const stderr: Buffer[] = [];
  const status = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(interpreter, args, {
      cwd: prefix,
      stdio: ['pipe', 'ignore', 'pipe'],
      signal,
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', resolve);
    child.stdin.end(`${sources.map((s) => join(prefix, s)).join('\n')}\n`);
  }).catch((error: unknown) => {
    throw new PonchoError(
      'ERR_COMPILE',
      `cannot run ${interpreter} to byte-compile python files: ${(error as Error).message}`,
      {
        hint: 'Run with --no-compile to skip byte-compilation.',
        cause: error,
      },
    );
  });
  // compileall exits 1 when a file has a syntax error (a python-2-only file, say): conda logs
  // and goes on, and so do we; only the .pyc files that exist are recorded.
  if (status !== 0 && status !== 1) {
    throw new PonchoError(
      'ERR_COMPILE',
      `byte-compiling python files with ${interpreter} failed (exit ${status}): ${Buffer.concat(stderr).toString().trim().slice(0, 2000)}`,
      {
        hint: 'Run with --no-compile to skip byte-compilation.',
      },
    );
  }
  await Promise.all(
    sources.map(async (source) => {
      const pyc = pycPath(source, python);
      if (
        await access(join(prefix, pyc)).then(
          () => true,
          () => false,
        )
      )
        compiled.set(source, pyc);
    }),
  );
  return compiled;
}
