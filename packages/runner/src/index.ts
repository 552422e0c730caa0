/**
 * @poncho/runner: run a command inside a packed conda environment (see README.md).
 * The CLI (`poncho_package_run`, `python_package_run`) is a thin layer over runInEnvironment.
 */
export { activatedEnv, activationScripts, commandLine } from './activate.js';
export { DEFAULT_LOCK_WAIT_SECONDS, parseRunArguments, type RunArguments } from './args.js';
export {
  type EnvironmentRequest,
  type PreparedEnvironment,
  prepareEnvironment,
} from './environment.js';
export { RunnerExitCode } from './exit-codes.js';
export {
  MARKER_PATH,
  REFERENCE_MARKERS,
  tarballIdentity,
  type UnpackedMarker,
} from './marker.js';
export { type RunOptions, runInEnvironment } from './run.js';
export { digestTarball } from './tarball-digest.js';
