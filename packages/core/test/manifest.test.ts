import { PonchoError } from '@poncho/core/errors';
import { MANIFEST_PATH, parseManifest } from '@poncho/core/manifest';
import { describe, expect, it } from 'vitest';

const valid = {
  formatVersion: 1,
  platform: 'linux-64',
  buildPrefix: '/opt/build/env',
  files: [
    { path: 'bin/tool', placeholder: '/opt/build/env', mode: 'text' },
    { path: 'lib/libx.so', placeholder: '/opt/build/env', mode: 'binary' },
  ],
  createdBy: '@poncho/creator 0.1.0',
};

function errorOf(fn: () => unknown): PonchoError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PonchoError);
    return error as PonchoError;
  }
  throw new Error('expected a PonchoError');
}

describe('manifest', () => {
  it('lives at .poncho/manifest.json', () => {
    expect(MANIFEST_PATH).toBe('.poncho/manifest.json');
  });

  it('parses a valid manifest (createdBy optional, unknown keys dropped)', () => {
    expect(parseManifest(JSON.stringify(valid), 'env.tar.gz')).toEqual(valid);
    const { createdBy: _, ...bare } = valid;
    expect(parseManifest(JSON.stringify({ ...bare, extra: 1 }), 'x')).toEqual(bare);
  });

  it('names the source on invalid JSON', () => {
    const error = errorOf(() =>
      parseManifest('{"formatVersion": 1,', 'env.tar.gz:.poncho/manifest.json'),
    );
    expect(error.code).toBe('ERR_MANIFEST_JSON');
    expect(error.message).toContain('env.tar.gz:.poncho/manifest.json');
  });

  it('names the offending field', () => {
    const bad = {
      ...valid,
      files: [valid.files[0], { path: 'lib/x', placeholder: '/p', mode: 'octal' }],
    };
    const error = errorOf(() => parseManifest(JSON.stringify(bad), 'env.tar.gz'));
    expect(error.code).toBe('ERR_MANIFEST_INVALID');
    expect(error.message).toContain('files[1].mode');
    expect(
      errorOf(() => parseManifest(JSON.stringify({ ...valid, platform: 3 }), 's')).message,
    ).toContain('field platform');
  });

  it('refuses paths that leave the environment', () => {
    for (const path of ['../etc/passwd', '/etc/passwd', 'bin/../../x', 'a//b', './a', '']) {
      const bad = { ...valid, files: [{ path, placeholder: '/p', mode: 'text' }] };
      const error = errorOf(() => parseManifest(JSON.stringify(bad), 's'));
      expect(error.message).toContain('files[0].path');
    }
  });

  it('says when the manifest is newer than this reader', () => {
    const error = errorOf(() => parseManifest(JSON.stringify({ ...valid, formatVersion: 2 }), 's'));
    expect(error.code).toBe('ERR_MANIFEST_VERSION');
    expect(error.hint).toMatch(/Upgrade/);
  });
});

describe('parseManifest refuses each kind of invalid manifest, naming the field', () => {
  const cases: Array<[unknown, string]> = [
    [{ ...valid, formatVersion: 0 }, 'formatVersion'],
    [{ ...valid, formatVersion: '1' }, 'formatVersion'],
    [{ ...valid, platform: 1 }, 'platform'],
    [{ ...valid, buildPrefix: null }, 'buildPrefix'],
    [{ ...valid, createdBy: 5 }, 'createdBy'],
    [{ ...valid, files: {} }, 'files'],
    [{ ...valid, files: [null] }, 'files[0]'],
    [{ ...valid, files: [{ path: 'a', placeholder: '', mode: 'text' }] }, 'files[0].placeholder'],
    [{ ...valid, files: [{ path: 'a', placeholder: 'p', mode: 'TEXT' }] }, 'files[0].mode'],
    [{ ...valid, files: [{ path: 'a/../b', placeholder: 'p', mode: 'text' }] }, 'files[0].path'],
    [
      {
        ...valid,
        files: [
          { path: 'ok', placeholder: 'p', mode: 'binary' },
          { path: '/x', placeholder: 'p', mode: 'text' },
        ],
      },
      'files[1].path',
    ],
    [{ ...valid, files: [{ placeholder: 'p', mode: 'text' }] }, 'files[0].path'],
  ];
  it.each(cases)('%j: field %s', (data, field) => {
    const error = errorOf(() => parseManifest(JSON.stringify(data), 's'));
    expect(error.code).toBe('ERR_MANIFEST_INVALID');
    expect(error.message).toContain(`s: invalid manifest: field ${field}:`);
  });

  it.each([[[]], [null], ['text']])('refuses %j, which is not an object', (data) => {
    expect(errorOf(() => parseManifest(JSON.stringify(data), 's')).code).toBe(
      'ERR_MANIFEST_INVALID',
    );
  });
});
