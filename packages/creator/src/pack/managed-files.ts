/**
 * Checks an existing prefix against its conda-meta before packing it, as conda-pack does
 * ("Files managed by conda were found to have been deleted/overwritten"): a file a package
 * installed that is gone, or whose size is no longer the package's (replaced by pip, edited by
 * hand), would ship an environment that conda-meta describes wrongly.
 *
 * Sizes are compared only where they must match: hard-linked files without a prefix
 * placeholder. Compiled .pyc files are not checked (Python rewrites them at will).
 */
import { PonchoError } from '@poncho/core/errors';
import type { InstalledPackage } from './inventory.js';
import type { TreeEntry } from './walk.js';

export interface ManagedFileProblems {
  /** `name-version-build` -> paths. */
  deleted: Map<string, string[]>;
  overwritten: Map<string, string[]>;
}

export function findManagedFileProblems(
  packages: InstalledPackage[],
  tree: TreeEntry[],
): ManagedFileProblems {
  const byPath = new Map(tree.map((entry) => [entry.path, entry]));
  const deleted = new Map<string, string[]>();
  const overwritten = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, path: string) => {
    const list = map.get(key);
    if (list) list.push(path);
    else map.set(key, [path]);
  };
  for (const pkg of packages) {
    const key = `${pkg.name}-${pkg.version}-${pkg.build}`;
    for (const managed of pkg.managed) {
      if (managed.type === 'directory' || managed.type === 'pyc_file') continue;
      if (managed.path.endsWith('.pyc')) continue;
      const found = byPath.get(managed.path);
      if (!found) {
        add(deleted, key, managed.path);
        continue;
      }
      if (
        managed.type === 'hardlink' &&
        !managed.placeholder &&
        managed.size !== undefined &&
        (found.type !== 'file' || found.size !== managed.size)
      ) {
        add(overwritten, key, managed.path);
      }
    }
  }
  return { deleted, overwritten };
}

/** The problems as lines for a message or warnings (at most `limit` paths per kind). */
export function describeProblems(problems: ManagedFileProblems, limit = 20): string[] {
  const lines: string[] = [];
  for (const [kind, map] of [
    ['deleted', problems.deleted],
    ['overwritten', problems.overwritten],
  ] as const) {
    const entries = [...map].flatMap(([pkg, paths]) => paths.map((path) => `${path} (${pkg})`));
    for (const line of entries.slice(0, limit)) lines.push(`${kind}: ${line}`);
    if (entries.length > limit) lines.push(`${kind}: ... and ${entries.length - limit} more`);
  }
  return lines;
}

/**
 * Refuses (or, with `ignore`, returns warnings for) a prefix whose conda-managed files were
 * deleted or overwritten.
 */
export function checkManagedFiles(
  prefix: string,
  packages: InstalledPackage[],
  tree: TreeEntry[],
  ignore: boolean,
): string[] {
  const problems = findManagedFileProblems(packages, tree);
  if (problems.deleted.size === 0 && problems.overwritten.size === 0) return [];
  const lines = describeProblems(problems);
  if (ignore) return lines.map((line) => `conda-managed file ${line}`);
  throw new PonchoError(
    'ERR_MANAGED_FILES_CHANGED',
    `files managed by conda in ${prefix} were deleted or overwritten:\n    ${lines.join('\n    ')}`,
    {
      hint:
        'Reinstall the packages named (conda install --force-reinstall NAME), or pack anyway ' +
        'with --ignore-missing-files.',
    },
  );
}
