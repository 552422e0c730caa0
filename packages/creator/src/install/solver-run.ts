/**
 * Runs one rattler solve in a worker thread (solver-worker.ts) and ends it at once when the
 * signal aborts (SIGINT/SIGTERM): terminating the worker stops the WebAssembly mid-solve.
 * rattler itself is loaded only in that thread.
 */
import { Worker } from 'node:worker_threads';

export interface SolverRequest {
  specs: string[];
  platform: string;
  /** Per channel (priority order): [subdir, repodata.json text] for every subdir. */
  channels: Array<Array<[string, string]>>;
  /** The virtual packages' channel. */
  virtual: Array<[string, string]>;
}

export interface SolvedFile {
  /** Index into SolverRequest.channels; null for the virtual packages. */
  channel: number | null;
  subdir: string;
  fileName: string;
}

export type SolverReply = { ok: true; packages: SolvedFile[] } | { ok: false; error: string };

/** Thrown (as a string, like rattler's own errors) for solver failures. */
export class SolverFailure extends Error {}

export interface Solver {
  /** Solves in the thread; the signal terminates it at once. Use once. */
  solve(request: SolverRequest, signal?: AbortSignal): Promise<SolvedFile[]>;
  /** Ends the thread if solve() was never called (e.g. loading repodata failed). */
  dispose(): void;
}

/**
 * Starts the solver thread now, so that loading rattler's WebAssembly (hundreds of ms) overlaps
 * with loading the repodata; the request follows with solve().
 */
/**
 * The parent's Node options, less those that only make sense for the main script: a worker
 * refuses to start under `--input-type` (e.g. `node --input-type=module -e ...`).
 */
function workerExecArgv(): string[] {
  const args: string[] = [];
  const parent = process.execArgv;
  for (let i = 0; i < parent.length; i += 1) {
    const arg = parent[i] as string;
    if (arg === '--input-type') i += 1;
    else if (!arg.startsWith('--input-type=')) args.push(arg);
  }
  return args;
}

export function startSolver(): Solver {
  const worker = new Worker(new URL('./solver-worker.js', import.meta.url), {
    execArgv: workerExecArgv(),
  });
  // Until solve() is called the thread must not keep the process alive.
  worker.unref();
  // Listening from the start: an 'error' without a listener would crash the process.
  let failure: { error: unknown } | undefined;
  let onFailure: ((error: unknown) => void) | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
    onFailure?.(error);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the solver thread stopped (exit code ${code})`)));
  let used = false;
  return {
    dispose() {
      if (!used) void worker.terminate();
    },
    solve(request, signal) {
      used = true;
      worker.ref();
      return new Promise<SolvedFile[]>((resolve, reject) => {
        let settled = false;
        const settle = (action: () => void) => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          void worker.terminate();
          action();
        };
        const onAbort = () => settle(() => reject(signal?.reason));
        if (signal?.aborted) return onAbort();
        if (failure) return settle(() => reject(failure?.error));
        signal?.addEventListener('abort', onAbort, { once: true });
        onFailure = (error) => settle(() => reject(error));
        worker.once('message', (reply: SolverReply) =>
          settle(() =>
            reply.ok ? resolve(reply.packages) : reject(new SolverFailure(reply.error)),
          ),
        );
        worker.postMessage(request);
      });
    },
  };
}
