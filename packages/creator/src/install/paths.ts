/** Default locations of the package cache and the repodata cache. */
import { homedir } from 'node:os';
import { join } from 'node:path';

function xdgCacheHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
}

/** $PONCHO_PKGS_DIR, else $XDG_CACHE_HOME/poncho/pkgs. */
export function defaultPkgsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PONCHO_PKGS_DIR || join(xdgCacheHome(env), 'poncho', 'pkgs');
}

/** $PONCHO_REPODATA_DIR, else $XDG_CACHE_HOME/poncho/repodata. */
export function defaultRepodataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PONCHO_REPODATA_DIR || join(xdgCacheHome(env), 'poncho', 'repodata');
}
