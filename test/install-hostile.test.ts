/**
 * Broken and malicious packages (test/channel/hostile.ts): each is refused with its own error
 * code and a message naming the package, nothing escapes the prefix, no prefix is left behind,
 * and the package cache holds nothing that looks complete (no archive, no extracted folder, no
 * temporary files, no locks).
 */
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createEnvironment, solve } from '@poncho/creator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildHostileChannel,
  HOSTILE_ESCAPE_TARGETS,
  type HostileCase,
  type HostileChannel,
  type ServedChannel,
  serveChannel,
} from './channel/index.js';

const EXPECTED: Record<HostileCase, string> = {
  'bad-sha256': 'ERR_SHA256_MISMATCH',
  'missing-archive': 'ERR_DOWNLOAD',
  'truncated-conda': 'ERR_CORRUPT_ARCHIVE',
  'truncated-tarbz2': 'ERR_CORRUPT_ARCHIVE',
  'dotdot-path': 'ERR_UNSAFE_PATH',
  'dotdot-path-conda': 'ERR_UNSAFE_PATH',
  'absolute-path': 'ERR_UNSAFE_PATH',
  'symlink-escape': 'ERR_UNSAFE_PATH',
  'symlink-relative-escape': 'ERR_UNSAFE_PATH',
  'hardlink-escape': 'ERR_UNSAFE_PATH',
  'symlink-chain-escape': 'ERR_UNSAFE_PATH',
  'paths-sha256-mismatch': 'ERR_CORRUPT_ARCHIVE',
};

let work: string;
let hostile: HostileChannel;
let served: ServedChannel;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-hostile-'));
  hostile = await buildHostileChannel(join(work, 'channels'));
  served = await serveChannel(hostile.dir);
});

afterAll(async () => {
  await served?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

describe.each(['http', 'file'] as const)('hostile packages over %s', (transport) => {
  it.each(Object.keys(EXPECTED) as HostileCase[])(
    '%s is refused and leaves the caches consistent',
    async (kind) => {
      const info = hostile.cases[kind];
      const base = join(work, transport, kind);
      const prefix = join(base, 'env');
      const pkgsDir = join(base, 'pkgs');
      const channel = transport === 'http' ? served.url : `file://${hostile.dir}`;
      const error = await createEnvironment([info.name], prefix, {
        channels: [channel],
        pkgsDir,
        cacheDir: join(base, 'repodata'),
      }).then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string; hint?: string },
      );
      expect(error, `${kind} must be refused`).toBeDefined();
      expect(error?.code).toBe(EXPECTED[kind]);
      expect(error?.message).toContain(info.name);
      expect(error?.hint).toBeTruthy();
      if (kind === 'bad-sha256' || kind === 'missing-archive')
        expect(error?.message).toContain(`${channel}/noarch/${info.fileName}`);

      expect(await exists(prefix)).toBe(false);
      // Nothing in the package cache: no archive, no extracted folder, no temp files, no lock.
      const left = await readdir(pkgsDir).catch(() => [] as string[]);
      expect(left).toEqual([]);
      expect(await exists(HOSTILE_ESCAPE_TARGETS.absolute)).toBe(false);
      expect(await exists(join(dirname(prefix), HOSTILE_ESCAPE_TARGETS.dotdotName))).toBe(false);
      expect(await exists(join(base, HOSTILE_ESCAPE_TARGETS.dotdotName))).toBe(false);
      expect(await exists('/tmp/poncho-hostile-through-link.txt')).toBe(false);
    },
  );
});

it('broken repodata JSON is refused with the URL of the file', async () => {
  const error = await solve(['broken'], {
    channels: [hostile.brokenRepodataDir],
    cacheDir: join(work, 'broken-cache'),
  }).catch((e) => e);
  expect(error.code).toBe('ERR_REPODATA_INVALID');
  expect(error.message).toContain(`file://${hostile.brokenRepodataDir}/noarch/repodata.json`);
  const broken = await serveChannel(hostile.brokenRepodataDir);
  try {
    const overHttp = await solve(['broken'], {
      channels: [broken.url],
      cacheDir: join(work, 'broken-cache'),
    }).catch((e) => e);
    expect(overHttp.code).toBe('ERR_REPODATA_INVALID');
    expect(overHttp.message).toContain(`${broken.url}/noarch/repodata.json`);
  } finally {
    await broken.close();
  }
});
