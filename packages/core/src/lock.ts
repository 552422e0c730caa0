/**
 * The lock: the exact packages a solve chose (URL, sha256, ...). Owned by the creator's
 * installer; the creator rebuilds an environment from it without solving (installLock), and it
 * is the honest cache key for a tarball (same lock, same environment).
 */
import { z } from 'zod';

export const LockedPackage = z.object({
  name: z.string().min(1),
  version: z.string().min(1),
  build: z.string(),
  buildNumber: z.number().int().nonnegative(),
  /** The conda subdir the package comes from: `noarch`, `linux-64`, ... */
  subdir: z.string().min(1),
  /** The channel URL (no trailing slash, no subdir). */
  channel: z.string().min(1),
  /** The full URL of the archive. */
  url: z.string().min(1),
  /** The archive's file name: `<name>-<version>-<build>.conda` or `.tar.bz2`. */
  fileName: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  md5: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  depends: z.array(z.string()),
  constrains: z.array(z.string()).optional(),
  noarch: z.enum(['python', 'generic']).optional(),
  license: z.string().optional(),
  /** Milliseconds since the epoch, as in repodata. */
  timestamp: z.number().optional(),
});
export type LockedPackage = z.infer<typeof LockedPackage>;

export const Lock = z.object({
  lockVersion: z.literal(1),
  platform: z.string().min(1),
  channels: z.array(z.string()),
  specs: z.array(z.string()),
  packages: z.array(LockedPackage),
  /**
   * pip pins as requirement-file lines: `name==version --hash=sha256:HEX`, or
   * `name @ URL --hash=sha256:HEX` for a direct reference.
   */
  pip: z.array(z.string()).default([]),
  /**
   * The pip distributions the pip section asked for (normalised names); the others came as
   * dependencies. A rebuild gives only these pip's REQUESTED marker, as the first build did.
   */
  pipRequested: z.array(z.string()).optional(),
});
export type Lock = z.infer<typeof Lock>;

/**
 * Whether a lock's pip section is pins that a build installs as they are (no resolution, no
 * dependencies): what a build or lockSpec records (pipRequested, and the sha256 of every
 * archive). Lock files of older lock-envs hold the pip requirements as written instead (no
 * pipRequested, no hashes): installed as they are, they would miss their dependencies.
 */
export function pipIsPinned(lock: Lock): boolean {
  return (
    lock.pip.length === 0 ||
    lock.pipRequested !== undefined ||
    lock.pip.every((line) => /\s--hash=sha256:[0-9a-f]{64}\b/.test(line))
  );
}

/**
 * Serialises a lock deterministically (packages sorted by name, indent 2), so the same solve
 * always gives the same bytes and the lock can be hashed as a cache key.
 */
export function serializeLock(lock: Lock): string {
  const packages = [...lock.packages].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  return `${JSON.stringify({ ...lock, packages }, null, 2)}\n`;
}
