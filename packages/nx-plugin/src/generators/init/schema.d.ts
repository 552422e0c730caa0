/** Options of `@poncho/nx-plugin:init`. */
export interface InitGeneratorSchema {
  analyzeTargetName?: string;
  lockTargetName?: string;
  packTargetName?: string;
  runTargetName?: string;
  skipFormat?: boolean;
}
