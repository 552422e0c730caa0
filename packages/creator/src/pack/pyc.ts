/**
 * Keeps compiled Python files valid in a tarball with fixed time stamps. A timestamp-based .pyc
 * records the mtime and size of its source; the packer gives every entry the same fixed mtime,
 * so a .pyc that matched its source on disk is rewritten to record that fixed mtime instead.
 * Otherwise every import after unpacking would find its .pyc stale and recompile.
 */

/** First magic number of the PEP 552 header (Python 3.7): magic, flags, then mtime and size. */
const PEP552_MAGIC = 3390;
/** First magic number whose header records the source size (Python 3.3). */
const SIZE_FIELD_MAGIC = 3210;

/** `a/__pycache__/b.cpython-311.opt-1.pyc` -> `a/b.py`; undefined for other paths. */
export function pycSource(path: string): string | undefined {
  const match = /^(?:(.*)\/)?__pycache__\/([^/]+?)\.[^./]+(?:\.opt-\d+)?\.pyc$/.exec(path);
  if (!match) return undefined;
  return match[1] ? `${match[1]}/${match[2]}.py` : `${match[2]}.py`;
}

/**
 * Returns the .pyc with its recorded source mtime set to `mtime` when it matched the source
 * (`sourceMtime`, `sourceSize`), or undefined when it must stay as it is (hash-based, stale,
 * unknown format).
 */
export function retimePyc(
  data: Buffer,
  sourceMtime: number,
  sourceSize: number,
  mtime: number,
): Buffer | undefined {
  if (data.length < 16 || data[2] !== 0x0d || data[3] !== 0x0a) return undefined;
  const magic = data.readUInt16LE(0);
  let at: number;
  if (magic >= PEP552_MAGIC) {
    if (data.readUInt32LE(4) !== 0) return undefined; // hash-based: no time stamp to fix
    at = 8;
  } else if (magic >= SIZE_FIELD_MAGIC) {
    at = 4;
  } else {
    return undefined;
  }
  const recordedMtime = data.readUInt32LE(at);
  const recordedSize = data.readUInt32LE(at + 4);
  if (recordedMtime !== sourceMtime % 2 ** 32 || recordedSize !== sourceSize % 2 ** 32)
    return undefined;
  if (recordedMtime === mtime % 2 ** 32) return undefined;
  const out = Buffer.from(data);
  out.writeUInt32LE(mtime % 2 ** 32, at);
  return out;
}
