/**
 * Finds the imports of one parsed Python file, each with the context that decides whether it is
 * a runtime dependency: where it is (line, enclosing function), whether it is optional (inside a
 * `try` that catches ImportError) and whether it only exists for type checkers.
 *
 * The result is plain data (JSON-serialisable): it is cached and sent between threads.
 */
import type { Node, Tree } from 'web-tree-sitter';
import type { PythonGrammar } from './parse.js';

export type ImportKind = 'import' | 'from' | 'dynamic' | 'future';

export interface FoundImport {
  /** Dotted module name without leading dots ('' for `from . import x`). */
  module: string;
  /** Number of leading dots: 0 for an absolute import. */
  level: number;
  /** For `from M import a, b`: the imported names (`*` for a wildcard); they may be submodules. */
  names: string[];
  kind: ImportKind;
  /** 1-based line of the statement or call. */
  line: number;
  /** Qualified names of the enclosing functions, outermost first (`Class.method`, `f.inner`). */
  functions: string[];
  /** Inside the body (or the handler) of a `try` that catches ImportError/ModuleNotFoundError. */
  optional: boolean;
  /** Inside `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): never executed at run time. */
  typeChecking: boolean;
}

export interface SyntaxProblem {
  line: number;
  column: number;
  /** 'error' for text tree-sitter could not parse, 'missing' for a token it had to invent. */
  kind: 'error' | 'missing';
}

export interface ExtractedImports {
  imports: FoundImport[];
  /** Qualified names of every function and method defined in the file, in source order (only
   *  listed when asked for: it costs a fifth of the scan time). */
  functions?: string[];
  syntaxErrors: SyntaxProblem[];
}

const IMPORT_ERRORS = /\b(ImportError|ModuleNotFoundError)\b/;
const TYPE_CHECKING = /^(?:(?:typing|typing_extensions|t)\.)?TYPE_CHECKING$/;
const DYNAMIC_CALLEES = new Set(['__import__', 'importlib.import_module', 'import_module']);
const MODULE_NAME = /^\.*[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$|^\.+$/;
/** Syntax problems reported per file; more are noise. */
const MAX_SYNTAX_PROBLEMS = 5;

/** Dotted name text without the spaces, comments-free continuations Python allows inside it. */
function dotted(node: Node): string {
  return node.text.replace(/[\s\\]+/g, '');
}

export interface ExtractOptions {
  /** Also list the functions defined in the file. */
  functions?: boolean;
}

export function extractImports(
  tree: Tree,
  source: string,
  grammar: PythonGrammar,
  options: ExtractOptions = {},
): ExtractedImports {
  const root = tree.rootNode;
  const imports: FoundImport[] = [];
  const functions: string[] = [];

  for (const node of importStatements(tree, grammar)) {
    switch (node.type) {
      case 'import_statement':
        for (const name of node.childrenForFieldName('name')) {
          if (!name) continue;
          const target = name.type === 'aliased_import' ? name.childForFieldName('name') : name;
          if (!target) continue;
          imports.push({
            ...context(node),
            module: dotted(target),
            level: 0,
            names: [],
            kind: 'import',
          });
        }
        break;
      case 'import_from_statement': {
        const moduleNode = node.childForFieldName('module_name');
        if (!moduleNode) break;
        let module = '';
        let level = 0;
        if (moduleNode.type === 'relative_import') {
          for (const child of moduleNode.namedChildren) {
            if (!child) continue;
            if (child.type === 'import_prefix') level = child.text.replace(/[^.]/g, '').length;
            else if (child.type === 'dotted_name') module = dotted(child);
          }
        } else {
          module = dotted(moduleNode);
        }
        const names: string[] = [];
        for (const child of node.namedChildren) {
          if (!child || child.id === moduleNode.id) continue;
          if (child.type === 'wildcard_import') names.push('*');
          else if (child.type === 'dotted_name') names.push(dotted(child));
          else if (child.type === 'aliased_import') {
            const target = child.childForFieldName('name');
            if (target) names.push(dotted(target));
          }
        }
        imports.push({ ...context(node), module, level, names, kind: 'from' });
        break;
      }
      case 'future_import_statement':
        imports.push({
          ...context(node),
          module: '__future__',
          level: 0,
          names: [],
          kind: 'future',
        });
        break;
      default:
        break;
    }
  }
  if (options.functions) {
    for (const capture of grammar.functionQuery.captures(root)) {
      if (capture.node.parent) functions.push(qualifiedName(capture.node.parent));
    }
  }

  // Only files that mention the functions pay for the (much larger) set of call matches.
  if (source.includes('__import__') || source.includes('import_module')) {
    for (const match of grammar.dynamicQuery.matches(root)) {
      const callee = match.captures.find((c) => c.name === 'callee')?.node;
      const argument = match.captures.find((c) => c.name === 'arg')?.node;
      if (!callee || !argument || !DYNAMIC_CALLEES.has(dotted(callee))) continue;
      const literal = stringLiteral(argument);
      if (literal === undefined || !MODULE_NAME.test(literal)) continue;
      const level = literal.length - literal.replace(/^\.+/, '').length;
      const call = callee.parent ?? callee;
      imports.push({
        ...context(call),
        module: literal.slice(level),
        level,
        names: [],
        kind: 'dynamic',
      });
    }
    imports.sort((a, b) => a.line - b.line);
  }

  const syntaxErrors = root.hasError ? syntaxProblems(root) : [];
  return options.functions ? { imports, functions, syntaxErrors } : { imports, syntaxErrors };
}

/**
 * The import statements of a tree, in source order. Imports are statements, so only nodes that
 * hold statements are entered: about half the cost of a query over every node.
 */
function importStatements(tree: Tree, grammar: PythonGrammar): Node[] {
  const found: Node[] = [];
  const cursor = tree.walk();
  const visit = () => {
    if (!cursor.gotoFirstChild()) return;
    do {
      const type = cursor.nodeTypeId;
      if (grammar.importTypes.has(type)) found.push(cursor.currentNode);
      else if (grammar.statementHolderTypes.has(type)) visit();
    } while (cursor.gotoNextSibling());
    cursor.gotoParent();
  };
  try {
    visit();
  } finally {
    cursor.delete();
  }
  return found;
}

/** The value of a plain string literal (no f-string, no bytes), or undefined. */
function stringLiteral(node: Node): string | undefined {
  let start = '';
  let end = '';
  for (const child of node.children) {
    if (!child) continue;
    if (child.type === 'interpolation') return undefined;
    if (child.type === 'string_start') start = child.text;
    else if (child.type === 'string_end') end = child.text;
  }
  if (!start || /[fFbB]/.test(start)) return undefined;
  return node.text.slice(start.length, node.text.length - end.length);
}

/** Walks from a statement to the module root, collecting what encloses it. */
function context(
  node: Node,
): Pick<FoundImport, 'line' | 'functions' | 'optional' | 'typeChecking'> {
  let optional = false;
  let typeChecking = false;
  const functions: string[] = [];
  let child = node;
  for (let parent = node.parent; parent; child = parent, parent = parent.parent) {
    switch (parent.type) {
      case 'function_definition':
        functions.push(qualifiedName(parent));
        break;
      case 'try_statement':
        if (child.type === 'except_clause') {
          // A fallback import in the handler of `except ImportError:` is optional too.
          if (catchesImportError(child)) optional = true;
        } else if (child.id === parent.childForFieldName('body')?.id) {
          if (
            parent.namedChildren.some((c) => c?.type === 'except_clause' && catchesImportError(c))
          ) {
            optional = true;
          }
        }
        break;
      case 'if_statement':
        if (child.id === parent.childForFieldName('consequence')?.id) {
          const condition = parent.childForFieldName('condition');
          if (condition && TYPE_CHECKING.test(dotted(condition))) typeChecking = true;
        }
        break;
      default:
        break;
    }
  }
  return {
    line: node.startPosition.row + 1,
    functions: functions.reverse(),
    optional,
    typeChecking,
  };
}

function catchesImportError(clause: Node): boolean {
  const value = clause.childForFieldName('value');
  return value !== null && IMPORT_ERRORS.test(value.text);
}

/** `Outer.method` / `f.inner` for a function or class definition node. */
function qualifiedName(definition: Node): string {
  const parts: string[] = [];
  for (let node: Node | null = definition; node; node = node.parent) {
    if (node.type === 'function_definition' || node.type === 'class_definition') {
      const name = node.childForFieldName('name');
      if (name) parts.push(name.text);
    }
  }
  return parts.reverse().join('.');
}

/** The first few ERROR / MISSING nodes, found by descending only into subtrees that have one. */
function syntaxProblems(root: Node): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const visit = (node: Node) => {
    if (problems.length >= MAX_SYNTAX_PROBLEMS) return;
    if (node.isMissing || node.type === 'ERROR') {
      problems.push({
        line: node.startPosition.row + 1,
        column: node.startPosition.column + 1,
        kind: node.isMissing ? 'missing' : 'error',
      });
      return;
    }
    for (const child of node.children) {
      if (child && (child.hasError || child.isMissing)) visit(child);
    }
  };
  visit(root);
  return problems;
}
