/**
 * The path rules for untrusted archives (environment tarballs in the runner, conda packages in
 * the creator): no entry may land, or point, outside the folder it is extracted into.
 *
 * Two layers, because text alone cannot decide everything:
 * - ArchiveEntryGuard judges each entry from its name, type and link target before anything is
 *   written (`..`, absolute paths, links leading out, entries below or over a symbolic link,
 *   hard links to anything but a file extracted before, devices and FIFOs);
 * - findEscapingSymlink checks afterwards, on disk, that every symbolic link resolves inside the
 *   root: `d -> a/..` is harmless as text but leaves the root when `a` is itself a link to `.`.
 *
 * Only node:fs and node:path: the runner loads this on every cold start.
 */
import { lstat, realpath } from 'node:fs/promises';
import { posix } from 'node:path';

/**
 * A `.` or `..` segment, or an empty one (`//`, or `/` at either end): what a normal path has
 * none of. Tested before splitting: archivers write normal paths, and a cold start of the runner
 * judges each entry of its archive (splitting each path was a sixth of what it allocated).
 */
const ODD_SEGMENT = /(^|\/)\.{0,2}(\/|$)/;

/** A `..` segment. */
const PARENT_SEGMENT = /(^|\/)\.\.(\/|$)/;

/** `a/./b/` -> `a/b`, `a/../b` -> `b`; undefined when `..` would climb above the root. */
export function normalizeArchivePath(path: string): string | undefined {
  if (!ODD_SEGMENT.test(path)) return path;
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(part);
  }
  return out.join('/');
}

/** What the guard needs of a tar entry (node-tar's ReadEntry has these fields). */
export interface ArchiveEntryInfo {
  path: string;
  /** node-tar's type names: 'File', 'Directory', 'SymbolicLink', 'Link', ... */
  type: string;
  linkpath?: string;
}

/**
 * Judges the entries of one archive, in order. `check` returns the reason an entry is refused
 * (a phrase to follow "entry 'x'"), or undefined when it may be written.
 */
export class ArchiveEntryGuard {
  private readonly files = new Set<string>();
  /** Symbolic links extracted so far: path -> target. */
  readonly symlinks = new Map<string, string>();

  check(entry: ArchiveEntryInfo): string | undefined {
    const raw = entry.path;
    if (raw.includes('\0')) return 'has a NUL byte in its path';
    if (raw.startsWith('/')) return 'has an absolute path';
    if (PARENT_SEGMENT.test(raw)) return "has a path with '..'";
    const path = normalizeArchivePath(raw) ?? '';
    if (path !== '' && this.belowSymlink(path)) return 'lies below a symbolic link';
    switch (entry.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile':
        // A file replaces a link (the writer unlinks it first, never writes through it).
        this.files.add(path);
        this.symlinks.delete(path);
        return undefined;
      case 'Directory':
      case 'GNUDumpDir':
        // mkdir would accept the existing link as the folder, and later entries "inside the
        // folder" would be written wherever the link points.
        if (this.symlinks.has(path)) return 'is a folder entry over a symbolic link';
        this.files.delete(path);
        return undefined;
      case 'SymbolicLink': {
        const target = String(entry.linkpath ?? '');
        if (target === '') return 'is a symbolic link without a target';
        if (target.includes('\0')) return 'is a symbolic link with a NUL byte in its target';
        if (target.startsWith('/')) return `is a symbolic link to an absolute path (${target})`;
        if (normalizeArchivePath(posix.join(posix.dirname(path), target)) === undefined)
          return `is a symbolic link that points outside the extraction folder (${target})`;
        this.symlinks.set(path, target);
        this.files.delete(path);
        return undefined;
      }
      case 'Link': {
        const target = String(entry.linkpath ?? '');
        const resolved =
          target.startsWith('/') || target.split('/').includes('..')
            ? undefined
            : normalizeArchivePath(target);
        if (resolved === undefined || resolved === '')
          return `is a hard link that points outside the extraction folder (${target})`;
        // Only to a regular file written before (so never through a link, never a folder).
        if (!this.files.has(resolved))
          return `is a hard link to '${target}', which is not a file of the archive`;
        this.files.add(path);
        this.symlinks.delete(path);
        return undefined;
      }
      case 'CharacterDevice':
      case 'BlockDevice':
        return 'is a device file';
      case 'FIFO':
        return 'is a FIFO';
      default:
        // Metadata entries (pax and GNU long-name headers) never reach the guard.
        return `has an unsupported type (${entry.type})`;
    }
  }

  private belowSymlink(path: string): boolean {
    if (this.symlinks.size === 0) return false;
    let at = path.indexOf('/');
    while (at >= 0) {
      if (this.symlinks.has(path.slice(0, at))) return true;
      at = path.indexOf('/', at + 1);
    }
    return false;
  }
}

/**
 * The first of `links` (path relative to `root` -> target) that, on disk, is still a symbolic
 * link and resolves outside `root`. A dangling link (or a loop) counts as escaping only when its
 * target has a `..` part: it could start pointing out once something is created.
 */
export async function findEscapingSymlink(
  root: string,
  links: Iterable<[string, string]>,
): Promise<{ path: string; target: string } | undefined> {
  let realRoot: string | undefined;
  for (const [path, target] of links) {
    const abs = posix.join(root, path);
    try {
      if (!(await lstat(abs)).isSymbolicLink()) continue; // replaced by a later entry
    } catch {
      continue;
    }
    realRoot ??= await realpath(root);
    const resolved = await realpath(abs).catch(() => undefined);
    const inside =
      resolved === undefined
        ? !target.split('/').includes('..')
        : resolved === realRoot || resolved.startsWith(`${realRoot}/`);
    if (!inside) return { path, target };
  }
  return undefined;
}

/**
 * Whether the folder `absDir` (which may not exist yet) lies inside `realRoot` once symbolic
 * links are resolved: its nearest existing ancestor is resolved on disk. For writers that put
 * files at paths checked as text, below links made by earlier packages.
 */
export async function isInsideOnDisk(realRoot: string, absDir: string): Promise<boolean> {
  let dir = absDir;
  let retried = false;
  for (;;) {
    try {
      const resolved = await realpath(dir);
      return resolved === realRoot || resolved.startsWith(`${realRoot}/`);
    } catch {
      const info = await lstat(dir).catch(() => undefined);
      // A dangling link: mkdir would fail or create its target, wherever that is.
      if (info?.isSymbolicLink()) return false;
      if (info) {
        // Created since (by a concurrent writer): resolve it again, once.
        if (retried) return false;
        retried = true;
        continue;
      }
      const parent = posix.dirname(dir);
      if (parent === dir) return false;
      dir = parent;
    }
  }
}
