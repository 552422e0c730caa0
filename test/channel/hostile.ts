/**
 * Broken and malicious packages for negative tests of the installer. Every case is a small
 * `noarch: generic` package (solvable without python) in a channel of its own; the installer
 * must refuse each one with a clear error, and nothing may be written outside the prefix.
 */

import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BuiltArchive, buildPackage, type PackageDefinition } from './package-builder.js';
import { writeRepodata } from './repodata.js';

export type HostileCase =
  | 'bad-sha256'
  | 'missing-archive'
  | 'truncated-conda'
  | 'truncated-tarbz2'
  | 'dotdot-path'
  | 'dotdot-path-conda'
  | 'absolute-path'
  | 'symlink-escape'
  | 'symlink-relative-escape'
  | 'hardlink-escape'
  | 'symlink-chain-escape'
  | 'paths-sha256-mismatch';

export interface HostileCaseInfo {
  /** Package name (and match spec): each case is one package `<name> 1.0.0`. */
  name: string;
  subdir: 'noarch';
  fileName: string;
  /** What is wrong and what a correct installer does about it. */
  description: string;
}

export interface HostileChannel {
  /** Channel folder holding every hostile package (noarch + empty linux-64 repodata). */
  dir: string;
  /** A channel whose `noarch/repodata.json` is not valid JSON (`linux-64` is fine). */
  brokenRepodataDir: string;
  cases: Record<HostileCase, HostileCaseInfo>;
}

/** Paths a hostile package tries to reach; tests assert they were not created. */
export const HOSTILE_ESCAPE_TARGETS = {
  absolute: '/tmp/poncho-hostile-absolute-escape.txt',
  /** Relative to the prefix's parent folder (`<prefix>/../poncho-hostile-dotdot-escape.txt`). */
  dotdotName: 'poncho-hostile-dotdot-escape.txt',
};

function generic(
  name: string,
  formats: PackageDefinition['formats'],
  extra: Partial<PackageDefinition> = {},
): PackageDefinition {
  return {
    name,
    version: '1.0.0',
    build: 'h_hostile_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'generic',
    formats,
    payload: async (root) => {
      await mkdir(join(root, 'share', name), { recursive: true });
      await writeFile(join(root, 'share', name, 'ok.txt'), `${name}: a harmless file\n`);
    },
    ...extra,
  };
}

const DEFINITIONS: Record<HostileCase, { def: PackageDefinition; description: string }> = {
  'bad-sha256': {
    def: generic('bad-sha256', ['tar.bz2']),
    description: 'repodata sha256 (and md5) do not match the archive: refuse the download',
  },
  'missing-archive': {
    def: generic('missing-archive', ['conda']),
    description: 'listed in repodata but the archive is absent (HTTP 404 / ENOENT)',
  },
  'truncated-conda': {
    def: generic('truncated-conda', ['conda']),
    description: '.conda cut in half; repodata hashes match the cut file: extraction fails',
  },
  'truncated-tarbz2': {
    def: generic('truncated-tarbz2', ['tar.bz2']),
    description: '.tar.bz2 cut in half; repodata hashes match the cut file: extraction fails',
  },
  'dotdot-path': {
    def: generic('dotdot-path', ['tar.bz2'], {
      extraTarEntries: [
        { name: `../${HOSTILE_ESCAPE_TARGETS.dotdotName}`, type: 'file', data: 'escaped\n' },
      ],
    }),
    description: 'tar member `../<name>` escapes the extraction folder: refuse',
  },
  'dotdot-path-conda': {
    def: generic('dotdot-path-conda', ['conda'], {
      extraTarEntries: [
        {
          name: `share/../../${HOSTILE_ESCAPE_TARGETS.dotdotName}`,
          type: 'file',
          data: 'escaped\n',
        },
      ],
    }),
    description: 'member `share/../../<name>` in the pkg tar of a .conda escapes: refuse',
  },
  'absolute-path': {
    def: generic('absolute-path', ['tar.bz2'], {
      extraTarEntries: [{ name: HOSTILE_ESCAPE_TARGETS.absolute, type: 'file', data: 'escaped\n' }],
    }),
    description: 'tar member with an absolute path: refuse',
  },
  'symlink-escape': {
    def: generic('symlink-escape', ['tar.bz2'], {
      payload: async (root) => {
        await mkdir(join(root, 'share'), { recursive: true });
        await symlink('/tmp', join(root, 'share/evil-link'));
      },
      extraTarEntries: [
        {
          name: 'share/evil-link/poncho-hostile-through-link.txt',
          type: 'file',
          data: 'escaped\n',
        },
      ],
    }),
    description:
      'softlink `share/evil-link -> /tmp` (in paths.json) then a file written through it: refuse',
  },
  'symlink-relative-escape': {
    def: generic('symlink-relative-escape', ['conda'], {
      payload: async (root) => {
        await mkdir(join(root, 'share'), { recursive: true });
        await writeFile(join(root, 'share/ok.txt'), 'harmless\n');
        await symlink('../../../../../../../../etc/passwd', join(root, 'share/passwd-link'));
      },
    }),
    description:
      'softlink `share/passwd-link -> ../../../../../../../../etc/passwd` leaves the prefix: refuse',
  },
  'hardlink-escape': {
    def: generic('hardlink-escape', ['tar.bz2'], {
      extraTarEntries: [
        { name: 'share/hardlink-escape/passwd', type: 'hardlink', linkname: '/etc/passwd' },
      ],
    }),
    description: 'tar hard link to /etc/passwd: refuse',
  },
  'symlink-chain-escape': {
    def: generic('symlink-chain-escape', ['conda'], {
      payload: async (root) => {
        const dir = join(root, 'share', 'symlink-chain-escape');
        await mkdir(dir, { recursive: true });
        await symlink('../..', join(dir, 'root'));
        await symlink('symlink-chain-escape/root/..', join(root, 'share', 'out'));
      },
    }),
    description:
      'softlinks `share/symlink-chain-escape/root -> ../..` and `share/out -> symlink-chain-escape/root/..`: each inside as text, together the parent of the prefix: refuse',
  },
  'paths-sha256-mismatch': {
    def: generic('paths-sha256-mismatch', ['conda'], {
      mutatePaths: (paths) => {
        for (const entry of paths) if (entry.sha256) entry.sha256 = '0'.repeat(64);
      },
    }),
    description: 'info/paths.json sha256 of a file differs from its content: validation fails',
  },
};

function hashes(data: Buffer) {
  return {
    md5: createHash('md5').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
    size: data.length,
  };
}

/** Edits an archive after it was built, keeping or deliberately breaking its record. */
async function sabotage(kind: HostileCase, archive: BuiltArchive, channel: string): Promise<void> {
  const file = join(channel, archive.subdir, archive.fileName);
  if (kind === 'bad-sha256') {
    archive.record.sha256 = createHash('sha256').update('not this archive').digest('hex');
    archive.record.md5 = createHash('md5').update('not this archive').digest('hex');
  } else if (kind === 'missing-archive') {
    await rm(file);
  } else if (kind === 'truncated-conda' || kind === 'truncated-tarbz2') {
    await truncate(file, Math.floor(archive.record.size / 2));
    Object.assign(archive.record, hashes(await readFile(file)));
  }
}

/**
 * Writes `<parent>/hostile/` (a channel with one package per HostileCase) and
 * `<parent>/broken-repodata/` (a channel with unparsable noarch repodata). Takes about a second.
 */
export async function buildHostileChannel(parent: string): Promise<HostileChannel> {
  const dir = join(parent, 'hostile');
  const brokenRepodataDir = join(parent, 'broken-repodata');
  await rm(dir, { recursive: true, force: true });
  await rm(brokenRepodataDir, { recursive: true, force: true });
  const work = join(parent, '.hostile-work');
  await mkdir(work, { recursive: true });
  const archives: BuiltArchive[] = [];
  const cases = {} as Record<HostileCase, HostileCaseInfo>;
  for (const [kind, { def, description }] of Object.entries(DEFINITIONS) as Array<
    [HostileCase, (typeof DEFINITIONS)[HostileCase]]
  >) {
    const built = await buildPackage(def, dir, work);
    for (const archive of built) {
      await sabotage(kind, archive, dir);
      archives.push(archive);
    }
    const first = built[0];
    if (!first) throw new Error(`hostile case ${kind} built no archive`);
    cases[kind] = { name: def.name, subdir: 'noarch', fileName: first.fileName, description };
  }
  await writeRepodata(dir, archives, ['noarch', 'linux-64']);
  await rm(work, { recursive: true, force: true });

  await writeRepodata(brokenRepodataDir, [], ['linux-64']);
  await mkdir(join(brokenRepodataDir, 'noarch'), { recursive: true });
  await writeFile(
    join(brokenRepodataDir, 'noarch', 'repodata.json'),
    '{"info": {"subdir": "noarch"}, "packages": {"broken-1.0-0.tar.bz2": {"name": "broken",',
  );
  return { dir, brokenRepodataDir, cases };
}
