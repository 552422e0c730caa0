/**
 * The real local conda channel the end-to-end tests use: Debian's python 3.11 and pip repackaged
 * in conda's layout plus small packages we write, each exercising one part of installing (see
 * packages.ts). Built at test time, cached in test/.cache/channel/<key>/, served over HTTP.
 */
export { buildChannel } from './build-channel.js';
export { channelCacheDir, channelCacheKey, ensureTestChannel } from './cache.js';
export { buildDebianPythonPrefix, findDebianPip, findDebianPython } from './debian-python.js';
export { extractPackage } from './extract.js';
export {
  buildHostileChannel,
  HOSTILE_ESCAPE_TARGETS,
  type HostileCase,
  type HostileCaseInfo,
  type HostileChannel,
} from './hostile.js';
export {
  type ArchiveFormat,
  type BuiltArchive,
  buildPackage,
  buildPrefixPlaceholder,
  LEGACY_PLACEHOLDER,
  type PackageDefinition,
  type PathEntry,
  type RepodataRecord,
} from './package-builder.js';
export { channelPackages, debianPythonVersion } from './packages.js';
export { CHANNEL_SUBDIRS, type Repodata, repodataFor, writeRepodata } from './repodata.js';
export {
  SERVE_MONOLITHIC,
  SERVE_PLAIN_JSON,
  type ServedChannel,
  type ServeOptions,
  serveChannel,
} from './serve.js';
export { writeCompressedRepodata, writeShards, zstdFiles } from './shards.js';
export { INSTALLABLE_SPECS } from './specs.js';
export { DEFAULT_VIRTUAL_PACKAGES, writeVirtualPackageChannel } from './virtual-packages.js';
