/**
 * A conda-like CPython 3.11 prefix made from Debian's python3.11: `bin/python3.11` (+ `python3`,
 * `python` links), `lib/python3.11/` with the standard library and `lib-dynload/`, and an empty
 * `lib/python3.11/site-packages/` that is on sys.path.
 *
 * Debian's interpreter finds its prefix from its own location (the `lib/python3.11/os.py`
 * landmark), so the copy is relocatable as is. Debian patches `site` and `sysconfig` to use
 * `dist-packages` folders; the copies in the prefix are patched back to conda's layout
 * (site-packages on sys.path, pip installing into it).
 *
 * The interpreter is statically linked with libpython and relies on these system libraries:
 * libc, libm, libz, libexpat (the executable) and, for some extension modules, libssl/libcrypto
 * (_ssl, _hashlib), libffi (_ctypes), libsqlite3, libbz2, liblzma, libuuid, libncursesw/libtinfo,
 * libreadline, libdb, libnsl/libtirpc, libcrypt. All are present on a Debian 12 machine.
 */
import { execFile } from 'node:child_process';
import {
  access,
  chmod,
  cp,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from './cache-root.js';

const run = promisify(execFile);

export const PYTHON_VERSION_SHORT = '3.11';
const DEBIAN_PACKAGES = ['python3.11-minimal', 'libpython3.11-minimal', 'libpython3.11-stdlib'];

/** Parts of the standard library a test environment never needs (keeps the package small). */
const DROPPED_TOP_LEVEL = new Set([
  'test',
  'idlelib',
  'tkinter',
  'turtledemo',
  'ensurepip',
  'config-3.11-x86_64-linux-gnu',
  'sitecustomize.py', // Debian's apport hook, a link into /etc
  'EXTERNALLY-MANAGED', // PEP 668 marker: a conda prefix is not system-managed
  'site-packages',
  'dist-packages',
]);
const DROPPED_EXTENSION = /^(_test|_xxtest|xxlimited|_ctypes_test)/;

/** Where Debian's python3.11 lives: `/` when installed, else an unpacked download. */
export interface DebianPythonRoot {
  /** Root folder holding `usr/bin/python3.11` and `usr/lib/python3.11`. */
  root: string;
  /** `sys.version` of that interpreter, for cache keys. */
  version: string;
}

let rootPromise: Promise<DebianPythonRoot> | undefined;

/** Finds Debian's python3.11, downloading and unpacking the .deb files when it is missing. */
export function findDebianPython(): Promise<DebianPythonRoot> {
  rootPromise ??= locateDebianPython();
  return rootPromise;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function isComplete(root: string): Promise<boolean> {
  const lib = join(root, 'usr/lib/python3.11');
  return (
    (await exists(join(root, 'usr/bin/python3.11'))) &&
    (await exists(join(lib, 'os.py'))) &&
    (await exists(join(lib, 'lib-dynload'))) &&
    (await exists(join(lib, 'json/__init__.py')))
  );
}

async function interpreterVersion(root: string): Promise<string> {
  const { stdout } = await run(join(root, 'usr/bin/python3.11'), [
    '-I',
    '-c',
    'import sys; print(sys.version)',
  ]);
  return stdout.trim();
}

async function locateDebianPython(): Promise<DebianPythonRoot> {
  if (await isComplete('/')) return { root: '/', version: await interpreterVersion('/') };
  const root = join(cacheRoot(), 'debian-python3.11');
  if (!(await isComplete(root))) await downloadDebianPackages(DEBIAN_PACKAGES, root);
  return { root, version: await interpreterVersion(root) };
}

/** `apt-get download` Debian packages and unpack them with `dpkg-deb -x` into `root`. */
export async function downloadDebianPackages(packages: string[], root: string): Promise<void> {
  const staging = `${root}.tmp-${process.pid}`;
  const debs = join(staging, 'debs');
  await rm(staging, { recursive: true, force: true });
  await mkdir(debs, { recursive: true });
  try {
    await run('apt-get', ['download', ...packages], { cwd: debs });
  } catch (error) {
    throw new Error(
      `'apt-get download ${packages.join(' ')}' failed (needed because they are not installed). ` +
        `Install them (apt-get install ${packages.join(' ')}) or make apt reachable.`,
      { cause: error },
    );
  }
  const tree = join(staging, 'tree');
  await mkdir(tree);
  for (const deb of await readdir(debs)) {
    if (deb.endsWith('.deb')) await run('dpkg-deb', ['-x', join(debs, deb), tree]);
  }
  await rm(root, { recursive: true, force: true });
  await rename(tree, root);
  await rm(staging, { recursive: true, force: true });
}

function keep(sourceRoot: string, path: string): boolean {
  const rel = relative(sourceRoot, path);
  if (rel === '') return true;
  const parts = rel.split(sep);
  if (parts.includes('__pycache__')) return false;
  if (parts.length === 1 && DROPPED_TOP_LEVEL.has(parts[0] ?? '')) return false;
  if (parts[0] === 'lib-dynload' && DROPPED_EXTENSION.test(parts[1] ?? '')) return false;
  if (parts[0] === 'lib2to3' && parts[1] === 'tests') return false;
  return true;
}

/** Replaces `from` by `to` in `text`, failing loudly when Debian's source changed shape. */
function patchOnce(text: string, from: string, to: string, file: string): string {
  if (!text.includes(from)) {
    throw new Error(`cannot patch ${file}: expected text not found: ${JSON.stringify(from)}`);
  }
  return text.replace(from, to);
}

const SITECUSTOMIZE = `"""Conda layout for Debian's python (poncho test channel).

Debian's site module only adds dist-packages folders; conda's python has
<prefix>/lib/python3.11/site-packages on sys.path.
"""
import os
import site
import sys


def _conda_getsitepackages(prefixes=None):
    found = []
    for prefix in prefixes if prefixes is not None else site.PREFIXES:
        path = os.path.join(prefix, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
        if prefix and path not in found:
            found.append(path)
    return found


site.getsitepackages = _conda_getsitepackages
for _path in _conda_getsitepackages():
    if os.path.isdir(_path):
        site.addsitedir(_path)
del _path
`;

/**
 * site.py: Debian only adds `lib/python3.11/site-packages` in virtual environments; conda's
 * python always has it. sysconfig.py: Debian's default install scheme is `posix_local`
 * (`<prefix>/local/lib/python3.11/dist-packages`); conda's is `posix_prefix`.
 */
async function patchStdlibForCondaLayout(stdlib: string): Promise<void> {
  const sitePath = join(stdlib, 'site.py');
  let site = await readFile(sitePath, 'utf8');
  site = patchOnce(
    site,
    '            if is_virtual_environment:\n                sitepackages.append(os.path.join(prefix, "lib",',
    '            if True:  # poncho test channel: conda layout, site-packages always\n' +
      '                sitepackages.append(os.path.join(prefix, "lib",',
    sitePath,
  );
  await writeFile(sitePath, site);
  // Python 3.11 runs a frozen copy of `site` built into the interpreter, so the patch above only
  // matters with `-X frozen_modules=off`; sitecustomize (imported by `site` at startup) does the
  // same for the frozen one.
  await writeFile(join(stdlib, 'sitecustomize.py'), SITECUSTOMIZE);

  const sysconfigPath = join(stdlib, 'sysconfig.py');
  let sysconfig = await readFile(sysconfigPath, 'utf8');
  sysconfig = patchOnce(
    sysconfig,
    "            prefix_scheme = 'posix_local'",
    "            prefix_scheme = 'posix_prefix'  # poncho test channel: conda layout",
    sysconfigPath,
  );
  await writeFile(sysconfigPath, sysconfig);
}

/**
 * Builds a conda-like python 3.11 prefix at `dest` (created; must not exist or be empty) from
 * Debian's CPython. The result runs from any folder it is moved to.
 */
export async function buildDebianPythonPrefix(dest: string): Promise<void> {
  const { root } = await findDebianPython();
  const bin = join(dest, 'bin');
  const stdlib = join(dest, 'lib', `python${PYTHON_VERSION_SHORT}`);
  await mkdir(bin, { recursive: true });
  await mkdir(join(dest, 'lib'), { recursive: true });

  await cp(join(root, 'usr/bin/python3.11'), join(bin, 'python3.11'), { preserveTimestamps: true });
  await chmod(join(bin, 'python3.11'), 0o755);
  await symlink('python3.11', join(bin, 'python3'));
  await symlink('python3.11', join(bin, 'python'));

  const sourceStdlib = join(root, 'usr/lib/python3.11');
  await cp(sourceStdlib, stdlib, {
    recursive: true,
    filter: (source) => keep(sourceStdlib, source),
    // Debian's stdlib has a few links (e.g. into /etc); copy what they point to.
    dereference: true,
    preserveTimestamps: true,
  });
  await patchStdlibForCondaLayout(stdlib);

  const sitePackages = join(stdlib, 'site-packages');
  await mkdir(sitePackages, { recursive: true });
  // conda's python ships this file too, so the folder exists in the package payload.
  await writeFile(
    join(sitePackages, 'README.txt'),
    'This directory exists so that 3rd party packages can be installed here.\n',
  );
}

/** Debian's python3-pip files: `<dir>/pip/` and `<dir>/pip-X.Y.Z.dist-info/`. */
export async function findDebianPip(): Promise<{ dir: string; version: string }> {
  let dir = '/usr/lib/python3/dist-packages';
  if (!(await exists(join(dir, 'pip/__init__.py')))) {
    const root = join(cacheRoot(), 'debian-python3-pip');
    dir = join(root, 'usr/lib/python3/dist-packages');
    if (!(await exists(join(dir, 'pip/__init__.py')))) {
      await downloadDebianPackages(['python3-pip'], root);
    }
  }
  const distInfo = (await readdir(dir)).find((name) => /^pip-[0-9.]+\.dist-info$/.test(name));
  if (!distInfo) throw new Error(`no pip-*.dist-info folder next to pip in ${dir}`);
  return { dir, version: distInfo.slice('pip-'.length, -'.dist-info'.length) };
}
