/** Options of `@poncho/nx-plugin:configuration`. */
export interface ConfigurationGeneratorSchema {
  /** The project (or plain folder) that gets a poncho.json. */
  project: string;
  entry?: string[];
  channels?: string[];
  /** A number when Nx parsed `--pythonVersion=3.11` (see raw-args.ts). */
  pythonVersion?: string | number;
  /** The command line's words as typed (filled by Nx). */
  unparsed?: string[];
  platform?: string;
  extraPackages?: string[];
  /** What run-env runs, as one string split on spaces (e.g. "python main.py"). */
  command?: string;
  skipFormat?: boolean;
}
