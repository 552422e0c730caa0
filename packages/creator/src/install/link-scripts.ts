/**
 * Post-link scripts, as conda runs them: after the packages are linked, each package's
 * `bin/.<name>-post-link.sh` runs with bash (`bash -x`, as conda does on Linux and macOS) in
 * the build prefix, with PREFIX, PKG_NAME, PKG_VERSION, PKG_BUILDNUM (and ROOT_PREFIX) set and
 * the prefix's bin/ first on PATH. A failing script fails the install, with its output. What
 * the scripts append to `$PREFIX/.messages.txt` is shown afterwards and the file removed, as
 * conda does.
 *
 * A script is package code running on the build machine, as with conda; `runScripts: false`
 * (the CLI's --no-link-scripts) skips them, and every skipped script is reported.
 */
import { spawn } from 'node:child_process';
import { access, readFile, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import type { LockedPackage } from '@poncho/core/lock';
import type { Logger } from '@poncho/core/log';

export interface LinkScriptOptions {
  /** false: skip every script (reported in the warnings). */
  runScripts: boolean;
  /** Why scripts cannot run (an environment for another platform), if they cannot. */
  cannotRunBecause?: string;
  logger: Logger;
  signal?: AbortSignal;
}

export interface LinkScriptReport {
  /** Packages whose post-link script ran. */
  ran: string[];
  /** Things the user should know: skipped scripts. */
  warnings: string[];
  /** What the scripts left in .messages.txt, if anything. */
  messages?: string;
}

/** The post-link script of `name` in a prefix (conda's naming). */
export function postLinkScriptPath(name: string): string {
  return `bin/.${name}-post-link.sh`;
}

/** Runs the post-link scripts of `packages` (in link order) in `prefix`. */
export async function runPostLinkScripts(
  prefix: string,
  packages: LockedPackage[],
  options: LinkScriptOptions,
): Promise<LinkScriptReport> {
  const report: LinkScriptReport = { ran: [], warnings: [] };
  for (const pkg of packages) {
    const script = postLinkScriptPath(pkg.name);
    const exists = await access(join(prefix, script)).then(
      () => true,
      () => false,
    );
    if (!exists) continue;
    const why = !options.runScripts ? '--no-link-scripts' : options.cannotRunBecause;
    if (why) {
      const warning =
        `did not run the post-link script of ${pkg.name} ${pkg.version} (${script}): ${why}; ` +
        'the environment may lack what it sets up';
      options.logger.warn(warning);
      report.warnings.push(warning);
      continue;
    }
    options.signal?.throwIfAborted();
    options.logger.info(`running the post-link script of ${pkg.name} (${script})`);
    await runScript(prefix, script, pkg, options.signal);
    report.ran.push(pkg.name);
  }
  const messagesPath = join(prefix, '.messages.txt');
  const messages = await readFile(messagesPath, 'utf8').catch(() => undefined);
  if (messages !== undefined) {
    await rm(messagesPath, { force: true });
    if (messages.trim()) {
      report.messages = messages;
      options.logger.info(`messages from the post-link scripts:\n${messages.trimEnd()}`);
    }
  }
  return report;
}

async function runScript(
  prefix: string,
  script: string,
  pkg: LockedPackage,
  signal: AbortSignal | undefined,
): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ROOT_PREFIX: prefix,
    PREFIX: prefix,
    PKG_NAME: pkg.name,
    PKG_VERSION: pkg.version,
    PKG_BUILDNUM: String(pkg.buildNumber ?? 0),
    PATH: [join(prefix, 'bin'), process.env.PATH ?? ''].filter(Boolean).join(delimiter),
  };
  const output: Buffer[] = [];
  const status = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
    (done, fail) => {
      const child = spawn('bash', ['-x', join(prefix, script)], {
        cwd: prefix,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        signal,
        killSignal: 'SIGTERM',
      });
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
      child.on('error', (error) => {
        if (signal?.aborted) fail(signal.reason);
        else
          fail(
            new PonchoError(
              'ERR_LINK_SCRIPT',
              `cannot run ${script} of ${pkg.name}: ${error.message}`,
              {
                hint: 'conda runs post-link scripts with bash: install bash, or pass --no-link-scripts.',
                cause: error,
              },
            ),
          );
      });
      child.on('close', (code, killedBy) => done({ code, signal: killedBy }));
    },
  );
  signal?.throwIfAborted();
  if (status.code === 0) return;
  const text = Buffer.concat(output).toString('utf8').trimEnd();
  const tail = text.split('\n').slice(-20).join('\n    ');
  throw new PonchoError(
    'ERR_LINK_SCRIPT',
    `the post-link script of ${pkg.name} ${pkg.version} (${script}) failed with ${
      status.code === null ? `signal ${status.signal}` : `status ${status.code}`
    }${tail ? `; its output ended with:\n    ${tail}` : ''}`,
    {
      hint: `The package's own setup step failed; fix what it reports, or pass --no-link-scripts to skip post-link scripts.`,
    },
  );
}
