import { UsageError } from '@poncho/core/errors';
import { DEFAULT_LOCK_WAIT_SECONDS, parseRunArguments } from '@poncho/runner';
import { describe, expect, it } from 'vitest';

const run = (argv: string[], program = 'poncho_package_run') => {
  const parsed = parseRunArguments(program, argv);
  if (parsed.kind !== 'run') throw new Error(`expected a run, got ${parsed.kind}`);
  return parsed.args;
};

describe('parseRunArguments', () => {
  it('stops at the first word that is not an option; the command keeps its own options', () => {
    expect(run(['-e', 'env.tar.gz', 'python3', '-e', 'x', '--debug'])).toEqual({
      environment: 'env.tar.gz',
      unpackTo: undefined,
      waitForLockSeconds: DEFAULT_LOCK_WAIT_SECONDS,
      debug: false,
      command: ['python3', '-e', 'x', '--debug'],
    });
  });

  it('accepts -d, -u and --unpack-to, -w, --debug, --environment=, and -- before the command', () => {
    expect(run(['--environment=e', '-d', 'D', '--', '-weird-command']).unpackTo).toBe('D');
    expect(run(['-e', 'e', '-u', 'U', 'cmd']).unpackTo).toBe('U');
    expect(run(['-e', 'e', '--unpack-to', 'X', 'cmd']).unpackTo).toBe('X');
    expect(run(['-e', 'e', '--', '-weird-command']).command).toEqual(['-weird-command']);
    const args = run(['--debug', '-w', '2.5', '-e', 'e', 'cmd']);
    expect(args.debug).toBe(true);
    expect(args.waitForLockSeconds).toBe(2.5);
  });

  it('takes ENV positionally as python_package_run, and -e there too', () => {
    expect(run(['env.tar.gz', 'python3', 'x.py'], 'python_package_run')).toMatchObject({
      environment: 'env.tar.gz',
      command: ['python3', 'x.py'],
    });
    expect(run(['-e', 'env.tar.gz', 'python3'], 'python_package_run').command).toEqual(['python3']);
    // poncho_package_run has no positional form: ENV is required.
    expect(() => run(['env.tar.gz', 'python3'])).toThrow(/no environment/);
  });

  it('reports usage errors as UsageError', () => {
    const bad = [
      [],
      ['-e', 'e'],
      ['--bogus', '-e', 'e', 'c'],
      ['-e'],
      ['-w', '-1', '-e', 'e', 'c'],
      ['-w', 'x', '-e', 'e', 'c'],
      ['-d', 'a', '-u', 'b', '-e', 'e', 'c'],
    ];
    for (const argv of bad) expect(() => run(argv), argv.join(' ')).toThrow(UsageError);
  });

  it('recognises --help and --version before the command only', () => {
    expect(parseRunArguments('poncho_package_run', ['-h']).kind).toBe('help');
    expect(parseRunArguments('poncho_package_run', ['--version']).kind).toBe('version');
    expect(run(['-e', 'e', 'cmd', '--help']).command).toEqual(['cmd', '--help']);
  });
});
