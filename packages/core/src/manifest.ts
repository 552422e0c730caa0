/**
 * The manifest inside a tarball: format version, platform, build prefix, and every file that
 * holds the build prefix. Written by the creator's packer, read by the runner, which relocates
 * each listed file from its `placeholder` to the directory it unpacked into.
 *
 * Stored at `.poncho/manifest.json`, relative to the prefix root (the tarball's root). One
 * validator (manifest-reader.ts, no zod: the runner reads a manifest on every cold start on
 * every worker) serves readers and tests alike.
 */
import type { ManifestData } from './manifest-reader.js';

export {
  MANIFEST_FORMAT_VERSION,
  MANIFEST_PATH,
  type ManifestData as Manifest,
  /** Parses and validates a manifest; errors are PonchoErrors naming the source and field. */
  readManifestText as parseManifest,
  readManifestText,
} from './manifest-reader.js';

export type ManifestFile = ManifestData['files'][number];
