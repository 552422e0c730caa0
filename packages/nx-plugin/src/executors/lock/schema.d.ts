/** Options of `@poncho/nx-plugin:lock` (mirrors schema.json). */
export interface LockExecutorOptions {
  /** The spec (JSON) to lock, relative to the workspace root. */
  spec: string;
  /** The lock file to keep, relative to the workspace root. */
  lockFile: string;
  /** Project config file (poncho.json): defaults for channels and platform. */
  config?: string;
  /** Channels to solve against; default: the config's, else the spec's. */
  channels?: string[];
  /** Conda subdir of the target machines (e.g. linux-64); default: the config's, else this machine's. */
  platform?: string;
  /** Solve again even when the lock still satisfies the spec (takes channel updates). */
  update?: boolean;
  /** Fail instead of changing the lock file. Default: true when $CI is set. */
  locked?: boolean;
  /** Use only the cached repodata; never touch the network. */
  offline?: boolean;
  /** The command line's words as typed (filled by Nx). */
  unparsed?: string[];
}
