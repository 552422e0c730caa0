/**
 * The cold path: extract a tarball and relocate it. Loaded with `import()` only when an
 * environment must be unpacked, so a warm run never loads tar, zod or the relocation code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import { tempDirProblem } from '@poncho/core/fs';
import type { Logger } from '@poncho/core/log';
import { type InflatingTarball, startInflating } from './blocked-gunzip.js';
import { RunnerExitCode } from './exit-codes.js';
import { extractTarball } from './extract.js';
import { RelocationWhileExtracting } from './relocate-while-extracting.js';
import {
  type RelocationKind,
  readManifest,
  relocateWithManifest,
  relocationKind,
  runCondaUnpack,
} from './relocation.js';

export interface UnpackOptions {
  signal?: AbortSignal;
  log: Logger;
  /** `tarball`'s inflating, started before (startInflating). */
  inflating?: InflatingTarball | undefined;
}

export interface UnpackResult {
  /** How the environment is relocated; 'conda-unpack' is still to be run where it will live. */
  relocation: RelocationKind;
  /** Files rewritten from the manifest. */
  relocatedFiles: number;
}

/**
 * Extracts `tarball` into the empty folder `root` and, when it has a manifest, relocates it
 * for `prefix` (where `root` will end up). A conda-pack tarball is left for runCondaUnpack.
 */
export async function unpackInto(
  tarball: string,
  root: string,
  prefix: string,
  options: UnpackOptions,
): Promise<UnpackResult> {
  // Date.now, not performance.now: the latter loads perf_hooks (~1 ms of a cold start).
  const started = Date.now();
  const relocating = new RelocationWhileExtracting(prefix, tarball);
  await extractTarball(tarball, root, {
    signal: options.signal,
    inflating: options.inflating,
    rewriter: relocating,
  });
  options.log.debug(`extracted ${tarball} in ${Date.now() - started} ms`);
  options.signal?.throwIfAborted();
  const manifest = relocating.manifest ?? (await readManifest(root, tarball));
  const relocation = await relocationKind(root, manifest);
  let relocatedFiles = relocating.changed;
  if (manifest) {
    const rest = Date.now();
    relocatedFiles += relocateWithManifest(root, manifest, prefix, relocating.done);
    options.log.debug(
      `relocated ${relocatedFiles} of ${manifest.files.length} files to ${prefix} (${relocating.done.size} while extracting, the others in ${Date.now() - rest} ms)`,
    );
  } else if (relocation === 'none') {
    options.log.debug('the environment has neither a manifest nor bin/conda-unpack: used as it is');
  }
  options.signal?.throwIfAborted();
  return { relocation, relocatedFiles };
}

/** Unpacks into a fresh temporary folder; `dispose` removes it. */
export async function unpackToTemporary(
  tarball: string,
  options: UnpackOptions,
): Promise<{ prefix: string; dispose(): Promise<void> }> {
  // Inflating starts first: the first block inflates while the folder is made.
  const inflating = startInflating(tarball, { digest: false });
  try {
    const prefix = await makeTemporaryFolder();
    const dispose = () => rm(prefix, { recursive: true, force: true, maxRetries: 2 });
    try {
      const result = await unpackInto(tarball, prefix, prefix, { ...options, inflating });
      if (result.relocation === 'conda-unpack') await runCondaUnpack(prefix, process.env);
    } catch (error) {
      await dispose();
      throw error;
    }
    return { prefix, dispose };
  } finally {
    await inflating?.cancel(); // when it was never read (the folder could not be made)
  }
}

/**
 * A new folder under $TMPDIR. An unusable TMPDIR (missing, read-only, not writable, full) is the
 * worker's fault, not the runner's: 125, naming the folder.
 */
async function makeTemporaryFolder(): Promise<string> {
  const parent = tmpdir();
  try {
    return await mkdtemp(join(parent, 'poncho-env-'));
  } catch (error) {
    const reason = tempDirProblem(error);
    throw new PonchoError(
      'ERR_TMPDIR',
      `cannot make a temporary folder for the environment in ${parent} (TMPDIR): ${reason}`,
      {
        hint: 'Set TMPDIR to an existing, writable folder with enough space, or unpack into a folder of your choice with --unpack-to DIR.',
        exitCode: RunnerExitCode.environment,
        cause: error,
      },
    );
  }
}
