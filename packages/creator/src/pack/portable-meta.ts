/**
 * conda-meta as it goes into a tarball: the same bytes wherever the build machine keeps its
 * caches. On disk, each `conda-meta/<pkg>.json` records where the package was extracted
 * (`link.source`, `extracted_package_dir`) and its archive (`package_tarball_full_path`):
 * paths of the build machine's package cache, meaningless on a worker, different between CI
 * and a laptop, and a leak of home folders. conda-pack blanks the same three fields.
 *
 * Local folder channels are recorded by their file:// URL, an absolute path of the build
 * machine. Where the spec named such a channel by a relative path (`./channel`, as pixi
 * records local channels), the tarball records it as written (the on-disk prefix keeps the
 * URL: the packer reads link.source there to find pristine files).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GeneratedFile } from './scripts.js';
import type { TreeEntry } from './walk.js';

/** A local channel's file:// URL and the text it is recorded as in the tarball. */
export interface ChannelAlias {
  url: string;
  as: string;
}

const MACHINE_FIELDS = ['extracted_package_dir', 'package_tarball_full_path'] as const;

/** The portable text of one conda-meta record (JSON), or undefined if it is not JSON. */
export function portableRecord(text: string, aliases: ChannelAlias[] = []): string | undefined {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined; // not ours to judge: packed as it is
  }
  if (!record || typeof record !== 'object' || Array.isArray(record)) return undefined;
  for (const field of MACHINE_FIELDS) if (field in record) record[field] = '';
  const link = record.link;
  if (link && typeof link === 'object' && 'source' in link) {
    (link as Record<string, unknown>).source = '';
  }
  for (const field of ['channel', 'url'] as const) {
    const value = record[field];
    if (typeof value === 'string') record[field] = aliasUrl(value, aliases);
  }
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** What conda-meta says of a file as installed, and the same of the file as packed. */
export interface PackedDigest {
  installed: { sha256: string; size: number };
  packed: { sha256: string; size: number };
}

/**
 * A portable conda-meta record that describes the files the packer rewrote to the packed
 * prefix as packed: each `sha256`, `sha256_in_prefix` and `size_in_bytes` that recorded the
 * installed bytes (which name the build folder) records the packed ones instead; values about
 * the package's own copy stay. Undefined when the record lists none of these files.
 */
export function withPackedDigests(
  text: string,
  digests: Map<string, PackedDigest>,
): string | undefined {
  let record: { paths_data?: { paths?: Array<Record<string, unknown>> } };
  try {
    record = JSON.parse(text) as typeof record;
  } catch {
    return undefined;
  }
  let changed = false;
  for (const entry of record?.paths_data?.paths ?? []) {
    const digest = typeof entry._path === 'string' ? digests.get(entry._path) : undefined;
    if (!digest) continue;
    for (const field of ['sha256', 'sha256_in_prefix'] as const) {
      if (entry[field] === digest.installed.sha256) {
        entry[field] = digest.packed.sha256;
        changed = true;
      }
    }
    if (entry.size_in_bytes === digest.installed.size) {
      entry.size_in_bytes = digest.packed.size;
      changed = true;
    }
  }
  return changed ? `${JSON.stringify(record, null, 2)}\n` : undefined;
}

/** conda-meta/history with local channel URLs as written in the spec. */
export function portableHistory(text: string, aliases: ChannelAlias[]): string {
  return text
    .split('\n')
    .map((line) =>
      line.startsWith('+') || line.startsWith('-')
        ? line[0] + aliasUrl(line.slice(1), aliases)
        : line,
    )
    .join('\n');
}

function aliasUrl(value: string, aliases: ChannelAlias[]): string {
  for (const { url, as } of aliases) {
    if (value === url || value.startsWith(`${url}/`)) return as + value.slice(url.length);
  }
  return value;
}

/** The generated replacements for the conda-meta files of `tree`. */
export async function portableCondaMeta(
  prefix: string,
  tree: TreeEntry[],
  aliases: ChannelAlias[],
): Promise<GeneratedFile[]> {
  const files: GeneratedFile[] = [];
  for (const entry of tree) {
    if (entry.type !== 'file' || !entry.path.startsWith('conda-meta/')) continue;
    const name = entry.path.slice('conda-meta/'.length);
    if (name.includes('/')) continue;
    let text: string | undefined;
    if (name.endsWith('.json')) {
      text = portableRecord(await readFile(join(prefix, entry.path), 'utf8'), aliases);
    } else if (name === 'history' && aliases.length > 0) {
      text = portableHistory(await readFile(join(prefix, entry.path), 'utf8'), aliases);
    }
    if (text !== undefined) files.push({ path: entry.path, mode: 0o644, data: Buffer.from(text) });
  }
  return files;
}
