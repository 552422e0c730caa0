/**
 * The solver's thread. rattler's solve is WebAssembly that runs to its end without yielding,
 * for minutes on a hard request; on the main thread it would hold off SIGINT/SIGTERM for as
 * long. Here the main thread stays free and ends the solve by terminating this worker.
 * It serves the repodata documents it is given to rattler (solver-fetch.ts) and answers with
 * the files rattler picked, by channel index.
 */
import { parentPort } from 'node:worker_threads';
import { simpleSolve } from '@conda-org/rattler';
import { serveToSolver } from './solver-fetch.js';
import type { SolverReply, SolverRequest } from './solver-run.js';

type Platform = Parameters<typeof simpleSolve>[2][number];

async function run(request: SolverRequest): Promise<SolverReply> {
  const servers = request.channels.map((docs) => serveToSolver(new Map(docs)));
  const virtual = serveToSolver(new Map(request.virtual));
  const byUrl = new Map(servers.map((server, index) => [`${server.url}/`, index]));
  try {
    const solved = await simpleSolve(
      request.specs,
      [...servers.map((s) => s.url), virtual.url],
      [request.platform as Platform, 'noarch'],
      [],
    );
    const packages = solved.map((pkg) => {
      const repo = pkg.repoName;
      const channel =
        repo === undefined ? undefined : byUrl.get(repo.endsWith('/') ? repo : `${repo}/`);
      const picked = { channel: channel ?? null, subdir: pkg.subdir ?? '', fileName: pkg.filename };
      pkg.free();
      return picked;
    });
    return { ok: true, packages };
  } catch (error) {
    return {
      ok: false,
      error:
        typeof error === 'string' ? error : error instanceof Error ? error.message : String(error),
    };
  } finally {
    for (const server of servers) server.release();
    virtual.release();
  }
}

parentPort?.once('message', (request: SolverRequest) => {
  run(request).then(
    (reply) => parentPort?.postMessage(reply),
    (error: unknown) => parentPort?.postMessage({ ok: false, error: String(error) }),
  );
});
