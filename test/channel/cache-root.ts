import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `test/.cache` of this checkout (git-ignored); `PONCHO_TEST_CACHE` overrides it. */
export function cacheRoot(): string {
  const fromEnv = process.env.PONCHO_TEST_CACHE;
  if (fromEnv) return fromEnv;
  return join(dirname(fileURLToPath(import.meta.url)), '..', '.cache');
}
