// poncho_package_create: spec -> environment -> relocatable tarball (src/create.ts, src/pack/).
export { type Backend, type BackendChoice, selectBackend } from './backends/index.js';
export { defaultCacheDir, TarballCache } from './cache.js';
export { type CreateOptions, type CreateResult, createTarball, lockFileText } from './create.js';
// Installer (solve, download, extract, link): see src/install/ and README-install.md.
export * from './install/index.js';
export {
  type LockSpecOptions,
  lockSatisfiesSpec,
  lockSpec,
  parseMatchSpec,
  type Satisfaction,
  type SatisfyOptions,
  type SpecLock,
} from './lock-spec.js';
export { ParallelGzip, type ParallelGzipOptions } from './pack/gzip-parallel.js';
export {
  archiveFormatFor,
  PACK_MTIME,
  type PackPrefixOptions,
  type PackResult,
  packPrefix,
} from './pack/packer.js';
export { TarWriter } from './pack/tar-writer.js';
export { parseSpecText, readSpecSource, type SpecSource } from './spec-input.js';
