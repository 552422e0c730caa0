/**
 * Relocating an unpacked environment to the folder it will run from.
 *
 * - poncho tarballs carry `.poncho/manifest.json`: each listed file is rewritten natively with
 *   the shared rules of @poncho/core/relocate (no python needed on the worker), and this can be
 *   done in the staging folder for the final path before the folder is moved into place;
 * - conda-pack tarballs (and the reference's) carry `bin/conda-unpack` instead: it is run with
 *   the environment's own python, in place, since it relocates to its own location.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
// The zod-free reader: zod would cost more to load than a cold start's relocation.
import {
  MANIFEST_PATH,
  type ManifestData as Manifest,
  readManifestText,
} from '@poncho/core/manifest-reader';
import { relocateFileSync } from '@poncho/core/relocate';
import { RunnerExitCode } from './exit-codes.js';

export type RelocationKind = 'manifest' | 'conda-unpack' | 'none';

/** The manifest of an unpacked environment, if it has one. */
export async function readManifest(root: string, source: string): Promise<Manifest | undefined> {
  let text: string;
  try {
    text = readFileSync(join(root, MANIFEST_PATH), 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw fileError(error, join(root, MANIFEST_PATH), 'environment manifest');
  }
  return parseManifest(text, source);
}

/** The manifest `text` of the tarball `source`; invalid, it is the environment's fault (125). */
export function parseManifest(text: string, source: string): Manifest {
  try {
    return readManifestText(text, `${source}:${MANIFEST_PATH}`);
  } catch (error) {
    if (error instanceof PonchoError) {
      throw new PonchoError(error.code, error.message, {
        hint: error.hint,
        cause: error.cause,
        exitCode: RunnerExitCode.environment,
      });
    }
    throw error;
  }
}

/** How the environment at `root` will be relocated. */
export async function relocationKind(
  root: string,
  manifest: Manifest | undefined,
): Promise<RelocationKind> {
  if (manifest) return 'manifest';
  return existsSync(join(root, 'bin', 'conda-unpack')) ? 'conda-unpack' : 'none';
}

/**
 * Rewrites every file the manifest lists, in `root`, for the environment's final location
 * `prefix`, but those in `done` (paths as the manifest gives them: relocated while they were
 * extracted, relocate-while-extracting.ts); returns how many changed. Checks first that binary
 * files have room for `prefix`, so a too-long path fails before anything is changed.
 * Synchronous calls: the files were just written (they are in the page cache), and this is on a
 * cold start's critical path, where each asynchronous call would cost a trip through the
 * threadpool.
 */
export function relocateWithManifest(
  root: string,
  manifest: Manifest,
  prefix: string,
  done: ReadonlySet<string> = new Set(),
): number {
  checkBinaryRoom(manifest, prefix);
  let changed = 0;
  for (const file of manifest.files) {
    if (done.has(file.path)) continue;
    try {
      if (relocateFileSync(join(root, file.path), file, prefix)) changed++;
    } catch (error) {
      throw relocationFailed(file.path, error);
    }
  }
  return changed;
}

/** Binary files keep their length: `prefix` must fit in their placeholder. */
export function checkBinaryRoom(manifest: Manifest, prefix: string): void {
  const prefixBytes = Buffer.byteLength(prefix);
  for (const file of manifest.files) {
    if (file.mode === 'binary' && prefixBytes > Buffer.byteLength(file.placeholder)) {
      throw new PonchoError(
        'ERR_PREFIX_TOO_LONG',
        `cannot relocate to ${prefix}: the path is ${prefixBytes} bytes long, but binary files of this environment (e.g. ${file.path}) have room for ${Buffer.byteLength(file.placeholder)}`,
        {
          hint: 'Use a shorter --unpack-to folder (or set TMPDIR to a shorter folder).',
          exitCode: RunnerExitCode.environment,
        },
      );
    }
  }
}

export function relocationFailed(path: string, error: unknown): PonchoError {
  const inner = error instanceof PonchoError ? error : undefined;
  return new PonchoError(
    inner?.code ?? 'ERR_RELOCATE',
    `cannot relocate ${path}: ${error instanceof Error ? error.message : String(error)}`,
    { hint: inner?.hint, cause: error, exitCode: RunnerExitCode.environment },
  );
}

/**
 * Runs the environment's `bin/conda-unpack` with its own python (conda-pack's relocation
 * script, which rewrites the environment for the folder it sits in).
 */
export async function runCondaUnpack(prefix: string, env: NodeJS.ProcessEnv): Promise<void> {
  const script = join(prefix, 'bin', 'conda-unpack');
  let python: string | undefined;
  for (const name of ['python', 'python3']) {
    try {
      await access(join(prefix, 'bin', name));
      python = join(prefix, 'bin', name);
      break;
    } catch {
      // try the next name
    }
  }
  if (!python) {
    throw new PonchoError(
      'ERR_ENV_NO_PYTHON',
      `cannot relocate the environment: it has bin/conda-unpack but no bin/python to run it (${prefix})`,
      {
        hint: 'Pack the environment with poncho_package_create (its tarballs relocate without python).',
        exitCode: RunnerExitCode.environment,
      },
    );
  }
  const childEnv = { ...env };
  delete childEnv.PYTHONPATH;
  delete childEnv.PYTHONHOME;
  // No __pycache__ writes: relocating must change only the files it relocates. (A conda-unpack
  // left running by a killed run would otherwise keep creating folders inside the environment
  // while the next run removes it and unpacks again.)
  childEnv.PYTHONDONTWRITEBYTECODE = '1';
  const output: Buffer[] = [];
  const status = await new Promise<number | string>((resolve, reject) => {
    const child = spawn(python as string, [script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: childEnv,
    });
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(signal ?? code ?? 1));
  }).catch((error: unknown) => {
    throw new PonchoError(
      'ERR_CONDA_UNPACK',
      `cannot run ${script} with ${python}: ${(error as Error).message}`,
      {
        hint: 'The environment was packed for another platform, or its python is damaged.',
        cause: error,
        exitCode: RunnerExitCode.environment,
      },
    );
  });
  if (status !== 0) {
    const text = Buffer.concat(output).toString('utf8').trim().split('\n').slice(-10).join('\n');
    throw new PonchoError(
      'ERR_CONDA_UNPACK',
      `${script} failed (${status})${text ? `:\n${text}` : ''}`,
      {
        hint: 'The environment cannot be relocated here; rebuild it, or run with --debug for details.',
        exitCode: RunnerExitCode.environment,
      },
    );
  }
}
