/**
 * bin/launch.sh, the installed poncho_package_run: warm runs on a ready --unpack-to folder
 * without starting Node, with the same environment, arguments, stdin, exit status and signals
 * as the Node CLI; everything else handed to the Node CLI; and the lock claim that makes
 * concurrent cold runs start Node once. Node starts are counted by a `node` first on PATH
 * that logs, then runs the real one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LAUNCHER_BIN, RUNNER_BIN, runRunner, startRunner } from './support/runner-cli.js';
import { fixtureTarball } from './support/tarballs.js';
import { COUNT_SIGINTS, pressCtrlC } from './support/terminal.js';

let work: string;
let tarball: string;
let ready: string;
let nodeLog: string;
let env: NodeJS.ProcessEnv;
/** The launcher under both installed names, reached through symlinks as npm installs it. */
let poncho: string;
let python: string;

beforeAll(async () => {
  tarball = await fixtureTarball();
  work = await mkdtemp(join(tmpdir(), 'poncho-launch-'));
  const bin = join(work, 'bin');
  await mkdir(bin);
  nodeLog = join(work, 'node-starts');
  await writeFile(
    join(bin, 'node'),
    `#!/bin/sh\necho "$$" >> '${nodeLog}'\nexec '${process.execPath}' "$@"\n`,
  );
  await chmod(join(bin, 'node'), 0o755);
  poncho = join(bin, 'poncho_package_run');
  python = join(bin, 'python_package_run');
  await symlink(LAUNCHER_BIN, poncho);
  await symlink(LAUNCHER_BIN, python);
  env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH}`,
    PYTHONPATH: '/should/be/unset',
    PYTHONHOME: '/nope',
  };
  delete env.PONCHO_DEBUG;
  ready = join(work, 'ready');
  const first = await runRunner(['-e', tarball, '-d', ready, 'true'], { env });
  expect(first.code, first.stderr).toBe(0);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  await rm(nodeLog, { force: true });
});

async function nodeStarts(): Promise<number> {
  return existsSync(nodeLog) ? (await readFile(nodeLog, 'utf8')).trim().split('\n').length : 0;
}

describe('a warm run (the folder is ready)', () => {
  it('runs the command without Node, in the environment the Node CLI gives it', async () => {
    const fast = await runRunner(['-e', tarball, '-d', ready, 'env'], { env, bin: poncho });
    expect(fast.code, fast.stderr).toBe(0);
    expect(await nodeStarts()).toBe(0);
    const slow = await runRunner(['-e', tarball, '-d', ready, 'env'], { env, bin: RUNNER_BIN });
    expect(slow.code, slow.stderr).toBe(0);
    const parse = (text: string) => text.trim().split('\n').sort();
    expect(parse(fast.stdout)).toEqual(parse(slow.stdout));
    expect(fast.stdout).toContain(`CONDA_PREFIX=${ready}\n`);
    expect(fast.stdout).toContain(`FIXTURE_ACTIVATED=yes:${ready}\n`);
    expect(fast.stdout).not.toContain('PYTHONPATH=');
    expect(fast.stdout).not.toContain('PYTHONHOME=');
  });

  it('passes arguments through untouched, after -- too, and the long option forms', async () => {
    const tricky = ['a b', '$HOME', '"q"', "it's", '*', '-e', '--unpack-to', ''];
    for (const options of [
      ['-e', tarball, '-d', ready, '--'],
      [`--environment=${tarball}`, `--unpack-to=${ready}`, '-w', '5'],
      ['-u', ready, '--environment', tarball],
    ]) {
      const result = await runRunner([...options, 'printf', '%s|', ...tricky], {
        env,
        bin: poncho,
      });
      expect(result.stdout).toBe(`${tricky.join('|')}|`);
    }
    expect(await nodeStarts()).toBe(0);
  });

  it('resolves a relative folder against the physical working directory, as Node does', async () => {
    const link = join(work, 'link-to-work');
    await symlink(work, link);
    const result = await runRunner(
      ['-e', tarball, '-d', './ready/', 'sh', '-c', 'echo $CONDA_PREFIX'],
      {
        env,
        bin: poncho,
        cwd: link,
      },
    );
    expect(result.stdout).toBe(`${ready}\n`);
    expect(await nodeStarts()).toBe(0);
  });

  it('handles folder names with spaces and quotes', async () => {
    const odd = join(work, `it's a "folder"`);
    const cold = await runRunner(['-e', tarball, '-d', odd, 'true'], { env, bin: poncho });
    expect(cold.code, cold.stderr).toBe(0);
    await rm(nodeLog, { force: true });
    const warm = await runRunner(['-e', tarball, '-d', odd, 'sh', '-c', 'echo "$CONDA_PREFIX"'], {
      env,
      bin: poncho,
    });
    expect(warm.stdout).toBe(`${odd}\n`);
    expect(await nodeStarts()).toBe(0);
  });

  it('passes stdin, and returns the exit status (128+N for a death by signal N)', async () => {
    const read = await runRunner(
      ['-e', tarball, '-d', ready, 'sh', '-c', 'read a; echo "<$a>"; exit 9'],
      {
        env,
        bin: poncho,
        input: 'line\n',
      },
    );
    expect([read.code, read.stdout]).toEqual([9, '<line>\n']);
    const killed = await runRunner(['-e', tarball, '-d', ready, 'sh', '-c', 'kill -TERM $$'], {
      env,
      bin: poncho,
    });
    expect([killed.code, killed.signal]).toEqual([143, null]);
    expect(await nodeStarts()).toBe(0);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`passes ${signal} on to the command`, async () => {
      const script = `trap 'echo got-${signal}; exit 7' ${signal.slice(3)}; echo ready; while :; do sleep 0.05; done`;
      const started = startRunner(['-e', tarball, '-d', ready, 'sh', '-c', script], {
        env,
        bin: poncho,
        timeoutMs: 60_000,
      });
      await started.waitForOutput('ready');
      started.child.kill(signal);
      const result = await started.result;
      expect(result.stdout).toContain(`got-${signal}`);
      expect(result.code).toBe(7);
      expect(await nodeStarts()).toBe(0);
    });
  }

  it('exits 128+N when a forwarded signal kills the command', async () => {
    const started = startRunner(
      ['-e', tarball, '-d', ready, 'sh', '-c', 'echo ready; exec sleep 30'],
      {
        env,
        bin: poncho,
        timeoutMs: 60_000,
      },
    );
    await started.waitForOutput('ready');
    started.child.kill('SIGTERM');
    expect((await started.result).code).toBe(143);
  });

  it('delivers Ctrl-C on a terminal to the command once, with its default action restored', async () => {
    const output = await pressCtrlC(
      work,
      [poncho, '-e', tarball, '-d', ready, ...COUNT_SIGINTS],
      env,
    );
    expect(output).toContain('total 1');
    expect(output).toContain('exit 3');
    expect(await nodeStarts()).toBe(0);
  });

  it('gives the command no ignored signals, as the Node CLI does (sh ignores SIGINT in a child)', async () => {
    const args = ['-e', tarball, '-d', ready, 'grep', '^SigIgn', '/proc/self/status'];
    const fast = await runRunner(args, { env, bin: poncho });
    const slow = await runRunner(args, { env, bin: RUNNER_BIN });
    expect(fast.stdout).toBe('SigIgn:\t0000000000000000\n');
    expect(fast.stdout).toBe(slow.stdout);
  });

  it('hands a warm run to Node where `env` has no --default-signal (coreutils < 8.31)', async () => {
    // The launcher asks only when it would run the command itself (not on a cold run).
    const oldEnv = join(work, 'old-env');
    await mkdir(oldEnv, { recursive: true });
    await writeFile(
      join(oldEnv, 'env'),
      `#!/bin/sh\ncase $1 in --default-signal*) echo "env: unrecognized option '$1'" >&2; exit 125 ;; esac\nexec /usr/bin/env "$@"\n`,
    );
    await chmod(join(oldEnv, 'env'), 0o755);
    const result = await runRunner(
      ['-e', tarball, '-d', ready, 'sh', '-c', 'echo "$CONDA_PREFIX"'],
      {
        env: { ...env, PATH: `${oldEnv}:${env.PATH}` },
        bin: poncho,
      },
    );
    expect([result.code, result.stdout, result.stderr]).toEqual([0, `${ready}\n`, '']);
    expect(await nodeStarts()).toBe(1);
  });

  it('runs a command whose path holds "=" (env would take it for a variable)', async () => {
    const scripts = join(work, 'date=2024');
    await mkdir(scripts, { recursive: true });
    await writeFile(join(scripts, 'run.sh'), '#!/bin/sh\necho "ran with $1"\n');
    await chmod(join(scripts, 'run.sh'), 0o755);
    const result = await runRunner(['-e', tarball, '-d', ready, join(scripts, 'run.sh'), 'x=1'], {
      env,
      bin: poncho,
    });
    expect([result.code, result.stdout]).toEqual([0, 'ran with x=1\n']);
    expect(await nodeStarts()).toBe(0);
  });

  it('reads -w 08 as 8 seconds, as Node does (not as octal)', async () => {
    const result = await runRunner(['-w', '08', '-e', tarball, '-d', ready, 'true'], {
      env,
      bin: poncho,
    });
    expect(result.code, result.stderr).toBe(0);
  });

  it('python_package_run takes ENV positionally', async () => {
    const result = await runRunner(['-d', ready, tarball, 'sh', '-c', 'echo $CONDA_PREFIX'], {
      env,
      bin: python,
    });
    expect(result.stdout).toBe(`${ready}\n`);
    expect(await nodeStarts()).toBe(0);
  });
});

describe('what the launcher leaves to the Node CLI', () => {
  it('a command not found or not executable: the same message and exit code', async () => {
    for (const [command, code] of [
      ['no-such-command', 127],
      [tarball, 126],
    ] as const) {
      const fast = await runRunner(['-e', tarball, '-d', ready, command], { env, bin: poncho });
      const slow = await runRunner(['-e', tarball, '-d', ready, command], {
        env,
        bin: RUNNER_BIN,
      });
      expect(fast.code).toBe(code);
      expect(fast.stderr).toBe(slow.stderr);
    }
    expect(await nodeStarts()).toBe(2);
  });

  it('a folder unpacked from another tarball: refused with the same message', async () => {
    const other = join(work, 'other.tar.gz');
    const bytes = await readFile(tarball);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1; // another size field
    await writeFile(other, bytes);
    const result = await runRunner(['-e', other, '-d', ready, 'true'], { env, bin: poncho });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('holds another environment');
    expect(await nodeStarts()).toBe(1);
  });

  it('a tarball whose first 512 bytes differ (same size and end): refused', async () => {
    const other = join(work, 'other-head.tar.gz');
    const bytes = await readFile(tarball);
    bytes[4] = (bytes[4] ?? 0) ^ 1; // the gzip header's mtime: the content is unchanged
    await writeFile(other, bytes);
    const result = await runRunner(['-e', other, '-d', ready, 'true'], { env, bin: poncho });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('holds another environment');
  });

  it('a list of known tarball files the tarball itself carried is never trusted', async () => {
    // A folder we unpacked, packed again with tar: it carries .poncho/tarballs/. Made to name
    // another tarball file, the launcher must still not take the folder for it.
    const copy = join(work, 'repacked-src');
    await mkdir(copy, { recursive: true });
    execFileSync('tar', ['-xzf', tarball, '-C', copy]);
    const target = join(work, 'target.tar.gz'); // the tarball the folder must not be taken for
    await copyFile(tarball, target);
    const key = execFileSync('stat', ['-L', '-c', '%d-%i-%s-%.9Y', target], { encoding: 'utf8' });
    await mkdir(join(copy, '.poncho', 'tarballs'), { recursive: true });
    await writeFile(join(copy, '.poncho', 'tarballs', key.trim()), '');
    await writeFile(join(copy, 'repacked.txt'), 'not the same environment\n');
    const repacked = join(work, 'repacked.tar.gz');
    execFileSync('tar', ['-czf', repacked, '-C', copy, '.']);
    const dir = join(work, 'repacked-dir');
    expect((await runRunner(['-e', repacked, '-d', dir, 'true'], { env, bin: poncho })).code).toBe(
      0,
    );
    const result = await runRunner(['-e', target, '-d', dir, 'true'], { env, bin: poncho });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('holds another environment');
  });

  it('a copy of the tarball (another file) is hashed once by Node, then runs warm', async () => {
    const copy = join(work, 'copy-of-fixture.tar.gz');
    await copyFile(tarball, copy);
    await rm(nodeLog, { force: true });
    for (let run = 0; run < 2; run++) {
      const result = await runRunner(['-e', copy, '-d', ready, 'sh', '-c', 'echo $CONDA_PREFIX'], {
        env,
        bin: poncho,
      });
      expect([result.code, result.stdout]).toEqual([0, `${ready}\n`]);
    }
    expect(await nodeStarts()).toBe(1);
    // Touched (a new mtime): it is checked again, and still matches.
    const later = new Date(Date.now() + 5_000);
    await utimes(copy, later, later);
    const touched = await runRunner(['-e', copy, '-d', ready, 'true'], { env, bin: poncho });
    expect(touched.code, touched.stderr).toBe(0);
    expect(await nodeStarts()).toBe(2);
  });

  it('--debug, --help and a temporary folder', async () => {
    const debug = await runRunner(['--debug', '-e', tarball, '-d', ready, 'true'], {
      env,
      bin: poncho,
    });
    expect(debug.stderr).toContain(`using ${ready}`);
    const help = await runRunner(['--help'], { env, bin: poncho });
    expect(help.stdout).toContain('Usage: poncho_package_run');
    const temporary = await runRunner(['-e', tarball, 'true'], { env, bin: poncho });
    expect(temporary.code).toBe(0);
    expect(await nodeStarts()).toBe(3);
  });
});

describe('a cold folder', () => {
  it('16 runs at once: one unpacks, Node starts once, all succeed (the parent missing too)', async () => {
    const dir = join(work, 'new-parent', 'cold-16');
    const runs = Array.from({ length: 16 }, (_, i) =>
      runRunner(['-e', tarball, '-d', dir, 'sh', '-c', `echo run-${i}`], { env, bin: poncho }),
    );
    const results = await Promise.all(runs);
    results.forEach((result, i) => {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe(`run-${i}\n`);
    });
    const marker = JSON.parse(await readFile(join(dir, '.poncho', 'unpacked.json'), 'utf8'));
    expect(marker.pid).toBeGreaterThan(0);
    // The claim makes it one: the others sleep on the claimer's wake file (flock) and wake to
    // a ready folder. Without the claim all 16 start Node.
    expect(await nodeStarts()).toBe(1);
    expect(existsSync(join(work, 'new-parent', '.cold-16.poncho-lock'))).toBe(false);
  });

  it('a claim left by a killed launcher is taken over once stale', async () => {
    const dir = join(work, 'cold-orphan');
    const lock = join(work, '.cold-orphan.poncho-lock');
    await mkdir(lock);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    const result = await runRunner(['-e', tarball, '-d', dir, 'sh', '-c', 'echo $CONDA_PREFIX'], {
      env,
      bin: poncho,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${dir}\n`);
    expect(existsSync(lock)).toBe(false);
  });

  it('a run that claimed the lock and failed leaves no lock behind', async () => {
    const damaged = join(work, 'damaged.tar.gz');
    await copyFile(tarball, damaged);
    await truncate(damaged, 2000);
    const dir = join(work, 'cold-damaged');
    const result = await runRunner(['-e', damaged, '-d', dir, 'true'], { env, bin: poncho });
    expect(result.code).toBe(125);
    expect(result.stderr).toMatch(/damaged or truncated/);
    expect(existsSync(join(work, '.cold-damaged.poncho-lock'))).toBe(false);
    expect(existsSync(dir)).toBe(false);
    expect(await nodeStarts()).toBe(1);
  });

  it('a launcher killed while it waits leaves nothing behind', async () => {
    // Another run holds the lock (the test does); the launcher waits in sh and is killed.
    const dir = join(work, 'cold-killed');
    const lock = join(work, '.cold-killed.poncho-lock');
    await mkdir(lock);
    const started = startRunner(['-e', tarball, '-d', dir, 'true'], { env, bin: poncho });
    await new Promise((resolve) => setTimeout(resolve, 300));
    started.child.kill('SIGKILL');
    expect((await started.result).signal).toBe('SIGKILL');
    expect(await nodeStarts()).toBe(0); // it was waiting in sh
    const leftovers = (await readdir(work)).filter((name) => name.includes('cold-killed'));
    expect(leftovers).toEqual(['.cold-killed.poncho-lock']);
    await rm(lock, { recursive: true });
    const next = await runRunner(['-e', tarball, '-d', dir, 'sh', '-c', 'echo ok'], {
      env,
      bin: poncho,
    });
    expect(next.stdout).toBe('ok\n');
  });
});

describe('signals and waiting through the launcher', () => {
  it('a cold run signalled at any moment releases the lock it claimed', async () => {
    // 0-300 ms into a cold run: while the launcher claims the lock, while Node starts (before
    // it has signal handlers), while it unpacks, while the command runs.
    for (let step = 0; step < 14; step++) {
      const delay = step * 22;
      const signal = step % 2 === 0 ? 'SIGTERM' : 'SIGINT';
      const dir = join(work, `signalled-${step}`);
      const started = startRunner(['-e', tarball, '-d', dir, 'sh', '-c', 'sleep 2'], {
        env,
        bin: poncho,
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
      started.child.kill(signal);
      const result = await started.result;
      // Killed by it (before the launcher set its traps) or ended with 128+N.
      const status = result.code ?? (result.signal === signal ? 'killed' : result.signal);
      expect([status, `${signal} after ${delay} ms`]).toContainEqual(
        status === 'killed' ? 'killed' : signal === 'SIGTERM' ? 143 : 130,
      );
      expect(existsSync(join(work, `.signalled-${step}.poncho-lock`)), `after ${delay} ms`).toBe(
        false,
      );
    }
  });

  it('-w N is the whole wait, not N in the launcher and N again in Node', async () => {
    const dir = join(work, 'held-w');
    await mkdir(join(work, '.held-w.poncho-lock')); // fresh: its owner looks alive
    const started = Date.now();
    const result = await runRunner(['-w', '3', '-e', tarball, '-d', dir, 'true'], {
      env,
      bin: poncho,
    });
    const elapsed = Date.now() - started;
    expect(result.code, result.stderr).toBe(124);
    expect(elapsed).toBeGreaterThanOrEqual(3000);
    // Before: up to 2 s in sh, then 3 s in Node. Node's start-up is the margin.
    expect(elapsed).toBeLessThan(4500);
    await rm(join(work, '.held-w.poncho-lock'), { recursive: true });
  });

  it('waiters sleep on the unpacking run (flock), past the 2 s they used to poll, without Node', async () => {
    const dir = join(work, 'woken');
    const lock = join(work, '.woken.poncho-lock');
    const wake = join(work, '.woken.poncho-wake');
    await mkdir(lock);
    await writeFile(wake, '');
    // The "unpacking run": holds the wake file for 3 s, then lets go (and drops the lock).
    const holder = startRunner(['-x', wake, 'sh', '-c', `echo held; sleep 3; rmdir '${lock}'`], {
      bin: 'flock',
    });
    await holder.waitForOutput('held');
    const waiter = runRunner(['-e', tarball, '-d', dir, 'sh', '-c', 'echo $CONDA_PREFIX'], {
      env,
      bin: poncho,
    });
    await new Promise((resolve) => setTimeout(resolve, 2800));
    expect(await nodeStarts()).toBe(0);
    const result = await waiter;
    expect([result.code, result.stdout]).toEqual([0, `${dir}\n`]);
    expect(await nodeStarts()).toBe(1); // it then unpacked, itself
    await holder.result;
  });

  it('keeps an ignored SIGINT ignored (`cmd &` in a script), for the command and itself', async () => {
    const ignoring = (args: string[]) =>
      runRunner(['-c', `trap '' INT; exec "$@"`, 'sh', poncho, ...args], { env, bin: '/bin/sh' });
    const show = ['grep', '^SigIgn', '/proc/self/status'];
    for (const args of [
      ['-e', tarball, '-d', ready, ...show], // warm: the launcher runs it
      ['-e', tarball, ...show], // a temporary folder: the Node CLI runs it
      ['-e', tarball, '-d', join(work, 'ignored-cold'), ...show], // cold: Node, after a claim
    ]) {
      const result = await ignoring(args);
      expect(result.code, result.stderr).toBe(0);
      const mask = Number.parseInt(result.stdout.replace('SigIgn:', '').trim(), 16);
      expect(mask & 0x2, result.stdout).toBe(0x2);
    }
    // The runner itself ignores it too: the command runs to its end.
    for (const args of [
      ['-e', tarball, '-d', ready],
      ['-e', tarball],
    ]) {
      const started = startRunner(
        [
          '-c',
          `trap '' INT; exec "$@"`,
          'sh',
          poncho,
          ...args,
          'sh',
          '-c',
          'echo ready; sleep 1; echo done',
        ],
        { env, bin: '/bin/sh' },
      );
      await started.waitForOutput('ready');
      started.child.kill('SIGINT');
      const result = await started.result;
      expect([result.code, result.stdout]).toEqual([0, 'ready\ndone\n']);
    }
  });
});
