/**
 * Linking extracted packages into a prefix, by conda's rules: plain files are hard-linked from
 * the package cache (copied when that fails or `no_link` says so); files holding a prefix
 * placeholder are copied and patched (@poncho/core/relocate); softlinks are recreated and must
 * stay inside the prefix; noarch: python packages are mapped into lib/pythonX.Y/site-packages
 * and bin, and get their entry points. Every path is checked before anything is written.
 */
import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  readFile,
  readlink,
  realpath,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isInsideOnDisk } from '@poncho/core/archive-paths';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import type { LockedPackage } from '@poncho/core/lock';
import { replaceBinaryPrefix, replaceTextPrefix } from '@poncho/core/relocate';
import type { PackageMetadata, PathEntry } from './package-metadata.js';
import { mapBounded } from './pool.js';
import { assertSafeRelativePath, assertSafeSymlink } from './safe-path.js';

export interface PythonLayout {
  /** "3.11" */
  version: string;
  /** "lib/python3.11/site-packages" */
  sitePackages: string;
}

/** conda-meta's paths_data entry. */
export interface LinkedPath {
  _path: string;
  path_type: string;
  sha256?: string;
  sha256_in_prefix?: string;
  size_in_bytes?: number;
  file_mode?: 'text' | 'binary';
  prefix_placeholder?: string;
  no_link?: boolean;
}

export interface PrefixFileRecord {
  path: string;
  placeholder: string;
  mode: 'text' | 'binary';
  package: string;
  /** The pristine copy in the package cache (still holding the placeholder), absolute. */
  source: string;
}

export interface LinkedPackage {
  pkg: LockedPackage;
  sourceDir: string;
  paths: LinkedPath[];
  prefixFiles: PrefixFileRecord[];
  /** Python sources of a noarch: python package (relative to the prefix), to byte-compile. */
  pythonSources: string[];
  /** conda's LinkType: 1 = hard links were used, 3 = copies only (2 would be softlinks). */
  linkType: number;
}

interface PlannedPath {
  entry: PathEntry;
  source: string;
  target: string;
  linkTarget?: string;
}

export interface LinkPlan {
  pkg: LockedPackage;
  sourceDir: string;
  metadata: PackageMetadata;
  paths: PlannedPath[];
  entryPoints: Array<{ command: string; module: string; func: string }>;
}

/**
 * The python layout of the environment, from the python package in the lock. A python record
 * may name its own site-packages (`python_site_packages_path`, e.g. free-threaded builds'
 * `lib/python3.13t/site-packages`); conda then maps noarch: python packages there.
 */
export function pythonLayout(
  packages: LockedPackage[],
  sitePackagesPath?: string,
): PythonLayout | undefined {
  const python = packages.find((p) => p.name === 'python');
  const match = python ? /^(\d+)\.(\d+)/.exec(python.version) : null;
  if (!match) return undefined;
  const version = `${match[1]}.${match[2]}`;
  const sitePackages = sitePackagesPath
    ? assertSafeRelativePath(sitePackagesPath, `python_site_packages_path of ${python?.fileName}`)
    : `lib/python${version}/site-packages`;
  return { version, sitePackages };
}

function mapNoarchPython(path: string, python: PythonLayout): string {
  if (path.startsWith('site-packages/'))
    return `${python.sitePackages}/${path.slice('site-packages/'.length)}`;
  if (path.startsWith('python-scripts/')) return `bin/${path.slice('python-scripts/'.length)}`;
  return path;
}

const ENTRY_POINT = /^\s*([^=\s]+)\s*=\s*([\w.]+)\s*:\s*([\w.]+)\s*(?:\[.*\])?\s*$/;

/** Plans (and checks) one package's link: nothing is written. */
export async function planLink(
  pkg: LockedPackage,
  sourceDir: string,
  metadata: PackageMetadata,
  python: PythonLayout | undefined,
): Promise<LinkPlan> {
  const where = `package ${pkg.fileName}`;
  const noarchPython = metadata.noarch?.type === 'python';
  if (noarchPython && !python) {
    throw new PonchoError(
      'ERR_NOARCH_PYTHON',
      `${pkg.name} is a noarch: python package, but the environment has no python`,
      {
        hint: 'Add python to the specs.',
      },
    );
  }
  const paths: PlannedPath[] = [];
  for (const entry of metadata.paths) {
    const sourceRel = assertSafeRelativePath(entry._path, where);
    const targetRel = assertSafeRelativePath(
      noarchPython && python ? mapNoarchPython(sourceRel, python) : sourceRel,
      where,
    );
    const planned: PlannedPath = { entry, source: join(sourceDir, sourceRel), target: targetRel };
    const info = await lstat(planned.source).catch(() => null);
    if (!info && entry.path_type !== 'directory') {
      throw new PonchoError(
        'ERR_CORRUPT_ARCHIVE',
        `${where}: ${entry._path} is listed in its metadata but missing from the archive`,
        {
          hint: 'The package is broken; report it to the channel owner.',
        },
      );
    }
    if (info?.isSymbolicLink()) {
      planned.linkTarget = await readlink(planned.source);
      assertSafeSymlink(targetRel, planned.linkTarget, where);
    }
    paths.push(planned);
  }
  // A path below one of the package's own softlinks would be written wherever the link points
  // (and, linked in parallel, might race with the link's creation): refused, as in archives.
  const softlinks = new Set(paths.filter((p) => p.linkTarget !== undefined).map((p) => p.target));
  for (const { target } of paths) {
    for (let at = target.indexOf('/'); at >= 0; at = target.indexOf('/', at + 1)) {
      if (softlinks.has(target.slice(0, at))) {
        throw new PonchoError(
          'ERR_UNSAFE_PATH',
          `refusing ${where}: "${target}" lies below the package's own symlink "${target.slice(0, at)}"`,
          { hint: 'The package is malformed or malicious; do not use it.' },
        );
      }
    }
  }
  const entryPoints = (metadata.noarch?.entryPoints ?? []).map((spec) => {
    const match = ENTRY_POINT.exec(spec);
    if (!match) {
      throw new PonchoError(
        'ERR_CORRUPT_ARCHIVE',
        `${where}: invalid entry point "${spec}" in info/link.json`,
        {
          hint: 'Entry points are written "command = package.module:function".',
        },
      );
    }
    assertSafeRelativePath(`bin/${match[1]}`, where);
    if ((match[1] ?? '').includes('/'))
      throw new PonchoError(
        'ERR_UNSAFE_PATH',
        `${where}: entry point name "${match[1]}" holds a slash`,
        { hint: 'The package is malformed or malicious.' },
      );
    return { command: match[1] as string, module: match[2] as string, func: match[3] as string };
  });
  return { pkg, sourceDir, metadata, paths, entryPoints };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function replaceWith(target: string): Promise<void> {
  // Clobber whatever an earlier package put there (conda does too), never following links.
  await rm(target, { force: true, recursive: false }).catch(async (error) => {
    if (errnoCode(error) === 'EISDIR' || errnoCode(error) === 'ERR_FS_EISDIR')
      await rm(target, { recursive: true, force: true });
    else throw error;
  });
}

/** The text of an entry point script (conda's template). */
export function entryPointScript(
  prefix: string,
  python: PythonLayout,
  module: string,
  func: string,
): string {
  const interpreter = `${prefix}/bin/python${python.version}`;
  const shebang =
    `#!${interpreter}`.length > 127 || /\s/.test(interpreter)
      ? `#!/bin/sh\n'''exec' "${interpreter.replace(/["$`\\]/g, '\\$&')}" "$0" "$@" #'''`
      : `#!${interpreter}`;
  const head = func.split('.')[0] as string;
  return `${shebang}
# -*- coding: utf-8 -*-
import re
import sys
from ${module} import ${head}
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])
    sys.exit(${func}())
`;
}

/**
 * Binary files never grow: a prefix longer than a binary placeholder cannot be installed.
 * Checked before anything is written, naming the first file that cannot hold it.
 */
export function assertPrefixFits(plan: LinkPlan, prefix: string): void {
  const length = Buffer.byteLength(prefix);
  for (const { entry, target } of plan.paths) {
    if (
      entry.file_mode === 'binary' &&
      entry.prefix_placeholder &&
      Buffer.byteLength(entry.prefix_placeholder) < length
    ) {
      throw new PonchoError(
        'ERR_PREFIX_TOO_LONG',
        `the prefix ${prefix} (${length} bytes) is longer than the placeholder (${entry.prefix_placeholder.length} bytes) in the binary file ${target} of ${plan.pkg.fileName}`,
        { hint: 'Use a shorter path for the environment (binary files cannot grow).' },
      );
    }
  }
}

/** Executes a plan: writes the package's files into the prefix. */
export async function executeLink(
  plan: LinkPlan,
  prefix: string,
  python: PythonLayout | undefined,
): Promise<LinkedPackage> {
  const made = new Set<string>();
  await mkdir(prefix, { recursive: true });
  const realPrefix = await realpath(prefix);
  const ensureDir = async (dir: string) => {
    if (made.has(dir)) return;
    // The paths were checked as text; an earlier package's softlinks could still lead a folder
    // out of the prefix (`d -> a/..` with `a -> .`), so the folder is checked on disk too.
    if (!(await isInsideOnDisk(realPrefix, dir))) {
      throw new PonchoError(
        'ERR_UNSAFE_PATH',
        `refusing package ${plan.pkg.fileName}: ${dir} leads outside the prefix ${prefix} through a symlink`,
        { hint: 'A package of this environment is malformed or malicious; do not use it.' },
      );
    }
    await mkdir(dir, { recursive: true });
    made.add(dir);
  };
  let copiedOnly = true;
  const linked = await mapBounded(
    plan.paths,
    16,
    async ({ entry, source, target, linkTarget }): Promise<LinkedPath> => {
      const dest = join(prefix, target);
      const record: LinkedPath = { _path: target, path_type: entry.path_type };
      if (entry.sha256) record.sha256 = entry.sha256;
      if (entry.size_in_bytes !== undefined) record.size_in_bytes = entry.size_in_bytes;
      try {
        if (entry.path_type === 'directory' && linkTarget === undefined) {
          await ensureDir(dest);
          return record;
        }
        await ensureDir(dirname(dest));
        if (linkTarget !== undefined) {
          await replaceWith(dest);
          await symlink(linkTarget, dest);
          record.path_type = 'softlink';
          return record;
        }
        if (entry.prefix_placeholder) {
          const mode = entry.file_mode === 'binary' ? 'binary' : 'text';
          const original = await readFile(source);
          const patched =
            mode === 'binary'
              ? replaceBinaryPrefix(original, entry.prefix_placeholder, prefix)
              : replaceTextPrefix(original, entry.prefix_placeholder, prefix);
          const info = await lstat(source);
          await replaceWith(dest);
          await writeFile(dest, patched, { mode: 0o600 });
          await chmod(dest, info.mode & 0o7777);
          record.prefix_placeholder = entry.prefix_placeholder;
          record.file_mode = mode;
          record.sha256_in_prefix = sha256(patched);
          record.sha256 ??= sha256(original);
          record.size_in_bytes ??= original.length;
          return record;
        }
        await replaceWith(dest);
        if (entry.no_link) {
          record.no_link = true;
          await copyFile(source, dest);
        } else {
          try {
            await link(source, dest);
            copiedOnly = false;
          } catch (error) {
            const code = errnoCode(error);
            if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP')
              throw error;
            await copyFile(source, dest);
          }
        }
        if (entry.sha256) record.sha256_in_prefix = entry.sha256;
        return record;
      } catch (error) {
        if (error instanceof PonchoError) throw error;
        throw fileError(error, dest, `file of ${plan.pkg.fileName}`);
      }
    },
  );

  // In the package's own order (the parallel linking above finishes in any order).
  const prefixFiles: PrefixFileRecord[] = linked.flatMap((p, index) =>
    p.prefix_placeholder && p.file_mode && plan.paths[index]
      ? [
          {
            path: p._path,
            placeholder: p.prefix_placeholder,
            mode: p.file_mode,
            package: plan.pkg.name,
            source: plan.paths[index]?.source ?? '',
          },
        ]
      : [],
  );
  const pythonSources =
    plan.metadata.noarch?.type === 'python'
      ? linked
          .filter(
            (p) =>
              p.path_type === 'hardlink' &&
              p._path.endsWith('.py') &&
              python &&
              p._path.startsWith(`${python.sitePackages}/`),
          )
          .map((p) => p._path)
      : [];

  if (plan.entryPoints.length > 0 && python) {
    await ensureDir(join(prefix, 'bin'));
    for (const ep of plan.entryPoints) {
      const script = Buffer.from(entryPointScript(prefix, python, ep.module, ep.func));
      const dest = join(prefix, 'bin', ep.command);
      await replaceWith(dest);
      await writeFile(dest, script, { mode: 0o755 });
      await chmod(dest, 0o755);
      const digest = sha256(script);
      linked.push({
        _path: `bin/${ep.command}`,
        path_type: 'unix_python_entry_point',
        sha256: digest,
        sha256_in_prefix: digest,
        size_in_bytes: script.length,
      });
    }
  }
  return {
    pkg: plan.pkg,
    sourceDir: plan.sourceDir,
    paths: linked,
    prefixFiles,
    pythonSources,
    linkType: copiedOnly ? 3 : 1,
  };
}
