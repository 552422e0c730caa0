/**
 * The `--report` document: what was found where, how each import was resolved, and what was
 * left out of the spec and why. Its shape is stable (reportVersion 1); see README.md.
 */
import type { ImportKind, SyntaxProblem } from './imports.js';
import type { LegacyModule } from './legacy-stdlib.js';

export type Resolution =
  | 'future'
  | 'relative'
  | 'local'
  | 'stdlib'
  | 'mapping'
  | 'conda-prefix'
  | 'pip'
  | 'depfinder'
  | 'name'
  | 'removed-stdlib'
  | 'newer-stdlib'
  | 'python2-stdlib';

/** Why an import is not (or does not add) a dependency. */
export type ExclusionReason =
  | 'future'
  | 'local'
  | 'stdlib'
  | 'not-toplevel'
  | 'outside-function'
  | 'type-checking'
  | 'user-excluded'
  | 'optional-unresolved'
  | 'removed-stdlib'
  | 'newer-stdlib'
  | 'python2-stdlib';

export interface ReportImport {
  /** Dotted module as written, with leading dots for relative imports (`.models`). */
  module: string;
  /** Top-level name (what the spec is about); empty for `from . import x`. */
  name: string;
  /** The file (as shown in messages) and 1-based line. */
  file: string;
  line: number;
  kind: ImportKind;
  /** Qualified name of the innermost enclosing function, when inside one. */
  function?: string;
  optional: boolean;
  typeChecking: boolean;
  resolution: Resolution;
  /** The spec entry it contributes (`pyyaml`, `numpy=1.26.4=py311h...`, `pip:uproot==5.0.5`). */
  package?: string;
  /** For local modules: the file or folder it resolved to. */
  location?: string;
  excluded?: ExclusionReason;
  /** In a test file (`tests/`, `test/`, `test_*.py`, `*_test.py`, `conftest.py`). */
  testFile?: true;
  /** Its package is imported by test files only (see packages.testOnly). */
  testOnly?: true;
  /** A standard-library name of another Python (removed, newer, or Python 2's). */
  legacy?: LegacyModule;
}

export interface ReportSource {
  file: string;
  encoding: string;
  lines: number;
  /** Set for local modules followed from an import: `file:line` of the first import of it. */
  followedFrom?: string;
  syntaxErrors: SyntaxProblem[];
}

export interface AnalyzeReport {
  reportVersion: 1;
  python: { version: string; from: string };
  /** The conda environment packages were looked up in, if any. */
  prefix: string | null;
  channels: string[];
  sources: ReportSource[];
  imports: ReportImport[];
  /** The spec's entries; testOnly: those only test files need (also in conda or pip). */
  packages: { conda: string[]; pip: string[]; testOnly: string[] };
  warnings: string[];
}
