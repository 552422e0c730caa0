/**
 * The manifest inside a tarball: format version, platform, build prefix, and every file that
 * holds the build prefix. Written by the creator's packer, read by the runner.
 * TODO(packer/runner): define the zod schema here.
 */
export {};
