/**
 * One file's analysis: bytes -> decoded text -> tree -> imports. Pure (no file system), so it
 * runs the same on the main thread and in worker threads, and its result can be cached by the
 * content of the bytes.
 */
import { PonchoError } from '@poncho/core/errors';
import { decodeSource } from './encoding.js';
import { type ExtractOptions, extractImports } from './imports.js';
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
  const tree = grammar.parser.parse(decoded.text);
  if (!tree) throw new Error(`tree-sitter returned no tree for ${file}`);
  try {
    const extracted = extractImports(tree, decoded.text, grammar, options);
    return {
      ok: true,
      scan: {
        ...extracted,
        encoding: decoded.encoding,
        lines: lineCount(tree.rootNode.endPosition),
      },
    };
  } finally {
    tree.delete();
  }
}

/** Lines of a file whose end is at `end` (a final newline does not start another line). */
function lineCount(end: { row: number; column: number }): number {
  return end.row + (end.column > 0 ? 1 : 0);
}
