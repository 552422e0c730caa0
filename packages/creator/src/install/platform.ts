/** Conda platform names (subdirs) for this host and checks on user-given ones. */
import { PonchoError } from '@poncho/core/errors';

/** Every conda subdir, noarch included. */
export const KNOWN_SUBDIRS: ReadonlySet<string> = new Set([
  'linux-64',
  'linux-aarch64',
  'linux-ppc64le',
  'linux-s390x',
  'linux-armv7l',
  'linux-32',
  'osx-64',
  'osx-arm64',
  'win-64',
  'win-arm64',
  'win-32',
  'freebsd-64',
  'noarch',
]);

/** The conda subdir of the machine running this code. */
export function hostPlatform(): string {
  const os =
    process.platform === 'darwin' ? 'osx' : process.platform === 'win32' ? 'win' : process.platform;
  const arch: Record<string, string> = {
    x64: '64',
    arm64: os === 'linux' ? 'aarch64' : 'arm64',
    ppc64: 'ppc64le',
    s390x: 's390x',
    ia32: '32',
  };
  return `${os}-${arch[process.arch] ?? process.arch}`;
}

export function checkPlatform(platform: string): string {
  if (!KNOWN_SUBDIRS.has(platform) || platform === 'noarch') {
    throw new PonchoError('ERR_PLATFORM', `unknown target platform: ${platform}`, {
      hint: `Use a conda subdir such as ${[...KNOWN_SUBDIRS]
        .filter((p) => p !== 'noarch')
        .slice(0, 8)
        .join(', ')}.`,
    });
  }
  return platform;
}

/** The architecture name archspec would report for a platform (coarse, generic family). */
export function archOf(platform: string): string {
  const arch = platform.split('-')[1] ?? '';
  if (arch === '64') return 'x86_64';
  if (arch === '32') return 'x86';
  if (arch === 'aarch64') return 'aarch64';
  return arch;
}
