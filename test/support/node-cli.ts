/**
 * Runs the built analyzer and creator CLIs (packages/<pkg>/bin) as real processes, with Node,
 * optionally as another user (setpriv) or with stdout going straight into a file descriptor.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CREATE_BIN = join(ROOT, 'packages/creator/bin/poncho_package_create.js');
export const ANALYZE_BIN = join(ROOT, 'packages/analyzer/bin/poncho_package_analyze.js');

export interface CliResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** The child's stdout: a pipe unless a descriptor is given (as a shell redirection). */
  stdoutFd?: number;
  /** Run as this uid (and gid), through setpriv. */
  user?: number;
}

/** Runs `node script args...`; resolves with the status and output, never rejects. */
export function runNodeCli(
  script: string,
  args: string[],
  options: CliOptions,
): Promise<CliResult> {
  const node = [process.execPath, script, ...args];
  const argv =
    options.user === undefined
      ? node
      : [
          'setpriv',
          `--reuid=${options.user}`,
          `--regid=${options.user}`,
          '--clear-groups',
          ...node,
        ];
  return new Promise((done) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', options.stdoutFd ?? 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', (error) =>
      done({ code: null, stdout: Buffer.alloc(0), stderr: String(error) }),
    );
    child.on('close', (code) => done({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/**
 * The environment of a CLI run that touches nothing of the machine's user: home, caches and
 * temporary files under `root` (TMPDIR: `root/tmp` unless given; the caller creates it).
 */
export function isolatedEnv(root: string, tmp = join(root, 'tmp')): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: root,
    XDG_CACHE_HOME: join(root, 'xdg'),
    PONCHO_PKGS_DIR: join(root, 'pkgs'),
    TMPDIR: tmp,
  };
}
