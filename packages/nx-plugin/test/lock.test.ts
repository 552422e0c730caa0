/**
 * What lock-env relies on: the lock check (lockSatisfiesSpec, parseMatchSpec from the creator),
 * the portable lock text (folder channels relative to the lock file), and reading back the
 * words Nx parsed as numbers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Lock, LockedPackage } from '@poncho/core/lock';
import type { Spec } from '@poncho/core/spec';
import { lockSatisfiesSpec, parseMatchSpec } from '@poncho/creator';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { portableLockText, readLockFile } from '../src/lock-file.js';
import { pythonVersionText, rawOption, rawPositionals } from '../src/raw-args.js';

const CHANNEL = 'https://conda.example.org/forge';

function pkg(name: string, version: string, depends: string[] = [], build = '0'): LockedPackage {
  return {
    name,
    version,
    build,
    buildNumber: 0,
    subdir: 'noarch',
    channel: CHANNEL,
    url: `${CHANNEL}/noarch/${name}-${version}-${build}.conda`,
    fileName: `${name}-${version}-${build}.conda`,
    sha256: 'a'.repeat(64),
    depends,
  };
}

function lockOf(packages: LockedPackage[]): Lock {
  return {
    lockVersion: 1,
    platform: 'linux-64',
    channels: [CHANNEL],
    specs: [],
    packages,
    pip: [],
  };
}

function specOf(dependencies: Spec['conda']['dependencies']): Spec {
  return { conda: { channels: [CHANNEL], dependencies } };
}

const lock = lockOf([
  pkg('python', '3.11.7', ['__glibc >=2.17'], 'h_cpython'),
  pkg('numpy', '1.26.4', ['python >=3.9', 'libblas 3.9.*']),
  pkg('libblas', '3.9.0'),
]);
const check = (spec: Spec, l: Lock = lock, platform = 'linux-64') =>
  lockSatisfiesSpec(l, spec, { platform });

describe('lockSatisfiesSpec', () => {
  it('accepts a lock whose packages meet the spec and each other', () => {
    expect(check(specOf(['python=3.11', 'numpy>=1.24']))).toEqual({ satisfied: true });
    expect(check(specOf(['python 3.11.* h_*', 'numpy']))).toEqual({ satisfied: true });
  });

  it('refuses a spec the locked versions do not meet, or a package the lock lacks', () => {
    expect(check(specOf(['python=3.12', 'numpy']))).toMatchObject({
      satisfied: false,
      reason: expect.stringContaining('does not match python=3.12'),
    });
    expect(check(specOf(['python', 'numpy', 'scipy']))).toMatchObject({
      satisfied: false,
      reason: expect.stringContaining('nothing in the lock provides scipy'),
    });
  });

  it('refuses a lock with packages the spec no longer needs (a removed import)', () => {
    expect(check(specOf(['python']))).toMatchObject({
      satisfied: false,
      reason: 'the spec no longer needs numpy, libblas',
    });
  });

  it('refuses other channels, another platform', () => {
    const spec = specOf(['python', 'numpy']);
    expect(check(spec, lock, 'osx-arm64')).toMatchObject({ satisfied: false });
    expect(
      lockSatisfiesSpec(lock, spec, { platform: 'linux-64', channels: ['https://other.org/c'] }),
    ).toMatchObject({ satisfied: false, reason: expect.stringContaining('channels changed') });
  });
});

describe('lockSatisfiesSpec on a pip section', () => {
  const HASH = `--hash=sha256:${'b'.repeat(64)}`;
  // What lock-env (lockSpec) and --lock-file record: pins with hashes, and what was asked for.
  const pinned: Lock = {
    ...lock,
    pip: [`colorize==0.3 ${HASH}`, `greet==1.0 ${HASH}`],
    pipRequested: ['greet'],
  };
  const withPip = (pip: string[]) => specOf(['python', 'numpy', { pip }]);
  const checkPip = (spec: Spec, l: Lock, recordedSpec?: Spec) =>
    lockSatisfiesSpec(l, spec, { platform: 'linux-64', recordedSpec });

  it('keeps pins resolved from the same pip requirements (compared as written, not with the pins)', () => {
    expect(checkPip(withPip(['greet>=1']), pinned, withPip(['greet>=1']))).toEqual({
      satisfied: true,
    });
    // Order does not matter: pip resolves the section as a whole.
    const two = { ...pinned, pipRequested: ['colorize', 'greet'] };
    expect(checkPip(withPip(['greet', 'colorize']), two, withPip(['colorize', 'greet']))).toEqual({
      satisfied: true,
    });
  });

  it('refuses a changed, added or removed pip requirement', () => {
    // The conda packages still satisfy the spec: lock-env pins pip again on them (no solve).
    expect(checkPip(withPip(['greet>=2']), pinned, withPip(['greet>=1']))).toEqual({
      satisfied: false,
      reason: 'the pip requirements changed (lock: greet>=1; now: greet>=2)',
      condaSatisfied: true,
    });
    expect(checkPip(withPip(['greet>=1', 'extra']), pinned, withPip(['greet>=1']))).toMatchObject({
      satisfied: false,
      reason: expect.stringContaining('the pip requirements changed'),
    });
    expect(checkPip(specOf(['python', 'numpy']), pinned, withPip(['greet>=1']))).toEqual({
      satisfied: false,
      reason: 'the pip requirements changed (lock: greet>=1; now: none)',
      condaSatisfied: true,
    });
    expect(checkPip(withPip(['requests']), lock, specOf(['python', 'numpy']))).toEqual({
      satisfied: false,
      reason: 'the pip requirements changed (lock: none; now: requests)',
      condaSatisfied: true,
    });
    // A conda change as well: the conda reason, and a solve.
    const both = checkPip(
      specOf(['python', 'numpy', 'scipy', { pip: ['greet>=2'] }]),
      pinned,
      withPip(['greet>=1']),
    );
    expect(both).toMatchObject({ satisfied: false, reason: expect.stringContaining('scipy') });
    expect(both).not.toHaveProperty('condaSatisfied');
  });

  it('refuses pins it cannot trace to requirements (no recorded spec)', () => {
    expect(checkPip(withPip(['greet>=1']), pinned)).toMatchObject({
      satisfied: false,
      reason: expect.stringContaining('does not record the pip requirements'),
    });
  });

  it('refuses an older lock-env lock, whose pip section is the requirements as written', () => {
    const older: Lock = { ...lock, pip: ['greet==1.0'] };
    expect(checkPip(withPip(['greet==1.0']), older, withPip(['greet==1.0']))).toEqual({
      satisfied: false,
      reason:
        'its pip section is not pinned (requirements as written, by an older lock-env): lock again to pin it',
      condaSatisfied: true,
    });
  });
});

describe('lockSatisfiesSpec, what it cannot read', () => {
  it('refuses what it cannot read, so that the caller solves', () => {
    expect(check(specOf(['python', 'numpy[version=">=1"]']))).toMatchObject({ satisfied: false });
  });
});

describe('parseMatchSpec', () => {
  it('reads the usual forms', () => {
    expect(parseMatchSpec('numpy')).toEqual({ name: 'numpy' });
    expect(parseMatchSpec('python=3.11')).toEqual({ name: 'python', version: '3.11.*' });
    expect(parseMatchSpec('python==3.11.7')).toEqual({ name: 'python', version: '==3.11.7' });
    expect(parseMatchSpec('pkg=1.0=py_0')).toEqual({ name: 'pkg', version: '1.0', build: 'py_0' });
    expect(parseMatchSpec('libzlib >=1.2.13,<2.0a0')).toEqual({
      name: 'libzlib',
      version: '>=1.2.13,<2.0a0',
    });
    expect(parseMatchSpec('conda-forge::numpy >=1')).toEqual({ name: 'numpy', version: '>=1' });
    expect(parseMatchSpec('numpy[build=x]')).toBeUndefined();
  });
});

describe('the portable lock file', () => {
  let ws: string;
  beforeEach(() => {
    ws = mkdtempSync(join(tmpdir(), 'poncho-nx-lock-'));
  });
  afterEach(() => rmSync(ws, { recursive: true, force: true }));

  it('names folder channels inside the workspace relative to itself, and reads them back', async () => {
    const local = pathToFileURL(join(ws, 'channels/local')).href;
    const outside = 'file:///opt/channels/shared';
    const text = `${JSON.stringify(
      {
        ...lockOf([]),
        channels: [local, outside, CHANNEL],
        packages: [{ ...pkg('a', '1'), channel: local, url: `${local}/noarch/a-1-0.conda` }],
        pip: [
          `greet @ ${pathToFileURL(join(ws, 'apps/x/wheels/greet-1.0-py3-none-any.whl')).href} --hash=sha256:${'a'.repeat(64)}`,
          `other @ file:///opt/wheels/other-2.0-py3-none-any.whl --hash=sha256:${'b'.repeat(64)}`,
          `colorize==0.3 --hash=sha256:${'c'.repeat(64)}`,
        ],
        pipRequested: ['greet', 'other'],
      },
      null,
      2,
    )}\n`;
    const lockFile = join(ws, 'apps/x/poncho.lock.json');
    const portable = portableLockText(text, lockFile, ws);
    const data = JSON.parse(portable);
    expect(data.channels).toEqual(['../../channels/local', outside, CHANNEL]);
    expect(data.packages[0].url).toBe('../../channels/local/noarch/a-1-0.conda');
    expect(data.pip).toEqual([
      `greet @ ./wheels/greet-1.0-py3-none-any.whl --hash=sha256:${'a'.repeat(64)}`,
      `other @ file:///opt/wheels/other-2.0-py3-none-any.whl --hash=sha256:${'b'.repeat(64)}`,
      `colorize==0.3 --hash=sha256:${'c'.repeat(64)}`,
    ]);
    expect(portable).not.toContain(ws);

    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(ws, 'apps/x'), { recursive: true });
    writeFileSync(lockFile, portable);
    const read = await readLockFile(lockFile);
    expect(read?.text).toBe(portable);
    expect(read?.source.lock.channels).toEqual([local, outside, CHANNEL]);
    expect(read?.source.lock.packages[0]?.url).toBe(`${local}/noarch/a-1-0.conda`);
    expect(read?.source.lock.pip).toEqual(JSON.parse(text).pip);
    expect(await readLockFile(join(ws, 'missing.json'))).toBeUndefined();
  });
});

describe('words Nx parsed as numbers', () => {
  it('reads an option back as typed, in its camelCase or kebab-case spelling', () => {
    expect(rawOption(['--pythonVersion=3.10'], 'pythonVersion', 3.1)).toBe('3.10');
    expect(rawOption(['--python-version', '3.10'], 'pythonVersion', 3.1)).toBe('3.10');
    expect(rawOption([], 'pythonVersion', 3.11)).toBe('3.11');
    expect(rawOption(undefined, 'pythonVersion', '3.12')).toBe('3.12');
    expect(pythonVersionText(3.1, ['x', '--pythonVersion=3.10'])).toBe('3.10');
  });

  it('reads positional words back as typed', () => {
    expect(rawPositionals(['foo', 3.1, 7], ['foo', '3.10', '--x=1', '07'])).toEqual([
      'foo',
      '3.10',
      '07',
    ]);
    expect(rawPositionals(undefined, ['a'])).toEqual([]);
  });
});
