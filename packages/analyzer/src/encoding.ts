/**
 * Decodes Python source bytes the way the interpreter does (PEP 263): a UTF-8 BOM, or a
 * `# -*- coding: NAME -*-` comment on line 1 or 2, else UTF-8. Python 2 files often declare
 * latin-1 or cp1252; Node's TextDecoder (full ICU) covers those and the CJK codecs.
 */
import { PonchoError } from '@poncho/core/errors';

export interface DecodedSource {
  text: string;
  /** The encoding used, normalised (`utf-8`, `latin-1`, `windows-1252`...). */
  encoding: string;
}

const CODING = /^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)/;
const BLANK_OR_COMMENT = /^[ \t\f]*(?:#.*)?$/;
const UTF8_BOM = [0xef, 0xbb, 0xbf];
const WRONG_DECLARATION_HINT =
  'Fix the coding line so it names the encoding the file is really in, or convert the file to UTF-8.';

/** Python codec names that differ from the WHATWG labels TextDecoder knows. */
function decoderLabel(pythonName: string): string {
  const name = pythonName.toLowerCase().replace(/_/g, '-');
  if (/^(utf-?8|u8|utf|utf8-ucs[24]|utf-8-sig|ascii|us-ascii|646)$/.test(name)) return 'utf-8';
  if (/^(latin-?1?|iso-?8859-1|l1|iso-ir-100|8859|cp819)$/.test(name)) return 'latin-1';
  const windows = /^(?:cp|windows-)(125[0-8])$/.exec(name);
  if (windows) return `windows-${windows[1]}`;
  if (name === 'shift-jis' || name === 'sjis' || name === 's-jis') return 'shift_jis';
  if (name === 'euc-jp' || name === 'eucjp' || name === 'ujis') return 'euc-jp';
  return name;
}

/** The encoding a file declares (or implies), from its first two lines. */
export function declaredEncoding(bytes: Uint8Array): string | undefined {
  if (UTF8_BOM.every((b, i) => bytes[i] === b)) return 'utf-8';
  // Only the first two lines matter; they are ASCII in any encoding Python accepts here.
  const head = Buffer.from(bytes.subarray(0, 512))
    .toString('latin1')
    .split(/\r\n|\r|\n/, 2);
  const first = head[0] ?? '';
  const match =
    CODING.exec(first) ?? (BLANK_OR_COMMENT.test(first) ? CODING.exec(head[1] ?? '') : null);
  return match?.[1];
}

export function decodeSource(bytes: Uint8Array, file: string): DecodedSource {
  const declared = declaredEncoding(bytes);
  const label = declared === undefined ? 'utf-8' : decoderLabel(declared);
  if (label === 'latin-1') {
    // Exact ISO-8859-1 (the WHATWG "latin1" label means windows-1252).
    return { text: Buffer.from(bytes).toString('latin1'), encoding: 'latin-1' };
  }
  if (label === 'windows-1252')
    return { text: decodeWindows1252(bytes, file), encoding: 'windows-1252' };
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(label, { fatal: true });
  } catch {
    throw new PonchoError(
      'ERR_SOURCE_ENCODING',
      `${file}: unsupported source encoding "${declared}"`,
      {
        hint: 'Convert the file to UTF-8 (e.g. iconv -f OLD -t UTF-8) and fix its coding line.',
      },
    );
  }
  try {
    return { text: decoder.decode(bytes), encoding: decoder.encoding };
  } catch {
    const line = firstUndecodableLine(bytes, decoder.encoding);
    const how =
      declared === undefined
        ? 'is not valid UTF-8 and declares no encoding'
        : `is not valid ${declared}`;
    throw new PonchoError('ERR_SOURCE_ENCODING', `${file}:${line}: the file ${how}`, {
      hint:
        declared === undefined
          ? 'Add a PEP 263 coding line as line 1 or 2 (e.g. "# -*- coding: latin-1 -*-") or convert the file to UTF-8.'
          : WRONG_DECLARATION_HINT,
    });
  }
}

/** 1-based line of the first bytes that do not decode (only computed when decoding failed). */
function firstUndecodableLine(bytes: Uint8Array, encoding: string): number {
  const decoder = new TextDecoder(encoding, { fatal: true });
  let line = 1;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        decoder.decode(bytes.subarray(start, i));
      } catch {
        return line;
      }
      line++;
      start = i + 1;
    }
  }
  return 1;
}

/** Bytes 0x80-0x9F of windows-1252 (-1: undefined in Python's cp1252 codec). */
const CP1252_HIGH = [
  0x20ac, -1, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039,
  0x0152, -1, 0x017d, -1, -1, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc,
  0x2122, 0x0161, 0x203a, 0x0153, -1, 0x017e, 0x0178,
];

/**
 * Node 20's TextDecoder decodes windows-1252 as ISO-8859-1 (0x80 -> U+0080, not the euro sign),
 * so this one codec is done by hand: it is the most common declaration in old Windows scripts.
 */
function decodeWindows1252(bytes: Uint8Array, file: string): string {
  const text = Buffer.from(bytes).toString('latin1');
  if (!/[\u0080-\u009f]/.test(text)) return text;
  let line = 1;
  let out = '';
  for (const char of text) {
    const code = char.charCodeAt(0);
    if (code === 0x0a) line++;
    if (code < 0x80 || code > 0x9f) {
      out += char;
      continue;
    }
    const mapped = CP1252_HIGH[code - 0x80] ?? -1;
    if (mapped < 0) {
      throw new PonchoError(
        'ERR_SOURCE_ENCODING',
        `${file}:${line}: the file is not valid cp1252`,
        {
          hint: WRONG_DECLARATION_HINT,
        },
      );
    }
    out += String.fromCharCode(mapped);
  }
  return out;
}
