/**
 * Finding (or making) the environment folder a command runs in. The warm path — a folder given
 * as ENV, or an --unpack-to folder already complete — touches a few files and loads nothing
 * else; everything about unpacking is imported only when needed.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileError, PonchoError } from '@poncho/core/errors';
import type { Logger } from '@poncho/core/log';
import { RunnerExitCode } from './exit-codes.js';
import type { LauncherClaim } from './launcher-claim.js';
import {
  type FolderState,
  inspectFolder,
  isComplete,
  knownTarballPath,
  lockPathFor,
  recordKnownTarball,
  type TarballIdentity,
  tarballIdentity,
  type UnpackedMarker,
  waitForPeer,
} from './marker.js';

export interface EnvironmentRequest {
  /** Tarball or folder (`-e`). */
  environment: string;
  /** Keep the unpacked environment here (`--unpack-to`); undefined: a temporary folder. */
  unpackTo?: string | undefined;
  /** How long to wait for another run unpacking into `unpackTo`. */
  waitForLockSeconds: number;
  /** Part of that wait already spent (by bin/launch.sh, before it started this run). */
  waitedMs?: number | undefined;
  signal?: AbortSignal;
  log: Logger;
  /**
   * The lock of `unpackTo` that bin/launch.sh created before starting this run: taken over
   * when this run unpacks, removed otherwise.
   */
  claim?: LauncherClaim | undefined;
}

export interface PreparedEnvironment {
  /** Absolute path of the environment's root. */
  prefix: string;
  /** 'directory': -e named a folder; 'kept': the --unpack-to folder; 'temporary': removed by dispose. */
  kind: 'directory' | 'kept' | 'temporary';
  /** True when this call unpacked the tarball. */
  unpacked: boolean;
  dispose(): Promise<void>;
}

const nothing = async () => {};

export async function prepareEnvironment(
  request: EnvironmentRequest,
): Promise<PreparedEnvironment> {
  try {
    return await prepare(request);
  } finally {
    request.claim?.release(); // unless unpackToFolder took it over
    request.claim?.wakeWaiters(); // the runs waiting in the launcher find the folder ready
  }
}

async function prepare(request: EnvironmentRequest): Promise<PreparedEnvironment> {
  const { log } = request;
  const source = resolve(request.environment);
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(source);
  } catch (error) {
    throw fileError(error, source, 'environment');
  }
  if (info.isDirectory()) {
    if (request.unpackTo !== undefined)
      log.warn(`--unpack-to is ignored: the environment ${source} is a folder`);
    log.debug(`using the environment folder ${source} in place`);
    return { prefix: source, kind: 'directory', unpacked: false, dispose: nothing };
  }
  if (!info.isFile()) {
    throw new PonchoError(
      'ERR_ENV_NOT_FILE',
      `the environment ${source} is neither a file nor a folder`,
      {
        hint: 'Give -e an environment tarball or an unpacked environment folder.',
        exitCode: RunnerExitCode.environment,
      },
    );
  }

  if (request.unpackTo === undefined) {
    const { unpackToTemporary } = await import('./unpack.js');
    const temp = await unpackToTemporary(source, { signal: request.signal, log });
    log.debug(`unpacked ${source} into the temporary folder ${temp.prefix}`);
    return { prefix: temp.prefix, kind: 'temporary', unpacked: true, dispose: temp.dispose };
  }

  const dir = resolve(request.unpackTo);
  // The launcher claimed this folder's lock: this run unpacks, it has nobody to wait for.
  const claim = request.claim?.lockPath === lockPathFor(dir) ? request.claim : undefined;
  // And the tarball starts inflating at once, on the threadpool, while the main thread looks at
  // the folder and makes its lock and staging folder: a cold run's main thread otherwise waits
  // ~10 ms for the first block.
  const inflating = claim
    ? (await import('./blocked-gunzip.js')).startInflating(source, { digest: true })
    : undefined;
  try {
    const identity = tarballIdentity(source);
    let state = await inspectFolder(dir);
    let unpacked = false;
    const deadline =
      Date.now() + Math.max(0, request.waitForLockSeconds * 1000 - (request.waitedMs ?? 0));
    if (
      claim === undefined &&
      (state.kind === 'missing' || state.kind === 'empty' || state.kind === 'incomplete')
    ) {
      // Another run is unpacking: wait for it cheaply before loading the unpacking code.
      state = (await waitForPeer(dir, deadline, request.signal)) ?? state;
    }
    if (!isComplete(state) && state.kind !== 'foreign') {
      const { unpackToFolder } = await import('./unpack-folder.js');
      state = await unpackToFolder(source, dir, {
        waitForLockSeconds: request.waitForLockSeconds,
        deadline,
        identity,
        claimedLock: claim?.handOver() ?? false,
        inflating,
        signal: request.signal,
        log,
      });
      unpacked = state.kind === 'ours' && state.marker.pid === process.pid;
    }
    checkFolder(state, dir, log);
    if (state.kind === 'ours') await checkTarball(state.marker, dir, source, identity, request);
    return { prefix: dir, kind: 'kept', unpacked, dispose: nothing };
  } finally {
    await inflating?.cancel(); // when it was not read: another run unpacked the folder meanwhile
  }
}

/**
 * Whether the folder unpacked from `marker`'s tarball may serve `source`: yes at once when this
 * very file was checked before (its entry in KNOWN_TARBALLS_DIR, which the launcher tests too);
 * otherwise the file is hashed and compared with the marker's digest, and a match is recorded
 * for the next runs (best effort: the folder may be read-only, and the run goes on either way).
 */
async function checkTarball(
  marker: UnpackedMarker,
  dir: string,
  source: string,
  identity: TarballIdentity,
  request: EnvironmentRequest,
): Promise<void> {
  const known = knownTarballPath(dir, identity);
  if (existsSync(known)) return;
  request.log.debug(`checking that ${source} is the tarball ${dir} was unpacked from`);
  const { digestTarball } = await import('./tarball-digest.js');
  let digest: string;
  try {
    digest = await digestTarball(source, request.signal);
  } catch (error) {
    request.signal?.throwIfAborted();
    throw fileError(error, source, 'environment tarball');
  }
  if (digest !== marker.digest) {
    throw new PonchoError(
      'ERR_UNPACK_DIR_OTHER_ENV',
      `--unpack-to ${dir} holds another environment (unpacked from ${marker.source} at ${marker.unpackedAt}), not ${source}`,
      {
        hint: `Use a different --unpack-to folder per environment, or remove ${dir} to unpack ${source} there.`,
        exitCode: RunnerExitCode.environment,
      },
    );
  }
  recordKnownTarball(dir, identity);
}

/** Decides whether a complete-looking folder may be used for `source`. */
function checkFolder(state: FolderState, dir: string, log: Logger): void {
  switch (state.kind) {
    case 'ours':
      log.debug(`using ${dir}, unpacked from ${state.marker.source} at ${state.marker.unpackedAt}`);
      return;
    case 'older':
      throw new PonchoError(
        'ERR_UNPACK_DIR_OLDER',
        `--unpack-to ${dir} was unpacked (from ${state.source}) by an older poncho_package_run, which recorded no digest of its tarball: it cannot be told apart from another environment`,
        {
          hint: `Remove ${dir} (it is unpacked again by the next run), or use another --unpack-to folder.`,
          exitCode: RunnerExitCode.environment,
        },
      );
    case 'reference':
      log.debug(`using ${dir}, unpacked by the reference python_package_run (${state.markerFile})`);
      return;
    case 'foreign':
      throw new PonchoError(
        'ERR_UNPACK_DIR_NOT_EMPTY',
        `--unpack-to ${dir} is not empty and holds no environment unpacked by poncho_package_run; not unpacking into it`,
        {
          hint: 'Give --unpack-to a new or empty folder (the runner creates it), or remove this one.',
          exitCode: RunnerExitCode.environment,
        },
      );
    default:
      throw new PonchoError(
        'ERR_UNPACK_DIR',
        `${dir} is not ready after unpacking (${state.kind})`,
        {
          hint: 'Another process changed the folder while it was unpacked; run again.',
          exitCode: RunnerExitCode.environment,
        },
      );
  }
}
