/**
 * Splits a large source at top-level statements, so that each piece is parsed on its own and
 * memory stays bounded: tree-sitter's tree takes about 40 bytes per source byte, so a 50 MB
 * file parsed whole needs gigabytes. A light lexer finds the lines where a new top-level
 * statement starts (outside brackets, strings and backslash continuations, not an
 * `else`/`elif`/`except`/`finally`/`case` clause, not right after a decorator); pieces are cut
 * at such lines once they reach the target size. Imports are statements, so none is cut.
 *
 * The same cuts let a scan parse only the top-level statements whose text mentions `import`
 * (importRegions): imports are statements, their context (function, try, if TYPE_CHECKING)
 * lies within the top-level statement that holds them, and most of a module's text (function
 * bodies without imports) never needs a tree. Parsing is most of a cold run's time.
 */

export interface SourceChunk {
  text: string;
  /** Lines before the chunk (0-based row of its first line). */
  lineOffset: number;
}

/** Pieces of about this many characters (a few tens of MB of tree each). */
export const CHUNK_CHARS = 1 << 20;

const CONTINUATION = /^(?:else|elif|except|finally)\b/;

/** Where top-level statements start: offsets in the text and their 0-based lines. */
export interface StatementStarts {
  offsets: number[];
  lines: number[];
  /** Lines in the text (a final newline does not start another one). */
  lineCount: number;
}

/** Lines in a text (a final newline does not start another one). */
export function countLines(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x0a) count++;
  return count + (text.length > 0 && text.charCodeAt(text.length - 1) !== 0x0a ? 1 : 0);
}

/** The characters that change the lexer's state; everything else is skipped by the regex. */
const SPECIAL = /[\n#"'\\()[\]{}]/g;
/** Inside a string: its quote, a backslash or a newline. */
const IN_STRING: Record<string, RegExp> = {
  '"': /["\\\n]/g,
  "'": /['\\\n]/g,
};

export function statementStarts(text: string): StatementStarts {
  const offsets: number[] = [];
  const lines: number[] = [];
  let line = 0;
  let depth = 0;
  let continued = false;
  let afterDecorator = false;
  const n = text.length;
  let i = 0;
  lineStart: while (i < n) {
    if (depth === 0 && !continued) {
      const c = text.charCodeAt(i);
      const blank =
        c === 0x20 || c === 0x09 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x23;
      if (
        !blank &&
        !afterDecorator &&
        !CONTINUATION.test(text.slice(i, i + 9)) &&
        !(c === 0x63 /* c */ && /^case\b/.test(text.slice(i, i + 5)))
      ) {
        offsets.push(i);
        lines.push(line);
      }
      if (c === 0x40 /* @ */) afterDecorator = true;
      else if (!blank) afterDecorator = false;
    }
    continued = false;
    // The rest of the line, a special character at a time.
    for (;;) {
      SPECIAL.lastIndex = i;
      const match = SPECIAL.exec(text);
      if (!match) break lineStart;
      i = match.index;
      const c = text.charCodeAt(i);
      if (c === 0x0a) {
        line++;
        i++;
        continue lineStart;
      }
      if (c === 0x23 /* # */) {
        const end = text.indexOf('\n', i);
        if (end < 0) break lineStart;
        i = end;
      } else if (c === 0x22 || c === 0x27) {
        const q = text[i] as string;
        const triple = text.startsWith(q + q + q, i);
        const inString = IN_STRING[q] as RegExp;
        i += triple ? 3 : 1;
        for (;;) {
          inString.lastIndex = i;
          const end = inString.exec(text);
          if (!end) break lineStart;
          i = end.index + 1;
          const e = text.charCodeAt(end.index);
          if (e === 0x5c /* \\ */) {
            if (text.charCodeAt(i) === 0x0a) line++;
            i++;
          } else if (e === 0x0a) {
            line++;
            // An unterminated one-quote string ends at the line.
            if (!triple) continue lineStart;
          } else if (!triple || text.startsWith(q + q, i)) {
            if (triple) i += 2;
            break;
          }
        }
      } else if (c === 0x5c /* \\ */) {
        const next = text.charCodeAt(i + 1);
        if (next === 0x0a || next === 0x0d) continued = true;
        i++;
      } else if (c === 0x28 || c === 0x5b || c === 0x7b) {
        depth++;
        i++;
      } else {
        if (depth > 0) depth--;
        i++;
      }
    }
  }
  const lineCount = line + (n > 0 && text.charCodeAt(n - 1) !== 0x0a ? 1 : 0);
  return { offsets, lines, lineCount };
}

export function splitTopLevel(text: string, target = CHUNK_CHARS): SourceChunk[] {
  if (text.length <= target) return [{ text, lineOffset: 0 }];
  const { offsets, lines } = statementStarts(text);
  offsets.push(text.length);
  const chunks: SourceChunk[] = [];
  let chunkStart = 0;
  let chunkLine = 0;
  // The last statement start seen, so that one huge statement gets a chunk of its own.
  let last = 0;
  let lastLine = 0;
  for (const [k, at] of offsets.entries()) {
    const row = lines[k] ?? 0;
    if (at - chunkStart >= target) {
      if (last > chunkStart && at - last >= target) {
        chunks.push({ text: text.slice(chunkStart, last), lineOffset: chunkLine });
        chunkStart = last;
        chunkLine = lastLine;
      }
      chunks.push({ text: text.slice(chunkStart, at), lineOffset: chunkLine });
      chunkStart = at;
      chunkLine = row;
    }
    last = at;
    lastLine = row;
  }
  if (chunkStart < text.length)
    chunks.push({ text: text.slice(chunkStart), lineOffset: chunkLine });
  return chunks;
}

/**
 * The parts of a source that can hold imports: runs of top-level statements whose text
 * contains `import` (which `__import__` and `import_module` do too), each at most `target`
 * characters unless one statement is larger. Text before the first statement (comments, a
 * BOM) is left out with the rest.
 */
export function importRegions(
  text: string,
  target = CHUNK_CHARS,
): { regions: SourceChunk[]; lineCount: number } {
  if (text.indexOf('import') < 0) return { regions: [], lineCount: countLines(text) };
  const { offsets, lines, lineCount } = statementStarts(text);
  offsets.push(text.length);
  const regions: SourceChunk[] = [];
  let start = -1;
  let startLine = 0;
  let next = text.indexOf('import');
  for (let k = 0; k + 1 < offsets.length; k++) {
    const from = offsets[k] as number;
    const to = offsets[k + 1] as number;
    while (next >= 0 && next < from) next = text.indexOf('import', next + 6);
    const wanted = next >= 0 && next < to;
    // End the region before this statement when it is unwanted, or would make it too large
    // (so that one huge statement is a region of its own).
    if (start >= 0 && (!wanted || to - start > target) && from > start) {
      regions.push({ text: text.slice(start, from), lineOffset: startLine });
      start = -1;
    }
    if (wanted && start < 0) {
      start = from;
      startLine = lines[k] ?? 0;
    }
  }
  if (start >= 0) regions.push({ text: text.slice(start), lineOffset: startLine });
  return { regions, lineCount };
}
