/**
 * Archives and package metadata are untrusted: every path they name must stay inside its
 * destination. These checks work on the archive's own (POSIX) names, before anything is written.
 */
import { posix } from 'node:path';
import { PonchoError } from '@poncho/core/errors';

/** Throws ERR_UNSAFE_PATH unless `path` is relative and has no `..` part; returns it normalised. */
export function assertSafeRelativePath(path: string, where: string): string {
  const unsafe = (why: string) =>
    new PonchoError('ERR_UNSAFE_PATH', `refusing ${where}: path "${path}" ${why}`, {
      hint: 'The package is malformed or malicious; do not use it (report it to the channel owner).',
    });
  if (path.includes('\0')) throw unsafe('contains a NUL byte');
  if (path.startsWith('/') || /^[A-Za-z]:[\\/]/.test(path)) throw unsafe('is absolute');
  const normalized = posix.normalize(path.replace(/\\/g, '/'));
  if (normalized === '..' || normalized.startsWith('../') || normalized.split('/').includes('..')) {
    throw unsafe('leads outside the destination');
  }
  if (normalized === '.' || normalized === '') throw unsafe('is empty');
  return normalized.replace(/\/$/, '');
}

/**
 * Throws ERR_UNSAFE_PATH unless the symlink at `linkPath` (relative to the root) pointing to
 * `target` resolves inside the root. Absolute targets are refused.
 */
export function assertSafeSymlink(linkPath: string, target: string, where: string): void {
  const resolved = target.startsWith('/')
    ? null
    : posix.normalize(posix.join(posix.dirname(linkPath), target));
  if (resolved === null || resolved === '..' || resolved.startsWith('../')) {
    throw new PonchoError(
      'ERR_UNSAFE_PATH',
      `refusing ${where}: symlink "${linkPath}" -> "${target}" points outside the destination`,
      {
        hint: 'The package is malformed or malicious; do not use it (report it to the channel owner).',
      },
    );
  }
}
