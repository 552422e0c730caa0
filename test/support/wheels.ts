/**
 * Python wheels written by Debian's python3 (no PyPI here): a pure-Python package with a
 * METADATA, WHEEL and RECORD as pip expects them.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const MAKE_WHEEL = `
import base64, hashlib, sys, zipfile
folder, name, version, code, requires = sys.argv[1:6]
info = f"{name}-{version}.dist-info"
metadata = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n"
metadata += "".join(f"Requires-Dist: {r}\\n" for r in requires.split(",") if r)
files = {f"{name}/__init__.py": code,
         f"{info}/METADATA": metadata,
         f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: poncho-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
def digest(text):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
record = [f"{p},{digest(c)},{len(c.encode())}" for p, c in files.items()] + [f"{info}/RECORD,,"]
with zipfile.ZipFile(f"{folder}/{name}-{version}-py3-none-any.whl", "w") as z:
    for p, c in files.items():
        z.writestr(zipfile.ZipInfo(p, (2000, 1, 1, 0, 0, 0)), c)
    z.writestr(zipfile.ZipInfo(f"{info}/RECORD", (2000, 1, 1, 0, 0, 0)), "\\n".join(record) + "\\n")
`;

/** Writes `<folder>/<name>-<version>-py3-none-any.whl`; returns its path. */
export async function writeWheel(
  folder: string,
  name: string,
  version: string,
  code: string,
  requires: string[] = [],
): Promise<string> {
  await run('python3', ['-c', MAKE_WHEEL, folder, name, version, code, requires.join(',')]);
  return join(folder, `${name}-${version}-py3-none-any.whl`);
}
