/** Options of `@poncho/nx-plugin:configuration`. */
export interface ConfigurationGeneratorSchema {
  /** The project that gets a poncho.json. */
  project: string;
  entry?: string[];
  channels?: string[];
  pythonVersion?: string;
  platform?: string;
  extraPackages?: string[];
  /** What run-env runs, as one string split on spaces (e.g. "python main.py"). */
  command?: string;
  skipFormat?: boolean;
}
