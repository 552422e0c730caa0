/**
 * Prefix relocation rules (text and binary placeholder replacement), used by the creator's
 * linker and by the runner. Kept free of heavy dependencies because every worker loads it.
 *
 * The rules are conda's (see conda-format.md, "Linking a package into a prefix"):
 * - text mode replaces every occurrence, then fixes a shebang that the new prefix made too long
 *   for the kernel (127 characters on Linux) or ambiguous (a space in the interpreter path);
 * - binary mode replaces inside C strings only and pads with NULs, so the file keeps its length
 *   and every offset in an ELF file stays valid.
 */
import { chmodSync, lstatSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileError, PonchoError } from './errors.js';
import { tempSibling } from './fs.js';

export type PrefixFileMode = 'text' | 'binary';

export interface PrefixFile {
  /** Path relative to the prefix root. */
  path: string;
  placeholder: string;
  mode: PrefixFileMode;
}

/** Longest `#!` line (without its newline) that conda trusts Linux to honour. */
export const MAX_SHEBANG_LENGTH = 127;

const NUL = 0;
const NEWLINE = 0x0a;

/** Replaces every occurrence of `search` in `data`; returns `data` itself when there is none. */
function replaceAll(data: Buffer, search: Buffer, replacement: Buffer): Buffer {
  let at = data.indexOf(search);
  if (at < 0) return data;
  const parts: Buffer[] = [];
  let from = 0;
  while (at >= 0) {
    parts.push(data.subarray(from, at), replacement);
    from = at + search.length;
    at = data.indexOf(search, from);
  }
  parts.push(data.subarray(from));
  return Buffer.concat(parts);
}

function assertPlaceholder(placeholder: string): void {
  if (placeholder.length === 0) {
    throw new PonchoError('ERR_PLACEHOLDER_EMPTY', 'the prefix placeholder is empty', {
      hint: 'The manifest (or package) lists a prefix file without a placeholder; rebuild it.',
    });
  }
}

/**
 * Text mode: replace every occurrence; then the shebang rule (first line `#!...` longer than
 * 127 chars or holding a space after replacement -> `#!/bin/sh` + exec trick for python
 * interpreters, `#!/usr/bin/env <basename>` otherwise).
 */
export function replaceTextPrefix(data: Buffer, placeholder: string, prefix: string): Buffer {
  assertPlaceholder(placeholder);
  const replaced = replaceAll(data, Buffer.from(placeholder), Buffer.from(prefix));
  if (replaced === data) return data;
  return fixShebang(data, replaced, placeholder, prefix);
}

/** Interpreters that understand the `'''exec'` trick (the line is a Python string). */
const PYTHON_INTERPRETER = /^(python|pypy)[0-9.]*$/;

/**
 * Applies the shebang rule to `replaced` when the original first line was a shebang that held
 * the placeholder. The interpreter is taken from the original line (a placeholder holds no
 * space), so a prefix with spaces is still split at the right place.
 */
function fixShebang(
  original: Buffer,
  replaced: Buffer,
  placeholder: string,
  prefix: string,
): Buffer {
  if (original[0] !== 0x23 || original[1] !== 0x21) return replaced; // "#!"
  const originalEnd = original.indexOf(NEWLINE);
  const originalLine = original
    .subarray(0, originalEnd < 0 ? original.length : originalEnd)
    .toString('utf8');
  if (!originalLine.includes(placeholder)) return replaced;
  const match = /^#!\s*(\S+)(.*?)(\r?)$/.exec(originalLine);
  if (!match) return replaced;
  const interpreter = (match[1] ?? '').replaceAll(placeholder, prefix);
  const args = (match[2] ?? '').replaceAll(placeholder, prefix).trim();
  const carriageReturn = match[3] ?? '';

  const replacedEnd = replaced.indexOf(NEWLINE);
  const newLine = replaced.subarray(0, replacedEnd < 0 ? replaced.length : replacedEnd);
  const lineLength = newLine.length - carriageReturn.length;
  if (lineLength <= MAX_SHEBANG_LENGTH && !/\s/.test(interpreter)) return replaced;

  const name = interpreter.slice(interpreter.lastIndexOf('/') + 1);
  const argsPart = args ? ` ${args}` : '';
  const header = PYTHON_INTERPRETER.test(name)
    ? `#!/bin/sh${carriageReturn}\n'''exec' "${escapeDoubleQuoted(interpreter)}"${argsPart} "$0" "$@" #'''`
    : `#!/usr/bin/env ${name}${argsPart}`;
  const rest =
    replacedEnd < 0 ? Buffer.alloc(0) : replaced.subarray(replacedEnd - carriageReturn.length);
  return Buffer.concat([Buffer.from(header), rest]);
}

/** Quotes for the inside of a POSIX shell double-quoted string. */
function escapeDoubleQuoted(text: string): string {
  return text.replace(/["$`\\]/g, '\\$&');
}

/**
 * Binary mode: C-string-aware replacement, same length, NUL padded; a prefix longer than the
 * placeholder throws PonchoError('ERR_PREFIX_TOO_LONG', ...).
 *
 * Each C string that starts with the placeholder runs to the next NUL (or the end of the data);
 * every occurrence inside it is replaced and the string is padded with NULs to its old length.
 */
export function replaceBinaryPrefix(data: Buffer, placeholder: string, prefix: string): Buffer {
  assertPlaceholder(placeholder);
  const search = Buffer.from(placeholder);
  const replacement = Buffer.from(prefix);
  if (replacement.length > search.length) {
    throw new PonchoError(
      'ERR_PREFIX_TOO_LONG',
      `the prefix ${prefix} (${replacement.length} bytes) is longer than the placeholder it replaces in binary files (${search.length} bytes)`,
      { hint: 'Use a shorter directory (for example under /tmp) for the environment.' },
    );
  }
  let at = data.indexOf(search);
  if (at < 0) return data;
  const out = Buffer.from(data); // a copy: the input stays untouched
  while (at >= 0) {
    let end = data.indexOf(NUL, at);
    if (end < 0) end = data.length;
    const cString = data.subarray(at, end);
    const patched = replaceAll(cString, search, replacement);
    patched.copy(out, at);
    out.fill(NUL, at + patched.length, end);
    at = data.indexOf(search, end);
  }
  return out;
}

/** Rewrites one file in place (temp + rename, keeps the file mode). Returns true if changed. */
export async function relocateFile(
  absPath: string,
  file: Omit<PrefixFile, 'path'>,
  prefix: string,
): Promise<boolean> {
  return relocateFileSync(absPath, file, prefix);
}

/**
 * relocateFile with synchronous calls: the runner relocates right after unpacking, on a cold
 * start's critical path, where each asynchronous call costs a trip through the threadpool.
 */
export function relocateFileSync(
  absPath: string,
  file: Omit<PrefixFile, 'path'>,
  prefix: string,
): boolean {
  let info: ReturnType<typeof lstatSync>;
  let data: Buffer;
  try {
    info = lstatSync(absPath);
    if (!info.isFile()) {
      throw new PonchoError(
        'ERR_RELOCATE_NOT_A_FILE',
        `cannot relocate ${absPath}: not a regular file`,
        {
          hint: 'The list of prefix files names a symlink, folder or device; rebuild the environment.',
        },
      );
    }
    data = readFileSync(absPath);
  } catch (error) {
    if (error instanceof PonchoError) throw error;
    throw fileError(error, absPath, 'file to relocate');
  }
  const patched =
    file.mode === 'binary'
      ? replaceBinaryPrefix(data, file.placeholder, prefix)
      : replaceTextPrefix(data, file.placeholder, prefix);
  if (patched === data) return false;
  // A new file renamed over the old one: the old inode may be running (ETXTBSY on write) or
  // hard-linked from a package cache that must stay pristine.
  const temp = tempSibling(absPath);
  try {
    writeFileSync(temp, patched, { mode: 0o600 });
    chmodSync(temp, info.mode & 0o7777); // exact mode, whatever the umask
    renameSync(temp, absPath);
  } catch (error) {
    rmSync(temp, { force: true });
    throw fileError(error, absPath, 'file to relocate');
  }
  return true;
}
