/**
 * poncho_package_run end to end, with tarballs the tests make (test/support/tarballs.ts):
 * relocation (text, shebang, binary), activation, --unpack-to semantics, exit codes, signals
 * and stdin. Concurrency and crashes: run-concurrency.test.ts; hostile archives:
 * run-hostile.test.ts; python environments and conda-unpack: run-python.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON_RUNNER_BIN, RUNNER_BIN, runRunner, startRunner } from './support/runner-cli.js';
import { FIXTURE_PLACEHOLDER, fixtureTarball } from './support/tarballs.js';
import { COUNT_SIGINTS, pressCtrlC } from './support/terminal.js';

let work: string;
let tarball: string;
/** The runs' TMPDIR: must be empty after every run without --unpack-to. */
let runTmp: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tarball = await fixtureTarball();
  work = await mkdtemp(join(tmpdir(), 'poncho-run-'));
  runTmp = join(work, 'tmp');
  await mkdir(runTmp);
  env = { ...process.env, TMPDIR: runTmp, PYTHONPATH: '/should/be/unset', PYTHONHOME: '/nope' };
  delete env.PONCHO_DEBUG;
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const lines = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(/=(.*)/s).slice(0, 2)),
  );

describe('a temporary environment (no --unpack-to)', () => {
  it('relocates binary files (NUL padded) and text files, and removes the folder afterwards', async () => {
    const result = await runRunner(['-e', tarball, 'prefix-c'], { env });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    expect(out.prefix).toMatch(new RegExp(`^${runTmp}/poncho-env-`));
    expect(Number(out.length)).toBe(out.prefix?.length);
    expect(out.data).toBe('data-ok');
    expect(await readdir(runTmp)).toEqual([]);

    const config = await runRunner(['-e', tarball, 'show-config'], { env });
    expect(config.stdout).toMatch(
      new RegExp(`^prefix=${runTmp}/poncho-env-\\w+\nlib=${runTmp}/poncho-env-\\w+/lib\n$`),
    );
    expect(config.stdout).not.toContain(FIXTURE_PLACEHOLDER);
  });

  it('activates: PATH, CONDA_PREFIX, CONDA_DEFAULT_ENV, activate.d, no PYTHONPATH/PYTHONHOME', async () => {
    const result = await runRunner(['-e', tarball, 'show-env'], { env });
    expect(result.code).toBe(0);
    const out = lines(result.stdout);
    const prefix = out.CONDA_PREFIX as string;
    expect(prefix).toMatch(/poncho-env-/);
    expect(out.CONDA_DEFAULT_ENV).toBe(prefix);
    expect(out.FIXTURE_ACTIVATED).toBe(`yes:${prefix}`);
    expect(out.PYTHONPATH).toBe('unset');
    expect(out.PYTHONHOME).toBe('unset');
    expect(out.PATH?.startsWith(`${prefix}/bin:`)).toBe(true);
  });

  it('runs a script whose #! names an interpreter inside the environment', async () => {
    const result = await runRunner(['-e', tarball, 'via-shebang'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^interp ran .*\/poncho-env-\w+\/bin\/via-shebang\n$/);
  });

  it('passes arguments through untouched (no shell string), after -- too', async () => {
    const tricky = ['a b', '$HOME', '"q"', "it's", '*', '-e', '--unpack-to'];
    const result = await runRunner(['-e', tarball, '--', 'printf', '%s|', ...tricky], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${tricky.join('|')}|`);
  });

  it('passes stdin to the command', async () => {
    const result = await runRunner(['-e', tarball, 'sh', '-c', 'read a; read b; echo "$b $a"'], {
      env,
      input: 'first\nsecond\n',
    });
    expect(result.stdout).toBe('second first\n');
  });

  it('gives the command a terminal when the caller has one', async () => {
    // script(1) runs the runner on a pseudo-terminal.
    const output = execFileSync(
      'script',
      [
        '-qec',
        `${process.execPath} ${RUNNER_BIN} -e ${tarball} sh -c 'test -t 0 && test -t 1 && echo TTY-OK'`,
        '/dev/null',
      ],
      { env, encoding: 'utf8', timeout: 60_000 },
    );
    expect(output).toContain('TTY-OK');
  });
});

describe('bin/launch.sh (the installed poncho_package_run and python_package_run)', () => {
  const LAUNCH = join(import.meta.dirname, '../packages/runner/bin/launch.sh');
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell expands it
  const expand = '"CA=${NODE_EXTRA_CA_CERTS-unset} PARKED=${PONCHO_NODE_EXTRA_CA_CERTS-unset}"';
  const probe = ['sh', '-c', `echo ${expand}`];

  it('starts Node without NODE_EXTRA_CA_CERTS and gives the command its value back', async () => {
    // Reached through a symlink, as npm installs it in node_modules/.bin.
    const links = join(work, 'links');
    await mkdir(links, { recursive: true });
    await symlink(LAUNCH, join(links, 'poncho_package_run'));
    await symlink(LAUNCH, join(links, 'python_package_run'));
    const caEnv = { ...env, NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' };
    const run = (bin: string, args: string[]) =>
      spawnSync(join(links, bin), args, { env: caEnv, encoding: 'utf8', timeout: 60_000 });

    const modern = run('poncho_package_run', ['-e', tarball, ...probe]);
    expect(modern.stderr).toBe('');
    expect(modern.stdout.trim()).toBe('CA=/etc/ssl/certs/ca-certificates.crt PARKED=unset');
    // The runner's own Node process (the command's parent) ran without it: that is the point,
    // Node 20 spends ~50 ms parsing the bundle at start-up.
    const parent = run('poncho_package_run', [
      '-e',
      tarball,
      'sh',
      '-c',
      'tr "\\0" "\\n" < /proc/$PPID/environ | grep -E "^(PONCHO_)?NODE_EXTRA_CA_CERTS=" | cut -d= -f1',
    ]);
    expect(parent.stdout.trim()).toBe('PONCHO_NODE_EXTRA_CA_CERTS');

    // The name picks the CLI: python_package_run keeps the older positional form.
    const legacy = run('python_package_run', [tarball, ...probe]);
    expect(legacy.status).toBe(0);
    expect(legacy.stdout.trim()).toBe('CA=/etc/ssl/certs/ca-certificates.crt PARKED=unset');
  });

  it('leaves the variable unset when the caller had none', () => {
    const noCa = { ...env };
    delete noCa.NODE_EXTRA_CA_CERTS;
    const result = spawnSync(LAUNCH, ['-e', tarball, ...probe], { env: noCa, encoding: 'utf8' });
    expect(result.stdout.trim()).toBe('CA=unset PARKED=unset');
  });
});

describe('exit status', () => {
  it("is the command's own", async () => {
    expect((await runRunner(['-e', tarball, 'exit-with', '0'], { env })).code).toBe(0);
    expect((await runRunner(['-e', tarball, 'exit-with', '3'], { env })).code).toBe(3);
    expect((await runRunner(['-e', tarball, 'exit-with', '255'], { env })).code).toBe(255);
  });

  it('is 128+N when the command dies from signal N', async () => {
    expect((await runRunner(['-e', tarball, 'sh', '-c', 'kill -TERM $$'], { env })).code).toBe(143);
    expect((await runRunner(['-e', tarball, 'sh', '-c', 'kill -KILL $$'], { env })).code).toBe(137);
    expect(await readdir(runTmp)).toEqual([]);
  });

  it('is 127 for a command not found and 126 for one that cannot be executed', async () => {
    const missing = await runRunner(['-e', tarball, 'no-such-command-xyz'], { env });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain('no-such-command-xyz');
    const dir = await runRunner(['-e', tarball, '/'], { env });
    expect(dir.code).toBe(126);
    expect(await readdir(runTmp)).toEqual([]);
  });

  it('is 2 for usage errors, with a message', async () => {
    const cases = [
      [],
      ['-e', tarball],
      ['show-env'],
      ['--bogus', '-e', tarball, 'true'],
      ['-w', 'soon', '-e', tarball, 'true'],
    ];
    for (const args of cases) {
      const result = await runRunner(args, { env });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^poncho_package_run: error: .+\n {2}hint: /);
    }
  });

  it('is 125 when the environment is unusable', async () => {
    const missing = await runRunner(['-e', join(work, 'missing.tar.gz'), 'true'], { env });
    expect(missing.code).toBe(125);
    expect(missing.stderr).toContain('missing.tar.gz');
    const notTar = join(work, 'not-a-tarball.tar.gz');
    await writeFile(notTar, 'hello, I am not a tarball\n'.repeat(40));
    const bad = await runRunner(['-e', notTar, 'true'], { env });
    expect(bad.code).toBe(125);
    expect(bad.stderr).toContain('not a tar archive');
    expect(await readdir(runTmp)).toEqual([]);
  });

  it('prints help with exit 0', async () => {
    const result = await runRunner(['--help'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('--unpack-to');
    expect(result.stdout).toContain('--wait-for-lock');
  });
});

describe('signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`passes ${signal} on to the command and removes the temporary environment`, async () => {
      const script = `trap 'echo got-${signal}; exit 7' ${signal.slice(3)}; echo ready; while :; do sleep 0.05; done`;
      const started = startRunner(['-e', tarball, 'sh', '-c', script], { env, timeoutMs: 60_000 });
      await started.waitForOutput('ready');
      started.child.kill(signal);
      const result = await started.result;
      expect(result.stdout).toContain(`got-${signal}`);
      expect(result.code).toBe(7);
      expect(await readdir(runTmp)).toEqual([]);
    });
  }

  it('delivers Ctrl-C on a terminal to the command once (not again by the runner)', async () => {
    const output = await pressCtrlC(
      work,
      [process.execPath, RUNNER_BIN, '-e', tarball, ...COUNT_SIGINTS],
      env,
    );
    expect(output).toContain('total 1');
    expect(output).toContain('exit 3');
  });

  it('exits 128+N when a forwarded signal kills the command', async () => {
    const started = startRunner(['-e', tarball, 'sh', '-c', 'echo ready; exec sleep 30'], {
      env,
      timeoutMs: 60_000,
    });
    await started.waitForOutput('ready');
    started.child.kill('SIGTERM');
    const result = await started.result;
    expect(result.code).toBe(143);
    expect(await readdir(runTmp)).toEqual([]);
  });
});

describe('--unpack-to', () => {
  it('unpacks once into a new folder, then reuses it without unpacking', async () => {
    const dir = join(work, 'kept', 'env'); // parent missing too
    const first = await runRunner(['--debug', '-e', tarball, '--unpack-to', dir, 'prefix-c'], {
      env,
    });
    expect(first.code).toBe(0);
    expect(lines(first.stdout).prefix).toBe(dir);
    expect(first.stderr).toContain('unpacking');
    const marker = JSON.parse(await readFile(join(dir, '.poncho/unpacked.json'), 'utf8'));
    expect(marker.relocation).toBe('manifest');

    const second = await runRunner(['--debug', '-e', tarball, '-d', dir, 'show-config'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(`prefix=${dir}\nlib=${dir}/lib\n`);
    expect(second.stderr).not.toContain('unpacking');
    const third = await runRunner(['-e', tarball, '-u', dir, 'show-env'], { env });
    expect(lines(third.stdout).CONDA_PREFIX).toBe(dir);
    expect(JSON.parse(await readFile(join(dir, '.poncho/unpacked.json'), 'utf8'))).toEqual(marker);
    // Nothing left beside it: no lock, no staging folder.
    expect(await readdir(join(work, 'kept'))).toEqual(['env']);
  });

  it('unpacks into an existing empty folder', async () => {
    const dir = join(work, 'empty-env');
    await mkdir(dir);
    const result = await runRunner(['-e', tarball, '-d', dir, 'show-config'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`prefix=${dir}\n`);
  });

  it('refuses a folder that is not empty and holds no environment of ours, and leaves it alone', async () => {
    const dir = join(work, 'busy');
    await mkdir(dir);
    await writeFile(join(dir, 'precious.txt'), 'keep me');
    const result = await runRunner(['-e', tarball, '-d', dir, 'true'], { env });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('not empty');
    expect(await readdir(dir)).toEqual(['precious.txt']);
  });

  it('unpacks through a symbolic link to an empty folder, keeping the link', async () => {
    const real = join(work, 'link-target');
    const link = join(work, 'link-to-env');
    await mkdir(real);
    await symlink(real, link);
    const result = await runRunner(['-e', tarball, '-d', link, 'show-config'], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`prefix=${real}\n`);
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await runRunner(['-e', tarball, '-d', link, 'show-config'], { env })).code).toBe(0);
  });

  it('refuses an --unpack-to path that is a file', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'x');
    const result = await runRunner(['-e', tarball, '-d', file, 'true'], { env });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('is not a folder');
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  it('refuses a folder unpacked from another tarball', async () => {
    const dir = join(work, 'other-env');
    const other = join(work, 'other.tar.gz');
    await cp(tarball, other);
    // Same content but one more byte at the end of the gzip stream's trailer area: another file.
    await writeFile(other, Buffer.concat([await readFile(tarball), Buffer.alloc(512)]));
    expect((await runRunner(['-e', tarball, '-d', dir, 'true'], { env })).code).toBe(0);
    const result = await runRunner(['-e', other, '-d', dir, 'true'], { env });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('holds another environment');
  });

  it('uses a copy of the same tarball (the identity is the content, not the path or mtime)', async () => {
    const dir = join(work, 'copy-env');
    const copy = join(work, 'copy.tar.gz');
    await cp(tarball, copy);
    expect((await runRunner(['-e', tarball, '-d', dir, 'true'], { env })).code).toBe(0);
    const result = await runRunner(['--debug', '-e', copy, '-d', dir, 'true'], { env });
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('unpacking');
  });

  it('uses a folder unpacked by the reference runner (its marker)', async () => {
    const dir = join(work, 'reference-env');
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(join(dir, 'bin', 'hello-ref'), '#!/bin/sh\necho from-reference-dir\n', {
      mode: 0o755,
    });
    await writeFile(join(dir, '.python_package_run_expanded'), 'Sun Nov 22 2026\n');
    const result = await runRunner(['-e', tarball, '-d', dir, 'hello-ref'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('from-reference-dir\n');
  });

  it('rewrites a #! line that the new prefix makes longer than 127 characters', async () => {
    const dir = join(work, 'x'.repeat(140));
    const result = await runRunner(['-e', tarball, '-d', dir, 'via-shebang'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`interp ran ${dir}/bin/via-shebang\n`);
    expect((await readFile(join(dir, 'bin', 'via-shebang'), 'utf8')).split('\n')[0]).toBe(
      '#!/usr/bin/env fixture-interp',
    );
  });

  it('refuses a folder too long for the binary placeholders, before unpacking anything', async () => {
    const dir = join(work, 'y'.repeat(250), 'env');
    const result = await runRunner(['-e', tarball, '-d', dir, 'true'], { env });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('shorter');
    expect(await readdir(join(work, 'y'.repeat(250)))).toEqual([]);
  });
});

describe('other forms', () => {
  it('uses a folder given as ENV in place', async () => {
    const dir = join(work, 'kept', 'env');
    const result = await runRunner(['-e', dir, 'show-env'], { env });
    expect(result.code).toBe(0);
    expect(lines(result.stdout).CONDA_PREFIX).toBe(dir);
  });

  it("python_package_run takes ENV positionally (the seeds) or with -e (Debian's reference)", async () => {
    const positional = await runRunner([tarball, 'exit-with', '4'], {
      env,
      bin: PYTHON_RUNNER_BIN,
    });
    expect(positional.code).toBe(4);
    const withOption = await runRunner(['-e', tarball, 'exit-with', '5'], {
      env,
      bin: PYTHON_RUNNER_BIN,
    });
    expect(withOption.code).toBe(5);
  });
});

describe('compressions', () => {
  for (const [name, compress] of [
    ['plain tar', undefined],
    ['bzip2', ['bzip2', '-c']],
    ['zstd', ['zstd', '-q', '-c']],
    ['xz', ['xz', '-c']],
  ] as const) {
    const available = !compress || spawnSync(compress[0], ['--version']).status === 0;
    it.skipIf(!available)(`reads a ${name} tarball`, async () => {
      const plain = gunzipSync(await readFile(tarball));
      const data = compress
        ? execFileSync(compress[0], compress.slice(1), { input: plain })
        : plain;
      const file = join(work, `fixture-${name.replace(' ', '-')}`);
      await writeFile(file, data);
      const result = await runRunner(['-e', file, 'prefix-c'], { env });
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('data=data-ok');
      expect(await readdir(runTmp)).toEqual([]);
    });
  }
});

describe('file modes', () => {
  it('keeps the executable bits of relocated files', async () => {
    const dir = join(work, 'kept', 'env');
    expect((await stat(join(dir, 'bin', 'show-config'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(dir, 'share', 'fixture', 'config.txt'))).mode & 0o777).toBe(0o644);
  });
});
