/** The installer's public options (see /work/notes/API.md) and their resolved defaults. */
import { createLogger, type Logger } from '@poncho/core/log';
import { DEFAULT_CHANNEL_ALIAS } from './channels.js';
import { defaultPkgsDir, defaultRepodataDir } from './paths.js';
import { checkPlatform, hostPlatform } from './platform.js';

export interface InstallerOptions {
  /** Names (expanded via channelAlias), http(s)://, file:// URLs or paths, highest priority first. */
  channels: string[];
  /** Target conda subdir; default: the host's (linux-64 here). */
  platform?: string;
  /** Default https://conda.anaconda.org (or $CONDA_CHANNEL_ALIAS). */
  channelAlias?: string;
  /** Package cache; default $PONCHO_PKGS_DIR or $XDG_CACHE_HOME/poncho/pkgs. */
  pkgsDir?: string;
  /** Repodata cache; default $PONCHO_REPODATA_DIR or $XDG_CACHE_HOME/poncho/repodata. */
  cacheDir?: string;
  /** Virtual package overrides, e.g. {__glibc: '2.17'}; '' removes one. */
  virtualPackages?: Record<string, string>;
  /** Use only cached repodata and packages; never touch the network. */
  offline?: boolean;
  /** .pyc compilation of noarch python packages; default true for the host platform. */
  compile?: boolean;
  /** Parallel downloads (default 6). */
  concurrency?: number;
  /**
   * Hash every file of every cached package against its info/paths.json (default: sizes
   * always, sha256 only of files changed since extraction).
   */
  verifyCache?: boolean;
  /** Run the packages' post-link scripts (default true; skipped ones are reported). */
  linkScripts?: boolean;
  logger?: Logger;
  signal?: AbortSignal;
}

export interface ResolvedOptions {
  channels: string[];
  platform: string;
  channelAlias: string;
  pkgsDir: string;
  cacheDir: string;
  virtualPackages: Record<string, string>;
  offline: boolean;
  compile: boolean;
  concurrency: number;
  verifyCache: boolean;
  linkScripts: boolean;
  logger: Logger;
  signal: AbortSignal | undefined;
}

export function resolveOptions(options: InstallerOptions): ResolvedOptions {
  const platform = checkPlatform(options.platform ?? hostPlatform());
  return {
    channels: options.channels,
    platform,
    channelAlias: options.channelAlias ?? process.env.CONDA_CHANNEL_ALIAS ?? DEFAULT_CHANNEL_ALIAS,
    pkgsDir: options.pkgsDir ?? defaultPkgsDir(),
    cacheDir: options.cacheDir ?? defaultRepodataDir(),
    virtualPackages: options.virtualPackages ?? {},
    offline: options.offline ?? false,
    // Never run anything from an environment built for another platform.
    compile: platform === hostPlatform() && (options.compile ?? true),
    concurrency: Math.max(1, Math.floor(options.concurrency ?? 6)),
    verifyCache: options.verifyCache ?? false,
    linkScripts: options.linkScripts ?? true,
    logger: options.logger ?? createLogger({ level: 'warn' }),
    signal: options.signal,
  };
}
