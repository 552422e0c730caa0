/**
 * A spec's conda part solved into a lock, the one way a build (createTarball), a dry run and
 * lockSpec all solve a spec, so that they name the same packages in the same order. The solver
 * is loaded only when needed.
 */
import type { Lock } from '@poncho/core/lock';
import { condaDependencies, type Spec } from '@poncho/core/spec';
import type { InstallerOptions } from './install/index.js';
import { hostPlatform } from './install/platform.js';

/** Packages in name order, so the install order (conda-meta/history) does not depend on the solver. */
export function canonicalLock(lock: Lock): Lock {
  return {
    ...lock,
    packages: [...lock.packages].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  };
}

/** Solves the spec's conda dependencies on `options.channels` (default: the spec's). */
export async function solveSpec(
  spec: Spec,
  options: Omit<InstallerOptions, 'channels'> & { channels?: string[] },
): Promise<Lock> {
  const { solve } = await import('./install/index.js');
  const specs = condaDependencies(spec);
  const channels = options.channels?.length ? options.channels : spec.conda.channels;
  const platform = options.platform ?? hostPlatform();
  options.logger?.info(`solving ${specs.length} spec(s) on ${channels.join(', ')} for ${platform}`);
  return canonicalLock(await solve(specs, { ...options, channels, platform }));
}
