/**
 * Exit statuses of poncho_package_run, beside the command's own status (and 128+N when the
 * command dies from signal N). They follow env(1), timeout(1) and `docker run`, so a batch
 * system can tell "the task failed" from "the runner could not start the task".
 */
import { ExitCode } from '@poncho/core/errors';

export const RunnerExitCode = {
  /** A wrong command line. */
  usage: ExitCode.usage,
  /** Timed out waiting for another run to finish unpacking into the --unpack-to folder. */
  lockTimeout: 124,
  /** The environment is unusable (missing, damaged, unsafe, cannot be unpacked or relocated), or
   *  another failure of the runner itself before the command started. */
  environment: 125,
  /** The command was found but could not be executed (permissions, bad interpreter). */
  notExecutable: 126,
  /** The command was not found on the environment's PATH. */
  notFound: 127,
  /** Base for "died from signal N" (128+N). */
  signalBase: 128,
} as const;
