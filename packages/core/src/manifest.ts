/**
 * The manifest inside a tarball: format version, platform, build prefix, and every file that
 * holds the build prefix. Written by the creator's packer, read by the runner, which relocates
 * each listed file from its `placeholder` to the directory it unpacked into.
 *
 * Stored at `.poncho/manifest.json`, relative to the prefix root (the tarball's root).
 */
import { z } from 'zod';
import {
  invalidManifest,
  isPrefixRelativePath,
  MANIFEST_FORMAT_VERSION,
  MANIFEST_PATH,
  PATH_RULE,
  parseManifestJson,
} from './manifest-reader.js';

export { type ManifestData, readManifestText } from './manifest-reader.js';
export { MANIFEST_FORMAT_VERSION, MANIFEST_PATH };

/**
 * A path inside the prefix: relative, '/'-separated, no '.' or '..' segment, no empty
 * segment. The manifest comes from an untrusted tarball, so a listed file must never lead
 * the relocation outside the prefix.
 */
const PrefixRelativePath = z.string().min(1).refine(isPrefixRelativePath, { message: PATH_RULE });

export const ManifestFile = z.object({
  path: PrefixRelativePath,
  placeholder: z.string().min(1),
  mode: z.enum(['text', 'binary']),
});
export type ManifestFile = z.infer<typeof ManifestFile>;

export const Manifest = z.object({
  formatVersion: z.literal(1),
  /** conda subdir, e.g. 'linux-64'. */
  platform: z.string(),
  /** The prefix the environment was built at. */
  buildPrefix: z.string(),
  files: z.array(ManifestFile),
  /** e.g. '@poncho/creator 0.1.0'. */
  createdBy: z.string().optional(),
});
export type Manifest = z.infer<typeof Manifest>;

/**
 * Parses and validates a manifest. `source` names where the text came from (a tarball and
 * path) for the error message. Errors are PonchoErrors naming the field. (readManifestText
 * does the same without loading zod.)
 */
export function parseManifest(text: string, source: string): Manifest {
  const data = parseManifestJson(text, source);
  const result = Manifest.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw invalidManifest(
      source,
      issue ? formatPath(issue.path) : '',
      issue?.message ?? 'invalid',
      result.error,
    );
  }
  return result.data;
}

/** `['files', 3, 'mode']` -> `files[3].mode`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}
