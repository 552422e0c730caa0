/** Options of `@poncho/nx-plugin:analyze` (mirrors schema.json). */
export interface AnalyzeExecutorOptions {
  /** Project config file (poncho.json); its fields are defaults for the options below. */
  config?: string;
  /** Python files to analyze, relative to the workspace root. Default: the config's entry. */
  sources?: string[];
  /** Where to write the spec (JSON), relative to the workspace root. */
  output: string;
  toplevel?: boolean;
  function?: string;
  /** IMPORT=PACKAGE pairs, or an object. */
  pkgMapping?: Record<string, string> | string[];
  extraPackages?: string[];
  channels?: string[];
  /** A string; a number when Nx parsed `--pythonVersion=3.11` (see rawOption). */
  pythonVersion?: string | number;
  /** The command line's words as typed (filled by Nx). */
  unparsed?: string[];
}
