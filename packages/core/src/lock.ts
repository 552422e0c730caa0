/**
 * The lock: the exact packages a solve chose (URL, sha256, ...). Owned by the creator's
 * installer; the creator rebuilds an environment from it without solving (installLock), and it
 * is the honest cache key for a tarball (same lock, same environment).
 */
import { z } from 'zod';
import { PonchoError } from './errors.js';

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
  pip: z.array(z.string()).default([]),
});
export type Lock = z.infer<typeof Lock>;

/** Parses a lock file's text; a bad lock is a PonchoError naming the source and the field. */
export function parseLock(text: string, source: string): Lock {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PonchoError(
      'ERR_LOCK_INVALID',
      `lock file ${source} is not valid JSON: ${(error as Error).message}`,
      {
        hint: 'Regenerate the lock (solve again) or fix the file.',
        cause: error,
      },
    );
  }
  const parsed = Lock.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(root)';
    throw new PonchoError(
      'ERR_LOCK_INVALID',
      `lock file ${source}: ${where}: ${issue?.message ?? 'invalid'}`,
      {
        hint: 'Regenerate the lock (solve again) or fix the file.',
      },
    );
  }
  return parsed.data;
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
