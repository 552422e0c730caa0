/**
 * @poncho/analyzer: find a Python program's imports and write a conda environment spec.
 *
 *   const { spec, report } = await analyze(['job.py'], { pythonVersion: '3.11' });
 */

export type { AnalyzeOptions, AnalyzeResult, AnalyzeStats } from './analyze.js';
export { analyze } from './analyze.js';
export { defaultCacheDir } from './cache.js';
export { declaredEncoding, decodeSource } from './encoding.js';
export type { FoundImport, ImportKind, SyntaxProblem } from './imports.js';
export { depfinderTable, PackageMapper, parsePackageMappings } from './mapping.js';
export type { PrefixIndex, Provider } from './prefix.js';
export { readPrefix } from './prefix.js';
export type {
  AnalyzeReport,
  ExclusionReason,
  ReportImport,
  ReportSource,
  Resolution,
} from './report.js';
export type { FileScan, ScanOutcome } from './scan.js';
export { scanBytes } from './scan.js';
export { stdlibModules, supportedPythonVersions } from './stdlib.js';
