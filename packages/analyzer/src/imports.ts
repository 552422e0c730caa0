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
  /**
   * 'error' for text tree-sitter could not parse, 'missing' for a token it had to invent,
   * 'python2' for Python 2 syntax that tree-sitter-python accepts and Python 3 rejects.
   */
  kind: 'error' | 'missing' | 'python2' | 'misplaced' | 'too-large';
  /** What is wrong, when known (`print statement`). */
  what?: string;
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
  /** Also report the Python 2 syntax tree-sitter accepts (print statements...): --strict. */
  python2?: boolean;
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

  for (const node of importStatements(tree, source, grammar)) {
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

  // Only the calls at a mention of the functions are looked at (a query for such calls matches
  // every call whose first argument is a string, most of a file's calls).
  let dynamic = 0;
  for (const [start, end] of dynamicMentions(source)) {
    const found = dynamicCall(root, start, end);
    if (!found || !DYNAMIC_CALLEES.has(dotted(found.callee))) continue;
    const literal = stringLiteral(found.argument);
    if (literal === undefined || !MODULE_NAME.test(literal)) continue;
    const level = literal.length - literal.replace(/^\.+/, '').length;
    imports.push({
      ...context(found.call),
      module: literal.slice(level),
      level,
      names: [],
      kind: 'dynamic',
    });
    dynamic++;
  }
  if (dynamic > 0) imports.sort((a, b) => a.line - b.line);

  const syntaxErrors = root.hasError ? syntaxProblems(root) : [];
  if (options.python2 && syntaxErrors.length < MAX_SYNTAX_PROBLEMS) {
    syntaxErrors.push(
      ...python2Syntax(root, grammar).slice(0, MAX_SYNTAX_PROBLEMS - syntaxErrors.length),
    );
    syntaxErrors.sort((a, b) => a.line - b.line || a.column - b.column);
  }
  return options.functions ? { imports, functions, syntaxErrors } : { imports, syntaxErrors };
}

/**
 * The call `name(...)` or `something.name(...)` whose name is at [start, end), with its first
 * argument when that is a string: what the query `(call function: [(identifier) (attribute)]
 * @callee arguments: (argument_list . (string) @arg))` would match there.
 */
function dynamicCall(
  root: Node,
  start: number,
  end: number,
): { call: Node; callee: Node; argument: Node } | undefined {
  const name = root.descendantForIndex(start, end - 1);
  if (name?.type !== 'identifier' || name.startIndex !== start || name.endIndex !== end)
    return undefined;
  let callee = name;
  const parent = name.parent;
  if (parent?.type === 'attribute' && parent.childForFieldName('attribute')?.id === name.id)
    callee = parent;
  const call = callee.parent;
  if (call?.type !== 'call' || call.childForFieldName('function')?.id !== callee.id)
    return undefined;
  const argument = call.childForFieldName('arguments')?.firstNamedChild;
  return argument?.type === 'string' ? { call, callee, argument } : undefined;
}

/** Where the source mentions `__import__` or `import_module`, as [start, end) offsets. */
function dynamicMentions(source: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const word of ['__import__', 'import_module']) {
    for (let at = source.indexOf(word); at >= 0; at = source.indexOf(word, at + word.length)) {
      ranges.push([at, at + word.length]);
    }
  }
  return ranges.sort((a, b) => a[0] - b[0]); // source order, as the imports are reported
}

/**
 * The import statements of a tree, in source order. Imports are statements, so only nodes that
 * hold statements are entered: about half the cost of a query over every node. And every import
 * statement's text contains the word `import`, so a block whose text does not (most function
 * bodies) is skipped without entering it: each step of the cursor is a call into WebAssembly,
 * while the test is a binary search in the offsets of `import` in the source (which are UTF-16
 * offsets, like the tree's indices for a string input).
 */
function importStatements(tree: Tree, source: string, grammar: PythonGrammar): Node[] {
  const words: number[] = [];
  for (let at = source.indexOf('import'); at >= 0; at = source.indexOf('import', at + 6)) {
    words.push(at);
  }
  const found: Node[] = [];
  if (words.length === 0) return found;
  /** Whether some `import` starts in [start, end). */
  const mentionsImport = (start: number, end: number) => {
    let low = 0;
    let high = words.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((words[middle] as number) < start) low = middle + 1;
      else high = middle;
    }
    return low < words.length && (words[low] as number) < end;
  };
  const cursor = tree.walk();
  const visit = () => {
    if (!cursor.gotoFirstChild()) return;
    do {
      const type = cursor.nodeTypeId;
      if (grammar.importTypes.has(type)) found.push(cursor.currentNode);
      else if (
        grammar.statementHolderTypes.has(type) &&
        mentionsImport(cursor.startIndex, cursor.endIndex)
      )
        visit();
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

/** The nearest enclosing function, lambda or class definition of a node (null: the module). */
function scopeOf(node: Node): Node | null {
  for (let parent = node.parent; parent; parent = parent.parent) {
    if (
      parent.type === 'function_definition' ||
      parent.type === 'lambda' ||
      parent.type === 'class_definition'
    )
      return parent;
  }
  return null;
}

const isAsync = (node: Node | null) => !!node?.children.some((c) => c?.type === 'async');

/** Whether a break/continue is inside a loop of its own scope. */
function inLoop(node: Node): boolean {
  let child = node;
  for (let parent = node.parent; parent; child = parent, parent = parent.parent) {
    // In a loop's body; in its `else:` clause it belongs to an enclosing loop, if any.
    if (
      (parent.type === 'for_statement' || parent.type === 'while_statement') &&
      child.id === parent.childForFieldName('body')?.id
    )
      return true;
    if (parent.type === 'function_definition' || parent.type === 'class_definition') return false;
  }
  return false;
}

/**
 * What tree-sitter-python parses without an error but CPython 3 rejects, so that --strict
 * rejects it too: Python 2 syntax (the grammar keeps Python 2's print and exec statements) and
 * statements out of place (`return` or `yield` outside a function, `await` outside
 * `async def`, `break` outside a loop, `import *` inside a function...).
 */
function python2Syntax(root: Node, grammar: PythonGrammar): SyntaxProblem[] {
  const problems: SyntaxProblem[] = [];
  const add = (node: Node, what: string, kind: SyntaxProblem['kind'] = 'python2') =>
    problems.push({
      line: node.startPosition.row + 1,
      column: node.startPosition.column + 1,
      kind,
      what,
    });
  for (const { node } of grammar.python2Query.captures(root)) {
    switch (node.type) {
      case 'print_statement':
        // `print >>f, x` is also a valid Python 3 expression (a tuple); `print x` is not.
        if (!node.children.some((c) => c?.type === 'chevron'))
          add(node, 'Python 2 print statement (Python 3: print(...))');
        break;
      case 'exec_statement':
        add(node, 'Python 2 exec statement (Python 3: exec(...))');
        break;
      case 'integer':
        if (/^0+[1-9][0-9]*$/.test(node.text))
          add(node, 'Python 2 octal literal (Python 3: 0o...)');
        else if (/[lL]$/.test(node.text)) add(node, 'Python 2 long integer suffix L');
        break;
      case 'string_start':
        if (node.text.startsWith('`')) add(node, 'Python 2 backquotes (Python 3: repr(...))');
        else if (/^(?:[uU][rR]|[rR][uU])/.test(node.text)) add(node, 'Python 2 string prefix ur');
        break;
      case 'comparison_operator':
        if (node.children.some((c) => c?.type === '<>'))
          add(node, 'Python 2 operator <> (Python 3: !=)');
        break;
      case 'except_clause':
        if (
          node.childrenForFieldName('value').length > 1 &&
          node.children.some((c) => c?.type === ',')
        )
          add(node, 'Python 2 "except X, e" (Python 3: except X as e)');
        break;
      case 'raise_statement': {
        const list = node.namedChildren[0];
        if (list?.type === 'expression_list' && list.namedChildCount > 1)
          add(node, 'Python 2 "raise E, message" (Python 3: raise E(message))');
        break;
      }
      case 'return_statement':
        if (scopeOf(node)?.type !== 'function_definition')
          add(node, "'return' outside function", 'misplaced');
        break;
      case 'yield': {
        const scope = scopeOf(node)?.type;
        if (scope !== 'function_definition' && scope !== 'lambda')
          add(node, "'yield' outside function", 'misplaced');
        break;
      }
      case 'await':
        if (!isAsync(scopeOf(node))) add(node, "'await' outside async function", 'misplaced');
        break;
      case 'with_statement':
      case 'for_statement':
        if (isAsync(node) && !isAsync(scopeOf(node)))
          add(
            node,
            `'async ${node.type === 'for_statement' ? 'for' : 'with'}' outside async function`,
            'misplaced',
          );
        break;
      case 'break_statement':
      case 'continue_statement':
        if (!inLoop(node))
          add(
            node,
            `'${node.type === 'break_statement' ? 'break' : 'continue'}' outside loop`,
            'misplaced',
          );
        break;
      case 'nonlocal_statement':
        if (scopeOf(node)?.type !== 'function_definition')
          add(node, 'nonlocal declaration not allowed at module level', 'misplaced');
        break;
      case 'wildcard_import':
        if (scopeOf(node) !== null) add(node, 'import * only allowed at module level', 'misplaced');
        break;
      case 'parameters':
      case 'lambda_parameters':
        checkParameters(node, add);
        break;
      case 'future_import_statement':
        if (!futureAtStart(node))
          add(node, 'from __future__ imports must occur at the beginning of the file', 'misplaced');
        break;
      case 'named_expression':
        if (node.parent?.type === 'expression_statement')
          add(node, 'an unparenthesized := statement', 'misplaced');
        break;
      case 'for_in_clause':
        if (node.childrenForFieldName('right').length > 1)
          add(
            node,
            'a comprehension over an unparenthesized tuple (Python 2), or an unparenthesized generator argument',
            'misplaced',
          );
        break;
      default:
        break;
    }
    if (problems.length >= MAX_SYNTAX_PROBLEMS) break;
  }
  return problems;
}

/** Parameter lists CPython rejects: Python 2 tuple parameters, order, duplicates, a bare `*`. */
function checkParameters(
  node: Node,
  add: (node: Node, what: string, kind?: SyntaxProblem['kind']) => void,
): void {
  const names = new Set<string>();
  let defaults = false;
  let star = false;
  const params = node.namedChildren.filter((c): c is Node => c !== null);
  for (const [i, param] of params.entries()) {
    let name: Node | null = null;
    switch (param.type) {
      case 'tuple_pattern':
        add(param, 'Python 2 tuple parameter (Python 3: unpack in the body)');
        continue;
      case 'identifier':
      case 'typed_parameter': {
        // `*args: T` and `**kw: T` are typed parameters around a splat.
        const inner = param.type === 'typed_parameter' ? param.namedChildren[0] : null;
        if (inner?.type === 'list_splat_pattern' || inner?.type === 'dictionary_splat_pattern') {
          star = true;
          name = inner.namedChildren[0] ?? null;
          break;
        }
        if (defaults && !star)
          add(param, 'a parameter without a default follows one with a default', 'misplaced');
        name = param.type === 'identifier' ? param : (inner ?? null);
        break;
      }
      case 'default_parameter':
      case 'typed_default_parameter':
        if (!star) defaults = true;
        name = param.childForFieldName('name');
        break;
      case 'list_splat_pattern':
      case 'dictionary_splat_pattern':
        star = true;
        name = param.namedChildren[0] ?? null;
        break;
      case 'keyword_separator': {
        star = true;
        const next = params[i + 1];
        if (!next || next.type === 'dictionary_splat_pattern')
          add(param, 'named parameters must follow a bare *', 'misplaced');
        break;
      }
      default:
        break;
    }
    if (name?.type === 'identifier') {
      if (names.has(name.text)) add(name, `duplicate parameter '${name.text}'`, 'misplaced');
      names.add(name.text);
    }
  }
}

/** Whether a `from __future__ import` comes first: after a docstring and other ones only. */
function futureAtStart(node: Node): boolean {
  if (node.parent?.type !== 'module') return false;
  let first = true;
  for (let sibling = node.previousNamedSibling; sibling; sibling = sibling.previousNamedSibling) {
    if (sibling.type === 'comment' || sibling.type === 'future_import_statement') continue;
    // Only the first statement may be the docstring.
    const isDocstring =
      sibling.type === 'expression_statement' && sibling.namedChildren[0]?.type === 'string';
    if (!isDocstring || !first) return false;
    first = false;
    for (let before = sibling.previousNamedSibling; before; before = before.previousNamedSibling)
      if (before.type !== 'comment') return false;
  }
  return true;
}
