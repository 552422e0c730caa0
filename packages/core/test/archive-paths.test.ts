import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ArchiveEntryGuard,
  findEscapingSymlink,
  isInsideOnDisk,
  normalizeArchivePath,
} from '@poncho/core/archive-paths';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('normalizeArchivePath', () => {
  it('folds . and .. and refuses climbing above the root', () => {
    expect(normalizeArchivePath('a/./b/')).toBe('a/b');
    expect(normalizeArchivePath('a/../b')).toBe('b');
    expect(normalizeArchivePath('./')).toBe('');
    expect(normalizeArchivePath('a/../..')).toBeUndefined();
  });

  it('gives what splitting at every slash gives, for every path of up to four short segments', () => {
    // The rule, as it reads: the implementation skips the split for paths that are normal.
    const byParts = (path: string) => {
      const out: string[] = [];
      for (const part of path.split('/')) {
        if (part === '' || part === '.') continue;
        if (part !== '..') out.push(part);
        else if (out.pop() === undefined) return undefined;
      }
      return out.join('/');
    };
    const segments = ['', '.', '..', '...', 'a', '.a', 'a.', '..a', 'a..', '\xff'];
    let paths = [''];
    for (let depth = 0; depth < 4; depth++) {
      paths = paths.flatMap((path) => segments.map((s) => (depth === 0 ? s : `${path}/${s}`)));
      for (const path of paths)
        expect([path, normalizeArchivePath(path)]).toEqual([path, byParts(path)]);
    }
  });
});

describe('ArchiveEntryGuard', () => {
  it('accepts an ordinary archive', () => {
    const guard = new ArchiveEntryGuard();
    expect(guard.check({ path: 'bin/', type: 'Directory' })).toBeUndefined();
    expect(guard.check({ path: 'bin/tool', type: 'File' })).toBeUndefined();
    expect(guard.check({ path: 'bin/alias', type: 'SymbolicLink', linkpath: 'tool' })).toBe(
      undefined,
    );
    expect(guard.check({ path: 'bin/hard', type: 'Link', linkpath: 'bin/tool' })).toBe(undefined);
    expect([...guard.symlinks]).toEqual([['bin/alias', 'tool']]);
  });

  it.each([
    [[{ path: '/etc/x', type: 'File' }], /absolute path/],
    [[{ path: 'a/../../x', type: 'File' }], /'\.\.'/],
    [[{ path: 'l', type: 'SymbolicLink', linkpath: '/etc' }], /absolute path/],
    [[{ path: 'a/l', type: 'SymbolicLink', linkpath: '../../x' }], /points outside/],
    [
      [
        { path: 'l', type: 'SymbolicLink', linkpath: 'sub' },
        { path: 'l/x', type: 'File' },
      ],
      /below a symbolic link/,
    ],
    [
      [
        { path: 'l', type: 'SymbolicLink', linkpath: 'sub' },
        { path: 'l/', type: 'Directory' },
      ],
      /folder entry over a symbolic link/,
    ],
    [[{ path: 'h', type: 'Link', linkpath: '../x' }], /hard link that points outside/],
    [[{ path: 'h', type: 'Link', linkpath: 'never-seen' }], /not a file of the archive/],
    [
      [
        { path: 'd/', type: 'Directory' },
        { path: 'h', type: 'Link', linkpath: 'd' },
      ],
      /not a file of the archive/,
    ],
    [[{ path: 'dev', type: 'CharacterDevice' }], /device file/],
    [[{ path: 'fifo', type: 'FIFO' }], /FIFO/],
  ])('refuses %j', (entries, reason) => {
    const guard = new ArchiveEntryGuard();
    const reasons = entries.map((entry) => guard.check(entry));
    expect(reasons.slice(0, -1)).toEqual(entries.slice(0, -1).map(() => undefined));
    expect(reasons.at(-1)).toMatch(reason);
  });
});

describe('on-disk checks', () => {
  let root: string;
  beforeAll(async () => {
    const work = await mkdtemp(join(tmpdir(), 'poncho-archive-paths-'));
    root = join(await realpath(work), 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await symlink('..', join(root, 'sub', 'up')); // the root itself: inside
    await symlink('sub/up/..', join(root, 'sneaky')); // the root's parent: outside
    await symlink('sub', join(root, 'fine'));
    await symlink('../nothing', join(root, 'sub', 'dangling'));
  });
  afterAll(async () => {
    await rm(join(root, '..'), { recursive: true, force: true });
  });

  it('finds the link that leaves through another link, and dangling links with ..', async () => {
    expect(await findEscapingSymlink(root, [['fine', 'sub']])).toBeUndefined();
    expect(await findEscapingSymlink(root, [['sub/up', '..']])).toBeUndefined();
    expect(
      await findEscapingSymlink(root, [
        ['fine', 'sub'],
        ['sneaky', 'sub/up/..'],
      ]),
    ).toEqual({ path: 'sneaky', target: 'sub/up/..' });
    expect(await findEscapingSymlink(root, [['sub/dangling', '../nothing']])).toEqual({
      path: 'sub/dangling',
      target: '../nothing',
    });
  });

  it('tells whether a (possibly missing) folder stays inside once links are resolved', async () => {
    expect(await isInsideOnDisk(root, join(root, 'fine', 'new', 'deeper'))).toBe(true);
    expect(await isInsideOnDisk(root, join(root, 'sneaky', 'new'))).toBe(false);
    expect(await isInsideOnDisk(root, join(root, 'sub', 'dangling', 'x'))).toBe(false);
  });
});
