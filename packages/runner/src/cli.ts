/**
 * The CLI: parse the arguments, run. Kept to what a warm run needs; the unpacking code is
 * loaded by environment.ts only when a tarball must be unpacked.
 */
import { runCli } from '@poncho/core/cli';
import { createLogger } from '@poncho/core/log';
import { helpText, parseRunArguments } from './args.js';
import { RunnerExitCode } from './exit-codes.js';
import { LauncherClaim, type LauncherNotes, takeLauncherNotes } from './launcher-claim.js';
import { runInEnvironment } from './run.js';

export const VERSION = '0.1.0';

export async function main(program: string): Promise<never> {
  // A reader of our stderr (or stdout) that went away (`2>&1 | head -0`) must not end the run
  // half-way: the write's EPIPE would be an uncaught error, killing the runner before the
  // command starts and leaving its temporary folder behind. What cannot be said is dropped.
  const ignore = () => {};
  process.stderr.on('error', ignore);
  process.stdout.on('error', ignore);
  const claim = LauncherClaim.take();
  const notes = takeLauncherNotes();
  // Node resets every signal when it starts: one the launcher found ignored is ignored again
  // (a handler that does nothing, until runInEnvironment has its own).
  if (notes.sigintIgnored) process.on('SIGINT', ignore);
  return runCli(
    program,
    async (argv) => {
      try {
        return await runCommandLine(program, argv, claim, notes);
      } finally {
        claim?.release(); // when no environment was prepared (a usage error, --help)
        claim?.wakeWaiters();
      }
    },
    process.argv.slice(2),
    // A full disk or a read-only folder met anywhere is the worker's fault: 125, never 70.
    { environmentExitCode: RunnerExitCode.environment },
  );
}

async function runCommandLine(
  program: string,
  argv: string[],
  claim: LauncherClaim | undefined,
  notes: LauncherNotes,
): Promise<number> {
  const parsed = parseRunArguments(program, argv);
  if (parsed.kind === 'help') {
    process.stdout.write(helpText(program));
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${program} ${VERSION}\n`);
    return 0;
  }
  const { args } = parsed;
  const log = createLogger({ prefix: program, level: args.debug ? 'debug' : 'warn' });
  return runInEnvironment({
    environment: args.environment,
    unpackTo: args.unpackTo,
    waitForLockSeconds: args.waitForLockSeconds,
    command: args.command,
    log,
    claim,
    waitedMs: notes.waitedMs,
    ignoreSigint: notes.sigintIgnored,
  });
}
