/** The embedded conda installer: solve specs into a Lock, and build a prefix from a Lock. */
export {
  type Channel,
  DEFAULT_CHANNEL_ALIAS,
  resolveChannel,
  resolveChannels,
} from './channels.js';
export {
  createEnvironment,
  type InstallLockOptions,
  type InstallReport,
  installLock,
} from './installer.js';
export type { InstallerOptions } from './options.js';
export { archivePath, extractedPackageDir, packageStem } from './package-cache.js';
export { defaultPkgsDir, defaultRepodataDir } from './paths.js';
export { hostPlatform } from './platform.js';
export { solve } from './solve.js';
export { detectVirtualPackages, type VirtualPackage } from './virtual-packages.js';
