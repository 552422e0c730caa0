/**
 * One file's analysis: bytes -> decoded text -> tree -> imports. Pure (no file system), so it
 * runs the same on the main thread and in worker threads, and its result can be cached by the
 * content of the bytes.
 */
import { PonchoError } from '@poncho/core/errors';
import { countLines, importRegions, splitTopLevel } from './chunks.js';
import { decodeSource } from './encoding.js';
import { type ExtractedImports, type ExtractOptions, extractImports } from './imports.js';
import { loadPythonGrammar } from './parse.js';
import type { ScanOutcome } from './scan-outcome.js';

export type { FileScan, ScanOutcome } from './scan-outcome.js';

export async function scanBytes(
  bytes: Uint8Array,
  file: string,
  options: ExtractOptions = {},
): Promise<ScanOutcome> {
  let decoded: ReturnType<typeof decodeSource>;
  try {
    decoded = decodeSource(bytes, file);
  } catch (error) {
    if (error instanceof PonchoError) {
      return { ok: false, error: { code: error.code, message: error.message, hint: error.hint } };
    }
    throw error;
  }
  const grammar = await loadPythonGrammar();
  const merged: ExtractedImports = { imports: [], syntaxErrors: [] };
  if (options.functions) merged.functions = [];
  // Only the top-level statements that mention `import` are parsed (most of the text is not),
  // unless the whole file is asked for: its functions (--function) or all syntax (--strict).
  // Large files are parsed a group of statements at a time either way: bounded memory.
  const whole = options.functions || options.python2;
  const { regions: pieces, lineCount } = whole
    ? { regions: splitTopLevel(decoded.text), lineCount: countLines(decoded.text) }
    : importRegions(decoded.text);
  for (const chunk of pieces) {
    if (chunk.text.length > MAX_STATEMENT_CHARS) {
      // One statement this large is data (a literal), not code worth gigabytes of tree.
      merged.syntaxErrors.push({
        line: chunk.lineOffset + 1,
        column: 1,
        kind: 'too-large',
        what: `a statement of ${(chunk.text.length / 2 ** 20).toFixed(0)} MB is too large to parse (limit ${MAX_STATEMENT_CHARS / 2 ** 20} MB); imports inside it are not found`,
      });
      continue;
    }
    const tree = grammar.parser.parse(chunk.text);
    if (!tree) throw new Error(`tree-sitter returned no tree for ${file}`);
    try {
      const extracted = extractImports(tree, chunk.text, grammar, options);
      for (const found of extracted.imports) found.line += chunk.lineOffset;
      for (const problem of extracted.syntaxErrors) problem.line += chunk.lineOffset;
      merged.imports.push(...extracted.imports);
      merged.syntaxErrors.push(...extracted.syntaxErrors);
      if (extracted.functions) merged.functions?.push(...extracted.functions);
    } finally {
      tree.delete();
    }
  }
  merged.syntaxErrors = merged.syntaxErrors.slice(0, MAX_SYNTAX_PROBLEMS);
  return {
    ok: true,
    scan: { ...merged, encoding: decoded.encoding, lines: lineCount },
  };
}

/** Syntax problems reported per file (as imports.ts does per parse). */
const MAX_SYNTAX_PROBLEMS = 5;

/** A single top-level statement larger than this is not parsed (see chunks.ts). */
export const MAX_STATEMENT_CHARS = 16 * 2 ** 20;
