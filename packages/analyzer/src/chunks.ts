/**
 * Splits a large source at top-level statements, so that each piece is parsed on its own and
 * memory stays bounded: tree-sitter's tree takes about 40 bytes per source byte, so a 50 MB
 * file parsed whole needs gigabytes. A light lexer finds the lines where a new top-level
 * statement starts (outside brackets, strings and backslash continuations, not an
 * `else`/`elif`/`except`/`finally`/`case` clause, not right after a decorator); pieces are cut
 * at such lines once they reach the target size. Imports are statements, so none is cut.
 */

export interface SourceChunk {
  text: string;
  /** Lines before the chunk (0-based row of its first line). */
  lineOffset: number;
}

/** Pieces of about this many characters (a few tens of MB of tree each). */
export const CHUNK_CHARS = 1 << 20;

const CONTINUATION = /^(?:else|elif|except|finally)\b/;

export function splitTopLevel(text: string, target = CHUNK_CHARS): SourceChunk[] {
  if (text.length <= target) return [{ text, lineOffset: 0 }];
  const chunks: SourceChunk[] = [];
  let chunkStart = 0;
  let chunkLine = 0;
  let line = 0;
  let depth = 0;
  let quote = ''; // the open string's quote: ', ", ''' or """
  let continued = false;
  let afterDecorator = false;
  // The last statement start seen, so that one huge statement gets a chunk of its own.
  let last = 0;
  let lastLine = 0;
  /** A statement starts at `at` (line `row`): end the chunk there once it is big enough. */
  const cut = (at: number, row: number) => {
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
  };
  const n = text.length;
  let i = 0;
  while (i < n) {
    // At the start of a line.
    if (!quote && depth === 0 && !continued) {
      const c = text.charCodeAt(i);
      const startsStatement =
        c !== 0x20 && c !== 0x09 && c !== 0x0c && c !== 0x0a && c !== 0x0d && c !== 0x23;
      if (
        startsStatement &&
        !afterDecorator &&
        !CONTINUATION.test(text.slice(i, i + 8)) &&
        !/^case\b/.test(text.slice(i, i + 5))
      ) {
        cut(i, line);
      }
    }
    if (!quote && depth === 0 && !continued) {
      const c = text.charCodeAt(i);
      if (c === 0x40 /* @ */) afterDecorator = true;
      else if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x23)
        afterDecorator = false;
    }
    continued = false;
    // Scan the rest of the line.
    for (; i < n; i++) {
      const c = text[i] as string;
      if (quote) {
        if (c === '\\') {
          if (text[i + 1] === '\n') line++;
          i++;
        } else if (c === '\n') {
          line++;
          if (quote.length === 1)
            quote = ''; // an unterminated string ends at the line
          else continue;
          i++;
          break;
        } else if (c === quote[0] && text.startsWith(quote, i)) {
          i += quote.length - 1;
          quote = '';
        }
        continue;
      }
      if (c === '\n') {
        line++;
        i++;
        break;
      }
      if (c === '#') {
        const end = text.indexOf('\n', i);
        i = (end < 0 ? n : end) - 1;
      } else if (c === '"' || c === "'") {
        quote = text.startsWith(c.repeat(3), i) ? c.repeat(3) : c;
        i += quote.length - 1;
      } else if (c === '(' || c === '[' || c === '{') depth++;
      else if ((c === ')' || c === ']' || c === '}') && depth > 0) depth--;
      else if (c === '\\' && (text[i + 1] === '\n' || text[i + 1] === '\r')) continued = true;
    }
  }
  cut(n, line);
  if (chunkStart < n) chunks.push({ text: text.slice(chunkStart), lineOffset: chunkLine });
  return chunks;
}
