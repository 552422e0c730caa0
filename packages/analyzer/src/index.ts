/**
 * @poncho/analyzer: find a Python program's imports and write a conda environment spec.
 *
 *   const { spec, report } = await analyze(['job.py'], { pythonVersion: '3.11' });
 */

export type { AnalyzeOptions, AnalyzeResult, AnalyzeStats } from './analyze.js';
export { analyze } from './analyze.js';
export { defaultCacheDir } from './cache.js';
export { splitTopLevel } from './chunks.js';
export { declaredEncoding, decodeSource } from './encoding.js';
export type { FoundImport, ImportKind, SyntaxProblem } from './imports.js';
export type { LegacyModule } from './legacy-stdlib.js';
export { legacyModule } from './legacy-stdlib.js';
export {
  condaForgeName,
  depfinderTable,
  namespacePackages,
  PackageMapper,
  parsePackageMappings,
} from './mapping.js';
export { notebookToPython } from './notebook.js';
export type { PrefixIndex, Provider } from './prefix.js';
export { providerOf, readPrefix } from './prefix.js';
export type {
  AnalyzeReport,
  ExclusionReason,
  ReportImport,
  ReportSource,
  Resolution,
} from './report.js';
export { parseCondaSpec, parsePipRequirement } from './requirements.js';
export type { FileScan, ScanOutcome } from './scan.js';
export { MAX_STATEMENT_CHARS, scanBytes } from './scan.js';
export { isTestFile, pythonFilesBelow } from './sources.js';
export { stdlibModules, supportedPythonVersions } from './stdlib.js';
