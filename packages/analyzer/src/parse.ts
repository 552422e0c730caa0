/**
 * Loads tree-sitter (WebAssembly build) and the Python grammar once per thread. The grammar is
 * tree-sitter-python's own `.wasm`, so no native compilation is involved.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Language, Parser, Query } from 'web-tree-sitter';

const require = createRequire(import.meta.url);

export interface PythonGrammar {
  parser: Parser;
  language: Language;
  /** Node type ids of the three import statements. */
  importTypes: ReadonlySet<number>;
  /** Node type ids of the nodes that can hold statements (blocks, compound statements, ERROR). */
  statementHolderTypes: ReadonlySet<number>;
  /** Function definitions (for --function). */
  functionQuery: Query;
  /**
   * Nodes that may be Python 2 syntax, or misplaced (`return` outside a function), which
   * tree-sitter-python accepts and CPython rejects (for --strict).
   */
  python2Query: Query;
}

const IMPORT_TYPES = ['import_statement', 'import_from_statement', 'future_import_statement'];
/** Where statements live: imports are statements, so nothing else needs to be walked. */
const STATEMENT_HOLDERS = [
  'block',
  'if_statement',
  'elif_clause',
  'else_clause',
  'for_statement',
  'while_statement',
  'try_statement',
  'except_clause',
  'except_group_clause',
  'finally_clause',
  'with_statement',
  'function_definition',
  'class_definition',
  'decorated_definition',
  'match_statement',
  'case_clause',
  'ERROR',
];
const FUNCTION_QUERY = '(function_definition name: (identifier) @def)';
const PYTHON2_QUERY = `[
  (print_statement) (exec_statement) (integer) (string_start) (comparison_operator)
  (except_clause) (raise_statement)
  (return_statement) (yield) (await) (break_statement) (continue_statement)
  (nonlocal_statement) (wildcard_import) (with_statement) (for_statement)
  (parameters) (lambda_parameters) (named_expression) (for_in_clause)
  (future_import_statement)
] @node`;

let loading: Promise<PythonGrammar> | undefined;

/** The parser of this thread (created on first use). */
export function loadPythonGrammar(): Promise<PythonGrammar> {
  loading ??= (async () => {
    // Loaded on first parse only: a run served from the cache never pays for it.
    const { Language, Parser, Query } = await import('web-tree-sitter');
    await Parser.init();
    const language = await Language.load(
      require.resolve('tree-sitter-python/tree-sitter-python.wasm'),
    );
    const parser = new Parser();
    parser.setLanguage(language);
    return {
      parser,
      language,
      importTypes: typeIds(language, IMPORT_TYPES),
      statementHolderTypes: typeIds(language, STATEMENT_HOLDERS),
      functionQuery: new Query(language, FUNCTION_QUERY),
      python2Query: new Query(language, PYTHON2_QUERY),
    };
  })();
  return loading;
}

function typeIds(language: Language, names: readonly string[]): Set<number> {
  const ids = new Set<number>();
  for (const name of names) {
    const id = language.idForNodeType(name, true);
    // Some names only exist in some grammar versions (except_group_clause).
    if (typeof id === 'number') ids.add(id);
  }
  return ids;
}

/** Versions that change what a parse yields: part of the cache key (read on every run). */
export function grammarVersions(): string {
  const version = (name: string, entry: string) =>
    (JSON.parse(readFileSync(packageJson(name, entry), 'utf8')) as { version: string }).version;
  return `web-tree-sitter@${version('web-tree-sitter', 'web-tree-sitter')},tree-sitter-python@${version('tree-sitter-python', 'tree-sitter-python/tree-sitter-python.wasm')}`;
}

/**
 * The package.json of package `name`, looked for as Node looks for packages: in the
 * node_modules folders above this module, nearest first. The first require.resolve() of a run
 * costs ~5 ms (measured in-process), which a warm run otherwise spends here; it remains the
 * fallback for other layouts, resolving `entry`, a file at the package's root (web-tree-sitter
 * does not export its package.json).
 */
function packageJson(name: string, entry: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return join(dirname(require.resolve(entry)), 'package.json');
  }
}
