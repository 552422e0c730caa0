/**
 * poncho_package_run under Slurm, end to end: a real one-node cluster (Debian's slurmctld and
 * slurmd, with munge), started by this file as root with a private slurm.conf, ports and munge
 * socket (nothing system-wide is touched), and stopped at the end.
 *
 * - A 16-task job array sharing one node-local --unpack-to folder: one extraction (Node starts
 *   once: the other tasks sleep on the claim and run warm in the launcher), 16 right outputs.
 * - scancel of a running task: no process of it is left, and the folder serves the next job at
 *   once (no lock left behind to wait for).
 *
 * Needs root and the Debian packages slurmd, slurmctld, slurm-client and munge (scripts/setup
 * installs them); skipped otherwise, with the reason in the test name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCHER_BIN } from './support/runner-cli.js';
import { fixtureTarball } from './support/tarballs.js';

const DAEMONS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo'];
const missing = DAEMONS.filter(
  (name) => spawnSync('sh', ['-c', `command -v ${name}`]).status !== 0,
);
const isRoot = process.getuid?.() === 0;
const reason = !isRoot
  ? 'needs root'
  : missing.length > 0
    ? `needs ${missing.join(', ')} (scripts/setup installs them)`
    : '';

let work: string;
let env: NodeJS.ProcessEnv;
let tarball: string;
let nodeLog: string;

/** A TCP port nobody listens on now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function until<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function slurm(command: string, args: string[]): string {
  return execFileSync(command, args, { env, encoding: 'utf8', timeout: 30_000 });
}

/** Starts munged, slurmctld and slurmd for a one-node cluster in `work`. */
async function startCluster(): Promise<void> {
  const munge = join(work, 'munge');
  await mkdir(munge, { mode: 0o700 });
  await mkdir(join(work, 'state'));
  await mkdir(join(work, 'spool'));
  const key = join(munge, 'munge.key');
  execFileSync('dd', ['if=/dev/urandom', `of=${key}`, 'bs=1024', 'count=1'], { stdio: 'ignore' });
  await chmod(key, 0o400);
  const socket = join(munge, 'socket');
  execFileSync('munged', [
    '--force',
    `--socket=${socket}`,
    `--key-file=${key}`,
    `--log-file=${join(munge, 'log')}`,
    `--pid-file=${join(munge, 'pid')}`,
    `--seed-file=${join(munge, 'seed')}`,
  ]);
  const [controllerPort, nodePort] = [await freePort(), await freePort()];
  const conf = join(work, 'slurm.conf');
  await writeFile(
    conf,
    [
      'ClusterName=poncho',
      `SlurmctldHost=${hostname().split('.')[0]}(127.0.0.1)`,
      'SlurmUser=root',
      'SlurmdUser=root',
      `SlurmctldPort=${controllerPort}`,
      `SlurmdPort=${nodePort}`,
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${join(work, 'state')}`,
      `SlurmdSpoolDir=${join(work, 'spool')}`,
      `SlurmctldPidFile=${join(work, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(work, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(work, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(work, 'slurmd.log')}`,
      // No cgroups in containers: track processes through /proc, no task binding.
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      'MpiDefault=none',
      'JobCompType=jobcomp/none',
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      // scancel: SIGTERM, then SIGKILL 2 s later (default 30 s).
      'KillWait=2',
      // 16 CPUs on a 2-core machine: the whole array runs at once, as on a real node.
      'SlurmdParameters=config_overrides',
      'NodeName=poncho-node NodeAddr=127.0.0.1 CPUs=16 State=UNKNOWN',
      'PartitionName=poncho Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  env = { ...env, SLURM_CONF: conf };
  slurm('slurmctld', ['-f', conf]);
  slurm('slurmd', ['-f', conf, '-N', 'poncho-node']);
  await until('the Slurm node to be idle', () => {
    const state = spawnSync('sinfo', ['-h', '-o', '%T'], { env, encoding: 'utf8', timeout: 5000 });
    return state.stdout.trim() === 'idle' || undefined;
  });
}

async function stopCluster(): Promise<void> {
  for (const pidFile of ['slurmd.pid', 'slurmctld.pid', join('munge', 'pid')]) {
    const path = join(work, pidFile);
    if (!existsSync(path)) continue;
    const pid = Number((await readFile(path, 'utf8')).trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  }
}

/** Submits a batch script and returns the job id. */
function submit(script: string, options: string[] = []): string {
  return slurm('sbatch', ['--parsable', ...options, script])
    .trim()
    .split(';')[0] as string;
}

function jobGone(id: string): boolean {
  return slurm('squeue', ['-h', '-j', id, '-o', '%T']).trim() === '';
}

async function nodeStarts(): Promise<number> {
  return existsSync(nodeLog) ? (await readFile(nodeLog, 'utf8')).trim().split('\n').length : 0;
}

describe.skipIf(reason !== '')(`on Slurm${reason ? ` (${reason})` : ''}`, () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'poncho-slurm-'));
    await chmod(work, 0o755);
    tarball = await fixtureTarball();
    // The runner as installed (the launcher, under its name), and a `node` that counts starts.
    const bin = join(work, 'bin');
    await mkdir(bin);
    await symlink(LAUNCHER_BIN, join(bin, 'poncho_package_run'));
    nodeLog = join(work, 'node-starts');
    await writeFile(
      join(bin, 'node'),
      `#!/bin/sh\necho "$$" >> '${nodeLog}'\nexec '${process.execPath}' "$@"\n`,
    );
    await chmod(join(bin, 'node'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    delete env.PONCHO_DEBUG;
    await startCluster();
  }, 120_000);

  afterAll(async () => {
    if (work) {
      await stopCluster();
      await rm(work, { recursive: true, force: true, maxRetries: 3 });
    }
  });

  it('a 16-task job array shares one node-local --unpack-to: one extraction, 16 right outputs', async () => {
    const out = join(work, 'array');
    await mkdir(out);
    const dir = join(work, 'node-local', 'env');
    const script = join(work, 'array.sbatch');
    await writeFile(
      script,
      `#!/bin/sh
#SBATCH --array=0-15
#SBATCH --output=${out}/%a.out
#SBATCH --error=${out}/%a.err
exec poncho_package_run -e '${tarball}' --unpack-to '${dir}' \\
  sh -c 'echo "task $SLURM_ARRAY_TASK_ID in $CONDA_PREFIX: $(show-config | head -1)"'
`,
    );
    await rm(nodeLog, { force: true });
    const id = submit(script);
    await until('the array to finish', () => jobGone(id) || undefined, 180_000);
    for (let task = 0; task < 16; task++) {
      const stdout = await readFile(join(out, `${task}.out`), 'utf8');
      const stderr = await readFile(join(out, `${task}.err`), 'utf8');
      expect(stdout, stderr).toBe(`task ${task} in ${dir}: prefix=${dir}\n`);
    }
    // Node starts only to unpack: once; the other 15 tasks ran warm in the launcher.
    expect(await nodeStarts()).toBe(1);
    expect(await readdir(join(work, 'node-local'))).toEqual(['.env.poncho-wake', 'env']);
  });

  it('scancel of a running task leaves no process, and the folder serves the next job at once', async () => {
    const dir = join(work, 'cancelled', 'env');
    const out = join(work, 'cancel.out');
    const token = `poncho-slurm-${process.pid}-${Date.now()}`;
    const script = join(work, 'cancel.sbatch');
    // The task: a script named after a token, so that its processes can be found by name.
    const sleeper = join(work, 'bin', token);
    await writeFile(sleeper, '#!/bin/sh\necho started\nexec sleep 600\n');
    await chmod(sleeper, 0o755);
    await writeFile(
      script,
      `#!/bin/sh
#SBATCH --output=${out}
exec poncho_package_run -e '${tarball}' --unpack-to '${dir}' ${token}
`,
    );
    const id = submit(script);
    await until('the task to start', async () =>
      existsSync(out) && (await readFile(out, 'utf8')).includes('started') ? true : undefined,
    );
    expect(spawnSync('pgrep', ['-f', token]).status).toBe(0);
    slurm('scancel', [id]);
    await until('the task to end', () => jobGone(id) || undefined);
    await until('its processes to end', () => spawnSync('pgrep', ['-f', token]).status === 1);
    expect(existsSync(join(work, 'cancelled', '.env.poncho-lock'))).toBe(false);
    // The next job: -w 1, so that a lock left behind (fresh for 10 s) would fail it with 124.
    const next = join(work, 'next.out');
    const nextScript = join(work, 'next.sbatch');
    await writeFile(
      nextScript,
      `#!/bin/sh
#SBATCH --output=${next}
poncho_package_run -w 1 -e '${tarball}' --unpack-to '${dir}' sh -c 'echo "next in $CONDA_PREFIX"'
echo "status $?"
`,
    );
    const nextId = submit(nextScript);
    await until('the next job to finish', () => jobGone(nextId) || undefined);
    expect(await readFile(next, 'utf8')).toBe(`next in ${dir}\nstatus 0\n`);
  });
});
