import { execFileSync } from 'node:child_process';
import { activatedEnv, commandLine } from '@poncho/runner';
import { describe, expect, it } from 'vitest';

describe('activation', () => {
  it('sets PATH, CONDA_PREFIX and CONDA_DEFAULT_ENV and drops PYTHONPATH and PYTHONHOME', () => {
    const env = activatedEnv('/envs/a', {
      PATH: '/usr/bin',
      PYTHONPATH: 'x',
      PYTHONHOME: 'y',
      KEEP: '1',
    });
    expect(env).toEqual({
      PATH: '/envs/a/bin:/usr/bin',
      CONDA_PREFIX: '/envs/a',
      CONDA_DEFAULT_ENV: '/envs/a',
      KEEP: '1',
    });
  });

  it('gives the command back the NODE_EXTRA_CA_CERTS that bin/launch.sh parked', () => {
    const env = activatedEnv('/envs/a', {
      PATH: '/usr/bin',
      PONCHO_NODE_EXTRA_CA_CERTS: '/ca.pem',
    });
    expect(env.NODE_EXTRA_CA_CERTS).toBe('/ca.pem');
    expect(env).not.toHaveProperty('PONCHO_NODE_EXTRA_CA_CERTS');
  });

  it('runs the command directly without activation scripts', () => {
    expect(commandLine([], ['python3', 'a b'])).toEqual({ file: 'python3', args: ['a b'] });
  });

  it('sources the scripts through /bin/sh with the command only as arguments', () => {
    const line = commandLine(
      ["/tmp/it's here/x.sh"],
      ['printf', '%s|', '$(id)', '; rm -rf /', "'"],
    );
    expect(line.file).toBe('/bin/sh');
    expect(line.args[1]).toBe(`. '/tmp/it'\\''s here/x.sh'; exec "$@"`);
    // Run it for real with a script that exists: the words come out untouched.
    const real = commandLine(['/dev/null'], ['printf', '%s|', '$(id)', '; rm -rf /', "'"]);
    expect(execFileSync(real.file, real.args, { encoding: 'utf8' })).toBe("$(id)|; rm -rf /|'|");
  });
});
