/**
 * Runs the built `poncho_package_run` (packages/runner/bin) as a real process, for the runner's
 * end-to-end tests. Build first (`npx tsc -b packages/runner`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RUNNER_BIN = join(ROOT, 'packages', 'runner', 'bin', 'poncho_package_run.cjs');
export const PYTHON_RUNNER_BIN = join(ROOT, 'packages', 'runner', 'bin', 'python_package_run.cjs');
/** The installed binary (both names): a sh launcher that runs warm commands without Node. */
export const LAUNCHER_BIN = join(ROOT, 'packages', 'runner', 'bin', 'launch.sh');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  input?: string;
  cwd?: string;
  /** Kill the run after this many ms (a test that hangs fails instead). */
  timeoutMs?: number;
  /** A .js entry point runs with this Node; anything else (the launcher) runs as it is. */
  bin?: string;
}

export interface Started {
  child: ChildProcess;
  result: Promise<RunResult>;
  /** Resolves when stdout has printed `text`. */
  waitForOutput(text: string, timeoutMs?: number): Promise<void>;
}

export function startRunner(args: string[], options: RunOptions = {}): Started {
  const bin = options.bin ?? RUNNER_BIN;
  const [file, ...argv] = /\.c?js$/.test(bin) ? [process.execPath, bin, ...args] : [bin, ...args];
  const child = spawn(file as string, argv, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const waiter of waiters) waiter();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdin?.on('error', () => {});
  child.stdin?.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const result = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  const waitForOutput = (text: string, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (stdout.includes(text)) {
          clearTimeout(limit);
          resolve();
        }
      };
      const limit = setTimeout(
        () =>
          reject(
            new Error(
              `timed out waiting for ${JSON.stringify(text)}; stdout: ${stdout}; stderr: ${stderr}`,
            ),
          ),
        timeoutMs,
      );
      waiters.push(check);
      check();
    });
  return { child, result, waitForOutput };
}

export function runRunner(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return startRunner(args, options).result;
}
