/**
 * The manifest inside a tarball: format version, platform, build prefix, and every file that
 * holds the build prefix. Written by the creator's packer, read by the runner, which relocates
 * each listed file from its `placeholder` to the directory it unpacked into.
 *
 * Stored at `.poncho/manifest.json`, relative to the prefix root (the tarball's root).
 */
import { z } from 'zod';
import { PonchoError } from './errors.js';

export const MANIFEST_PATH = '.poncho/manifest.json';

/** The format this code reads and writes. */
export const MANIFEST_FORMAT_VERSION = 1;

/**
 * A path inside the prefix: relative, '/'-separated, no '.' or '..' segment, no empty
 * segment. The manifest comes from an untrusted tarball, so a listed file must never lead
 * the relocation outside the prefix.
 */
const PrefixRelativePath = z
  .string()
  .min(1)
  .refine(
    (path) =>
      !path.startsWith('/') &&
      !path.includes('\0') &&
      path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'),
    { message: "must be a relative path inside the environment (no leading '/', no '.' or '..')" },
  );

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
 * path) for the error message. Errors are PonchoErrors naming the field.
 */
export function parseManifest(text: string, source: string): Manifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new PonchoError(
      'ERR_MANIFEST_JSON',
      `${source}: the manifest is not valid JSON (${(error as Error).message})`,
      {
        hint: 'The environment tarball is damaged or was not made by poncho_package_create; rebuild it.',
        cause: error,
      },
    );
  }
  const version = (data as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof version === 'number' && version > MANIFEST_FORMAT_VERSION) {
    throw new PonchoError(
      'ERR_MANIFEST_VERSION',
      `${source}: manifest format ${version} is newer than this tool reads (${MANIFEST_FORMAT_VERSION})`,
      {
        hint: 'Upgrade @poncho/runner on this machine, or pack the environment with a matching poncho version.',
      },
    );
  }
  const result = Manifest.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue ? formatPath(issue.path) : '';
    throw new PonchoError(
      'ERR_MANIFEST_INVALID',
      `${source}: invalid manifest${field ? `: field ${field}` : ''}: ${issue?.message ?? 'invalid'}`,
      {
        hint: 'The environment tarball is damaged or was not made by a compatible poncho_package_create; rebuild it.',
        cause: result.error,
      },
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
