/**
 * A distributed run on a real engine: a Work Queue manager (Debian's python3-workqueue, run by
 * /usr/bin/python3.11) sends tasks `poncho_package_run -e env.tar.gz --unpack-to <worker dir>
 * python3 task.py N` to two local work_queue_worker processes (coop-computing-tools), each
 * running two tasks at a time. All results must be right and each worker must unpack once.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCHER_BIN } from './support/runner-cli.js';
import { pythonEnvTarball } from './support/tarballs.js';

const PYTHON = '/usr/bin/python3.11';
const TASKS = 24;

const available = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import work_queue'], {
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin' },
    });
    execFileSync('work_queue_worker', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const MANAGER = `
import json, sys, time
import work_queue as wq

env_tar, task_py, count, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
q = wq.WorkQueue(port=0)  # a free port, chosen by the system
print("PORT", q.port, flush=True)
for i in range(count):
    t = wq.Task("poncho_package_run --debug -e env.tar.gz --unpack-to ../poncho-env python3 task.py %d 2>&1" % i)
    t.specify_input_file(env_tar, "env.tar.gz", cache=True)
    t.specify_input_file(task_py, "task.py", cache=True)
    t.specify_cores(1)
    t.specify_memory(200)
    t.specify_disk(500)
    t.specify_tag(str(i))
    q.submit(t)
results = []
deadline = time.time() + 240
while not q.empty() and time.time() < deadline:
    t = q.wait(5)
    if t:
        results.append({"tag": t.tag, "status": t.return_status, "result": t.result, "output": t.output})
with open(out_path, "w") as f:
    json.dump(results, f)
print("DONE", len(results), flush=True)
`;

// Each task waits (bounded) until both workers have an unpacked environment: on a loaded
// machine the first worker could otherwise finish every task before the second one connects.
const TASK = `
import glob, json, os, sys, time
n = int(sys.argv[1])
work = os.path.dirname(os.path.dirname(os.path.dirname(sys.prefix)))
deadline = time.time() + 60
while len(glob.glob(os.path.join(work, "worker*", "*", "poncho-env", ".poncho", "unpacked.json"))) < 2 and time.time() < deadline:
    time.sleep(0.05)
marker = json.load(open(os.path.join(sys.prefix, ".poncho", "unpacked.json")))
print("RESULT", n, n * n, sys.prefix, marker["pid"])
`;

let work: string;
const processes: ChildProcess[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-wq-'));
});

afterAll(async () => {
  for (const child of processes)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

function startProcess(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { child: ChildProcess; output: () => string } {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  processes.push(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  return { child, output: () => output };
}

async function waitFor<T>(read: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(!available)('Work Queue', () => {
  it(`runs ${TASKS} tasks on two workers, each worker unpacking once`, {
    timeout: 300_000,
  }, async () => {
    const tarball = await pythonEnvTarball('manifest');
    const bin = join(work, 'bin');
    await mkdir(bin);
    // What `npm install -g @poncho/runner` puts on a worker's PATH: a link to the launcher.
    // (--debug, to count the unpacking runs, sends every task through the Node CLI.)
    await symlink(LAUNCHER_BIN, join(bin, 'poncho_package_run'));
    await writeFile(join(work, 'manager.py'), MANAGER);
    await writeFile(join(work, 'task.py'), TASK);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.PYTHONPATH;
    delete env.PYTHONHOME;

    const results = join(work, 'results.json');
    const manager = startProcess(
      PYTHON,
      [join(work, 'manager.py'), tarball, join(work, 'task.py'), String(TASKS), results],
      env,
    );
    const port = await waitFor(
      () => /PORT (\d+)/.exec(manager.output())?.[1],
      'the manager port',
      30_000,
    );

    const workers = [1, 2].map((n) => {
      const dir = join(work, `worker${n}`);
      return {
        dir,
        ...startProcess(
          'sh',
          [
            '-c',
            `mkdir -p ${dir} && exec work_queue_worker --single-shot --timeout 120 --cores 2 --memory 2000 --disk 5000 --workdir ${dir} 127.0.0.1 ${port}`,
          ],
          env,
        ),
      };
    });

    await waitFor(
      () => (/DONE \d+/.test(manager.output()) ? true : undefined),
      'the manager to finish',
      280_000,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}\nmanager: ${manager.output()}\nworkers: ${workers.map((w) => w.output()).join('\n')}`,
      );
    });
    const done = JSON.parse(await readFile(results, 'utf8')) as Array<{
      tag: string;
      status: number;
      result: number;
      output: string;
    }>;
    expect(done).toHaveLength(TASKS);

    const prefixes = new Map<string, { tasks: number; markerPids: Set<string>; unpacks: number }>();
    for (const task of done) {
      expect(task.result, task.output).toBe(0); // WORK_QUEUE_RESULT_SUCCESS
      expect(task.status, task.output).toBe(0);
      const n = Number(task.tag);
      const match = new RegExp(`^RESULT ${n} ${n * n} (\\S+) (\\d+)$`, 'm').exec(task.output);
      expect(match, task.output).not.toBeNull();
      const [, prefix, markerPid] = match as RegExpExecArray;
      const entry = prefixes.get(prefix as string) ?? {
        tasks: 0,
        markerPids: new Set(),
        unpacks: 0,
      };
      entry.tasks++;
      entry.markerPids.add(markerPid as string);
      if (/debug: unpacking /.test(task.output)) entry.unpacks++;
      prefixes.set(prefix as string, entry);
    }
    // Two workers, each with its own unpacked environment, unpacked by exactly one run.
    expect(prefixes.size).toBe(2);
    for (const [prefix, entry] of prefixes) {
      expect(prefix).toMatch(new RegExp(`^${work}/worker[12]/worker-[^/]+/poncho-env$`));
      expect(entry.markerPids.size, prefix).toBe(1);
      expect(entry.unpacks, prefix).toBe(1);
    }
    expect([...prefixes.values()].reduce((sum, e) => sum + e.tasks, 0)).toBe(TASKS);
    expect(existsSync(results)).toBe(true);
  });
});
