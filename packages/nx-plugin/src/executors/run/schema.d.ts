/** Options of `@poncho/nx-plugin:run` (mirrors schema.json). */
export interface RunExecutorOptions {
  /** The environment tarball (or an unpacked environment folder), relative to the workspace root. */
  environment: string;
  /** A shell command line, run by `sh -c`. Default: the config's command (an argument vector). */
  command?: string;
  /** Arguments appended to the command, each one word. */
  args?: string[];
  /** Keep the unpacked environment in this folder and reuse it on later runs. */
  unpackTo?: string;
  /** Working folder of the command, relative to the workspace root. Default: the project root. */
  cwd?: string;
  /** Project config file (poncho.json): its "command" is the default command. */
  config?: string;
  /** Positional words of the nx command line (after --), as Nx parsed them. */
  _?: Array<string | number>;
  /** The command line's words as typed (filled by Nx). */
  unparsed?: string[];
}
