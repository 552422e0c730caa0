/**
 * A small conda prefix made by hand for the packer's tests, laid out the way a conda installer
 * leaves one: a package-cache folder with pristine files (255-character placeholder), the
 * installed copies patched for the build prefix, conda-meta records, plus files conda does not
 * manage (a "pip" package, a .pyc) and symlinks. bin/python is Debian's python3.11 (a symlink),
 * enough to run bin/conda-unpack.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { replaceBinaryPrefix, replaceTextPrefix } from '@poncho/core/relocate';

export const PLACEHOLDER = `/opt/conda-build/_h_env_${'placehold_'.repeat(30)}`.slice(0, 255);

export interface FakePrefix {
  prefix: string;
  pkgsDir: string;
  /** The binary file's pristine bytes. */
  pristineLib: Buffer;
}

async function put(path: string, data: string | Buffer, mode = 0o644) {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
  await chmod(path, mode);
}

export function fakeLibrary(placeholder: string): Buffer {
  return Buffer.concat([
    Buffer.from('\x7fELF-not-really'),
    Buffer.alloc(37, 1),
    Buffer.from(`${placeholder}/lib/data\0`),
    Buffer.from('RPATH=$ORIGIN\0'),
    Buffer.from(`${placeholder}/share/terminfo:${placeholder}/etc\0`),
    Buffer.alloc(100, 7),
  ]);
}

export async function makeFakePrefix(root: string, prefix: string): Promise<FakePrefix> {
  const pkgsDir = join(root, 'pkgs');
  const source = join(pkgsDir, 'mylib-1.0-h0_0');
  const pristineLib = fakeLibrary(PLACEHOLDER);
  const pristineTool = Buffer.from(
    `#!${PLACEHOLDER}/bin/python3.11\nimport sys\nprint("${PLACEHOLDER}/share", sys.argv[1:])\n`,
  );
  await put(join(source, 'lib/libmylib.so'), pristineLib, 0o755);
  await put(join(source, 'bin/mytool'), pristineTool, 0o755);
  await put(join(source, 'share/mylib/readme.txt'), 'plain file\n');

  await put(
    join(prefix, 'lib/libmylib.so'),
    replaceBinaryPrefix(pristineLib, PLACEHOLDER, prefix),
    0o755,
  );
  await put(
    join(prefix, 'bin/mytool'),
    replaceTextPrefix(pristineTool, PLACEHOLDER, prefix),
    0o755,
  );
  await put(join(prefix, 'share/mylib/readme.txt'), 'plain file\n');
  await mkdir(join(prefix, 'share/empty-dir'), { recursive: true });
  await symlink('/usr/bin/python3.11', join(prefix, 'bin/python3.11'));
  await symlink('python3.11', join(prefix, 'bin/python'));
  // An absolute link into the prefix: must become relative in the tarball.
  await symlink(join(prefix, 'lib/libmylib.so'), join(prefix, 'lib/libmylib.so.1'));

  // A package installed by "pip": conda does not know it; one file holds the prefix.
  const site = join(prefix, 'lib/python3.11/site-packages/pipped');
  await put(join(site, '__init__.py'), `DATA = "${prefix}/share/pipped"\n`);
  await put(join(site, 'plain.py'), 'X = 1\n');
  execFileSync('/usr/bin/python3.11', ['-m', 'py_compile', join(site, 'plain.py')]);
  // A long name (> 100 bytes) to exercise ustar's prefix field and PAX.
  await put(join(prefix, 'share', 'n'.repeat(120), 'm'.repeat(120)), 'deep\n');

  const record = {
    name: 'mylib',
    version: '1.0',
    build: 'h0_0',
    build_number: 0,
    channel: 'https://example.invalid/test',
    url: 'https://example.invalid/test/linux-64/mylib-1.0-h0_0.conda',
    subdir: 'linux-64',
    depends: [],
    files: ['bin/mytool', 'lib/libmylib.so', 'share/mylib/readme.txt'],
    paths_data: {
      paths_version: 1,
      paths: [
        {
          _path: 'bin/mytool',
          path_type: 'hardlink',
          prefix_placeholder: PLACEHOLDER,
          file_mode: 'text',
        },
        {
          _path: 'lib/libmylib.so',
          path_type: 'hardlink',
          prefix_placeholder: PLACEHOLDER,
          file_mode: 'binary',
        },
        { _path: 'share/mylib/readme.txt', path_type: 'hardlink' },
      ],
    },
    link: { source, type: 1 },
  };
  await put(join(prefix, 'conda-meta/mylib-1.0-h0_0.json'), `${JSON.stringify(record, null, 2)}\n`);
  // Some time stamps differ between two builds of the same thing.
  await utimes(join(prefix, 'share/mylib/readme.txt'), new Date(), new Date());
  return { prefix, pkgsDir, pristineLib };
}
