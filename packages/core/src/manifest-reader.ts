/**
 * Reading a tarball's manifest without zod: the runner reads one on every cold start on every
 * worker, and loading zod costs more there than unpacking a small environment's metadata.
 * manifest.ts re-exports this as the manifest API.
 */
import { PonchoError } from './errors.js';

export const MANIFEST_PATH = '.poncho/manifest.json';

/** The format this code reads and writes. */
export const MANIFEST_FORMAT_VERSION = 1;

export interface ManifestData {
  formatVersion: 1;
  platform: string;
  buildPrefix: string;
  files: Array<{ path: string; placeholder: string; mode: 'text' | 'binary' }>;
  createdBy?: string | undefined;
}

export const PATH_RULE =
  "must be a relative path inside the environment (no leading '/', no '.' or '..')";

/** A path inside the prefix: relative, '/'-separated, no '.', '..' or empty segment. */
export function isPrefixRelativePath(path: string): boolean {
  return (
    path.length > 0 &&
    !path.startsWith('/') &&
    !path.includes('\0') &&
    path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..')
  );
}

/** The error for a manifest that is not valid, naming the source and the field. */
export function invalidManifest(
  source: string,
  field: string,
  message: string,
  cause?: unknown,
): PonchoError {
  return new PonchoError(
    'ERR_MANIFEST_INVALID',
    `${source}: invalid manifest${field ? `: field ${field}` : ''}: ${message}`,
    {
      hint: 'The environment tarball is damaged or was not made by a compatible poncho_package_create; rebuild it.',
      cause,
    },
  );
}

export function parseManifestJson(text: string, source: string): unknown {
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
  return data;
}

/** Parses and validates a manifest; errors are PonchoErrors naming the source and field. */
export function readManifestText(text: string, source: string): ManifestData {
  const data = parseManifestJson(text, source);
  const fail = (field: string, message: string) => invalidManifest(source, field, message);
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw fail('', 'expected an object');
  const record = data as Record<string, unknown>;
  if (record.formatVersion !== 1) throw fail('formatVersion', 'expected 1');
  for (const key of ['platform', 'buildPrefix'] as const) {
    if (typeof record[key] !== 'string') throw fail(key, 'expected a string');
  }
  if (record.createdBy !== undefined && typeof record.createdBy !== 'string')
    throw fail('createdBy', 'expected a string');
  if (!Array.isArray(record.files)) throw fail('files', 'expected an array');
  const files: ManifestData['files'] = [];
  record.files.forEach((file: unknown, index) => {
    const at = `files[${index}]`;
    if (typeof file !== 'object' || file === null || Array.isArray(file))
      throw fail(at, 'expected an object');
    const { path, placeholder, mode } = file as Record<string, unknown>;
    if (typeof path !== 'string') throw fail(`${at}.path`, 'expected a string');
    if (!isPrefixRelativePath(path)) throw fail(`${at}.path`, PATH_RULE);
    if (typeof placeholder !== 'string' || placeholder.length === 0) {
      throw fail(`${at}.placeholder`, 'expected a non-empty string');
    }
    if (mode !== 'text' && mode !== 'binary')
      throw fail(`${at}.mode`, "expected 'text' or 'binary'");
    files.push({ path, placeholder, mode });
  });
  const manifest: ManifestData = {
    formatVersion: 1,
    platform: record.platform as string,
    buildPrefix: record.buildPrefix as string,
    files,
  };
  if (record.createdBy !== undefined) manifest.createdBy = record.createdBy as string;
  return manifest;
}
