/**
 * The scripts inside every tarball, run the ways users and workers run them: conda-pack's way
 * (bin/activate, bin/conda-unpack), TaskVine's (bin/run_in_env in an unpacked folder), Work
 * Queue's (bin/poncho_package_run -e TARBALL [-u DIR]), and the reference's own
 * /usr/bin/python_package_run from Debian's coop-computing-tools.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPrefix } from '../dist/pack/packer.js';
import { makeFakePrefix } from './pack-fixture.js';

let root: string;
let tarball: string;
let buildPrefix: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'poncho-scripts-'));
  buildPrefix = join(root, 'build', 'prefix_placehold');
  const { pkgsDir } = await makeFakePrefix(root, buildPrefix);
  // A data-section style activation script: sourced by bin/activate.
  await mkdir(join(buildPrefix, 'etc/conda/activate.d'), { recursive: true });
  await writeFile(
    join(buildPrefix, 'etc/conda/activate.d/poncho-data.sh'),
    'export MY_DATA="$CONDA_PREFIX/data/x"\n',
  );
  await mkdir(join(buildPrefix, 'etc/conda/deactivate.d'), { recursive: true });
  await writeFile(join(buildPrefix, 'etc/conda/deactivate.d/poncho-data.sh'), 'unset MY_DATA\n');
  tarball = join(root, 'env.tar.gz');
  await packPrefix({
    prefix: buildPrefix,
    output: tarball,
    platform: 'linux-64',
    pkgsDirs: [pkgsDir],
  });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function unpacked(name: string): Promise<string> {
  const env = join(root, name);
  await mkdir(env, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', env]);
  return env;
}

const report = `printf '%s|%s|%s|%s\\n' "$CONDA_PREFIX" "$(command -v mytool)" "$MY_DATA" "$(mytool a)"`;

describe('conda-pack way', () => {
  it('activates in bash after conda-unpack, and deactivates', async () => {
    const env = await unpacked('bash-env');
    execFileSync(join(env, 'bin/conda-unpack')); // run directly: it finds bin/python itself
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source "${env}/bin/activate" && ${report} && source "${env}/bin/deactivate" && echo "after=[$CONDA_PREFIX][$MY_DATA]"`,
      ],
      {
        env: { PATH: '/usr/bin:/bin', HOME: root },
      },
    ).toString();
    expect(out).toBe(`${env}|${env}/bin/mytool|${env}/data/x|${env}/share ['a']\nafter=[][]\n`);
  });

  it('activates in a POSIX sh given PONCHO_PREFIX', async () => {
    const env = await unpacked('sh-env');
    execFileSync(join(env, 'bin/python'), [join(env, 'bin/conda-unpack')]);
    const out = execFileSync('sh', ['-c', `. "$PONCHO_PREFIX/bin/activate" && ${report}`], {
      env: { PATH: '/usr/bin:/bin', PONCHO_PREFIX: env },
    }).toString();
    expect(out).toBe(`${env}|${env}/bin/mytool|${env}/data/x|${env}/share ['a']\n`);
  });
});

describe('bin/run_in_env (TaskVine)', () => {
  it('relocates on first use and runs the command activated, with its exit status', async () => {
    const env = await unpacked('taskvine-out');
    // A worker's PYTHONPATH must not reach the environment's python (not even conda-unpack).
    const hostile = join(root, 'hostile-pythonpath');
    await mkdir(hostile, { recursive: true });
    await writeFile(
      join(hostile, 'site.py'),
      'raise SystemExit("the host PYTHONPATH leaked in")\n',
    );
    const out = execFileSync(
      join(env, 'bin/run_in_env'),
      ['sh', '-c', `${report}; echo "prefix=$PONCHO_PREFIX"`],
      {
        env: { PATH: '/usr/bin:/bin', PYTHONPATH: hostile },
      },
    ).toString();
    expect(out).toBe(`${env}|${env}/bin/mytool|${env}/data/x|${env}/share ['a']\nprefix=${env}\n`);
    const status = spawnSync(join(env, 'bin/run_in_env'), ['sh', '-c', 'exit 7']).status;
    expect(status).toBe(7);
  });

  it('relocates once when many tasks start together', async () => {
    const env = await unpacked('taskvine-many');
    const runs = Array.from(
      { length: 6 },
      () =>
        new Promise<string>((resolve, reject) => {
          const child = spawn(join(env, 'bin/run_in_env'), ['mytool', 'b']);
          let out = '';
          child.stdout.on('data', (d) => {
            out += d;
          });
          child.on('exit', (code) =>
            code === 0 ? resolve(out) : reject(new Error(`exit ${code}`)),
          );
        }),
    );
    for (const out of await Promise.all(runs)) expect(out).toBe(`${env}/share ['b']\n`);
  });
});

describe('bin/poncho_package_run (Work Queue, no Node needed)', () => {
  it('runs from the tarball in a temporary folder that is removed afterwards', async () => {
    const env = await unpacked('runner-host');
    const tmp = join(root, 'tmp-runs');
    await mkdir(tmp);
    const out = execFileSync(join(env, 'bin/poncho_package_run'), ['-e', tarball, 'mytool', 'c'], {
      env: { PATH: '/usr/bin:/bin', TMPDIR: tmp },
    }).toString();
    expect(out).toMatch(new RegExp(`^${tmp}/poncho-env\\.\\w+/share \\['c'\\]\\n$`));
    expect(execFileSync('ls', ['-A', tmp]).toString()).toBe('');
  });

  it('unpacks once into --unpack-to and reuses it', async () => {
    const env = await unpacked('runner-host2');
    const dir = join(root, 'work-queue-sandbox', 'env-dir');
    const run = () =>
      execFileSync(join(env, 'bin/poncho_package_run'), [
        '--unpack-to',
        dir,
        '-e',
        tarball,
        '--',
        'mytool',
        'd',
      ]).toString();
    expect(run()).toBe(`${dir}/share ['d']\n`);
    const marker = await readFile(join(dir, '.poncho_package_run_expanded'), 'utf8');
    expect(run()).toBe(`${dir}/share ['d']\n`);
    expect(await readFile(join(dir, '.poncho_package_run_expanded'), 'utf8')).toBe(marker);
  });

  it('fails with a message when the environment is missing or no command is given', async () => {
    const env = await unpacked('runner-host3');
    const missing = spawnSync(join(env, 'bin/poncho_package_run'), [
      '-e',
      join(root, 'nope.tar.gz'),
      'true',
    ]);
    expect(missing.status).toBe(1);
    expect(missing.stderr.toString()).toContain('environment not found');
    const noCommand = spawnSync(join(env, 'bin/poncho_package_run'), ['-e', tarball]);
    expect(noCommand.status).toBe(1);
    expect(noCommand.stderr.toString()).toContain('no command given');
  });
});

describe("the reference's python_package_run", () => {
  it.skipIf(!existsSync('/usr/bin/python_package_run'))(
    'runs a command from our tarball',
    async () => {
      const work = join(root, 'reference');
      await mkdir(work);
      const out = execFileSync('/usr/bin/python_package_run', ['-e', tarball, 'mytool', 'e'], {
        cwd: work,
      }).toString();
      expect(out).toMatch(/\/share \['e'\]\n$/);
      const dir = join(work, 'persistent');
      const again = execFileSync(
        '/usr/bin/python_package_run',
        ['-u', dir, '-e', tarball, 'sh', '-c', 'echo "$MY_DATA"'],
        { cwd: work },
      ).toString();
      expect(again).toBe(`${dir}/data/x\n`);
    },
  );
});
