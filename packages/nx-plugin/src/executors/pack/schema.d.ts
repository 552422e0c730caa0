/** Options of `@poncho/nx-plugin:pack` (mirrors schema.json). */
export interface PackExecutorOptions {
  /** The spec (JSON) to build, relative to the workspace root (when no lockFile). */
  spec?: string;
  /** The lock file to build (no solve), relative to the workspace root. */
  lockFile?: string;
  /** Use only cached repodata and packages. */
  offline?: boolean;
  /** The command line's words as typed (filled by Nx). */
  unparsed?: string[];
  /** Where to write the tarball, relative to the workspace root. */
  output: string;
  /** Project config file (poncho.json): defaults for channels and platform. */
  config?: string;
  /** Channels to solve against; default: the config's, else the spec's. */
  channels?: string[];
  /** Conda subdir of the target machines (e.g. linux-64). */
  platform?: string;
  /** Package cache folder; default: $PONCHO_PKGS_DIR or $XDG_CACHE_HOME/poncho/pkgs. */
  pkgsDir?: string;
}
