/**
 * The prefix string a tarball's files hold, independent of where the environment was built.
 * A build folder lives in the temporary folder ($TMPDIR/poncho-<hash>), so the files that hold
 * its path (scripts, text configuration) would make the tarball's bytes
 * depend on TMPDIR. When packing, each such file gets a fixed prefix string instead (the
 * runner relocates from whatever the manifest records, so this costs nothing at run time).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestFile } from '@poncho/core/manifest';
import { replaceTextPrefix } from '@poncho/core/relocate';

/** A file's packed content, rewritten to hold the packed prefix. */
export interface RewrittenFile {
  path: string;
  data: Buffer;
  /** The sha256 and size of the file as installed (what conda-meta records of it). */
  installed: { sha256: string; size: number };
}

/**
 * Rewrites the text files of `files` that hold `buildPrefix` to hold `packedPrefix` instead,
 * and returns their new content; `files` is updated to record the packed prefix as their
 * placeholder. Binary files keep the build prefix (recorded as their own placeholder): binary
 * replacement keeps each string's length, so their bytes would follow the build folder's path
 * length anyway, and a shorter packed prefix would only lower the length they relocate to.
 * They are rare (compiled files conda does not manage that embed their own path).
 */
export async function rewriteToPackedPrefix(
  prefix: string,
  files: ManifestFile[],
  buildPrefix: string,
  packedPrefix: string,
): Promise<RewrittenFile[]> {
  if (packedPrefix === buildPrefix) return [];
  const rewritten: RewrittenFile[] = [];
  for (const file of files) {
    // A package's own placeholder (a pristine binary) is portable already.
    if (file.placeholder !== buildPrefix || file.mode !== 'text') continue;
    const installed = await readFile(join(prefix, file.path));
    const data = replaceTextPrefix(installed, buildPrefix, packedPrefix);
    rewritten.push({
      path: file.path,
      data,
      installed: {
        sha256: createHash('sha256').update(installed).digest('hex'),
        size: installed.length,
      },
    });
    file.placeholder = packedPrefix;
  }
  return rewritten;
}
