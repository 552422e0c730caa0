/**
 * Environment tarballs the runner tests make themselves (until real ones come from the creator):
 *
 * - `fixtureTarball()`: a small prefix "built" at a 255-character placeholder path: a C program
 *   compiled with the placeholder in its strings (binary mode), shell scripts and a config file
 *   holding it (text mode), a script whose `#!` names an interpreter inside the prefix, an
 *   activate.d script, and `.poncho/manifest.json` listing the prefix files.
 * - `pythonEnvTarball(variant)`: Debian's CPython as a conda-like prefix (test/channel) plus the
 *   same kind of prefix files, a `bin/conda-unpack` (a Python script following conda-pack's
 *   rules) and `bin/activate`, so the reference `python_package_run` can use it too. Variant
 *   'manifest' also has the manifest; 'conda-unpack' has none (relocated by conda-unpack only).
 * - `rawTarGz(entries)`: hand-made (hostile) archives with any path, type or link target.
 *
 * Built once and cached under test/.cache/runner/ (PONCHO_TEST_CACHE overrides test/.cache).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';

const run = promisify(execFile);

/** Bump when what the builders make changes (invalidates the cache). */
const FIXTURE_VERSION = 5;

/** The build prefix of the fixtures: a path padded to 255 characters, like conda's placeholder. */
export const FIXTURE_PLACEHOLDER = `/opt/poncho-fixture-build/${'_placehold'.repeat(30)}`.slice(
  0,
  255,
);

export function cacheDir(): string {
  const root =
    process.env.PONCHO_TEST_CACHE ?? join(dirname(fileURLToPath(import.meta.url)), '..', '.cache');
  return join(root, 'runner', `v${FIXTURE_VERSION}`);
}

interface PrefixFile {
  path: string;
  placeholder: string;
  mode: 'text' | 'binary';
}

/** The C program: prints its (relocated) prefix, the length of that C string, and a data file. */
const PREFIX_C = `
#include <stdio.h>
#include <string.h>
static const char prefix[] = PONCHO_PREFIX;
static const char data_path[] = PONCHO_PREFIX "/share/fixture/data.txt";
int main(void) {
  char line[256] = "";
  FILE *f = fopen(data_path, "r");
  if (f) { if (!fgets(line, sizeof line, f)) line[0] = 0; fclose(f); }
  line[strcspn(line, "\\n")] = 0;
  /* volatile: the compiler must not fold strlen() of the constant to the placeholder's length */
  const char *volatile at_run_time = prefix;
  printf("prefix=%s\\nlength=%zu\\ndata=%s\\n", prefix, strlen(at_run_time), f ? line : "MISSING");
  return 0;
}
`;

/** An interpreter for `#!` lines: prints what it was asked to run. */
const INTERP_C = `
#include <stdio.h>
int main(int argc, char **argv) { printf("interp ran %s\\n", argc > 1 ? argv[1] : "?"); return 0; }
`;

async function compile(source: string, output: string, defines: string[] = []): Promise<void> {
  const file = `${output}.c`;
  await writeFile(file, source);
  await run('gcc', ['-O1', '-o', output, file, ...defines]);
  await rm(file);
}

async function writeExecutable(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
  await chmod(path, 0o755);
}

/**
 * Writes the fixture files into `root` (a prefix built at `placeholder`) and returns the prefix
 * files a manifest lists.
 */
export async function addFixtureFiles(root: string, placeholder: string): Promise<PrefixFile[]> {
  const P = placeholder;
  await mkdir(join(root, 'bin'), { recursive: true });
  await mkdir(join(root, 'share', 'fixture'), { recursive: true });
  await mkdir(join(root, 'etc', 'conda', 'activate.d'), { recursive: true });
  await compile(PREFIX_C, join(root, 'bin', 'prefix-c'), [`-DPONCHO_PREFIX="${P}"`]);
  await compile(INTERP_C, join(root, 'bin', 'fixture-interp'));
  await writeFile(join(root, 'share', 'fixture', 'data.txt'), 'data-ok\n');
  await writeFile(join(root, 'share', 'fixture', 'config.txt'), `prefix=${P}\nlib=${P}/lib\n`);
  await writeExecutable(
    join(root, 'bin', 'show-config'),
    `#!/bin/sh\ncat "${P}/share/fixture/config.txt"\n`,
  );
  await writeExecutable(
    join(root, 'bin', 'via-shebang'),
    `#!${P}/bin/fixture-interp\nthis line is not run\n`,
  );
  await writeExecutable(join(root, 'bin', 'exit-with'), '#!/bin/sh\nexit "$1"\n');
  await writeExecutable(
    join(root, 'bin', 'show-env'),
    '#!/bin/sh\necho "CONDA_PREFIX=$CONDA_PREFIX"\necho "CONDA_DEFAULT_ENV=$CONDA_DEFAULT_ENV"\n' +
      'echo "FIXTURE_ACTIVATED=$FIXTURE_ACTIVATED"\necho "PYTHONPATH=$(printenv PYTHONPATH || echo unset)"\n' +
      'echo "PYTHONHOME=$(printenv PYTHONHOME || echo unset)"\necho "PATH=$PATH"\n',
  );
  await writeFile(
    join(root, 'etc', 'conda', 'activate.d', 'fixture.sh'),
    'export FIXTURE_ACTIVATED="yes:$CONDA_PREFIX"\n',
  );
  return [
    { path: 'bin/prefix-c', placeholder: P, mode: 'binary' },
    { path: 'bin/show-config', placeholder: P, mode: 'text' },
    { path: 'bin/via-shebang', placeholder: P, mode: 'text' },
    { path: 'share/fixture/config.txt', placeholder: P, mode: 'text' },
  ];
}

export async function writeManifest(
  root: string,
  files: PrefixFile[],
  placeholder: string,
): Promise<void> {
  await mkdir(join(root, '.poncho'), { recursive: true });
  const manifest = {
    formatVersion: 1,
    platform: 'linux-64',
    buildPrefix: placeholder,
    files,
    createdBy: 'poncho test fixtures',
  };
  await writeFile(join(root, '.poncho', 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** Packs `root` (its content at the archive root, like conda-pack) into a .tar.gz. */
export async function packPrefix(root: string, output: string): Promise<void> {
  const names = (await readdir(root)).sort();
  await createTar({ gzip: true, file: output, cwd: root, portable: true }, names);
}

/** Builds `output` with `build(tmpRoot)` once; later calls return the cached file. */
async function cached(name: string, build: (root: string) => Promise<void>): Promise<string> {
  const dir = cacheDir();
  const output = join(dir, name);
  try {
    await stat(output);
    return output;
  } catch {
    // build it
  }
  await mkdir(dir, { recursive: true });
  const work = join(dir, `.build-${process.pid}-${randomBytes(4).toString('hex')}`);
  const root = join(work, 'prefix');
  await mkdir(root, { recursive: true });
  try {
    await build(root);
    await packPrefix(root, join(work, name));
    await rename(join(work, name), output);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return output;
}

/** The small fixture environment with a manifest (see the file comment). */
export function fixtureTarball(): Promise<string> {
  return cached('fixture.tar.gz', async (root) => {
    const files = await addFixtureFiles(root, FIXTURE_PLACEHOLDER);
    await writeManifest(root, files, FIXTURE_PLACEHOLDER);
  });
}

/**
 * `bin/conda-unpack` as conda-pack writes it, in spirit: a Python script, run by the
 * environment's python, that rewrites the listed files from the placeholder to the prefix it
 * finds from its own location, with the text (and shebang) and binary (NUL padding) rules.
 */
function condaUnpackScript(files: PrefixFile[]): string {
  return `#!/usr/bin/env python3
"""Relocates this environment to the folder it was unpacked in (poncho test fixture)."""
import os
import re
import stat
import sys

PREFIX_FILES = ${JSON.stringify(files.map((f) => [f.path, f.placeholder, f.mode]))}
NEW_PREFIX = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def text_replace(data, placeholder, prefix):
    out = data.replace(placeholder, prefix)
    original_first = data.split(b"\\n", 1)[0]
    if out.startswith(b"#!") and placeholder in original_first:
        first, nl, rest = out.partition(b"\\n")
        m = re.match(rb"^#!\\s*(\\S+)(.*)$", original_first)
        interp = m.group(1).replace(placeholder, prefix)
        args = m.group(2).replace(placeholder, prefix).strip()
        if len(first) > 127 or b" " in interp:
            name = interp.rsplit(b"/", 1)[-1]
            if re.match(rb"^python[0-9.]*$", name):
                first = b"#!/bin/sh\\n'''exec' \\"" + interp + b"\\" \\"$0\\" \\"$@\\" #'''"
            else:
                first = b"#!/usr/bin/env " + name + (b" " + args if args else b"")
        out = first + nl + rest
    return out


def binary_replace(data, placeholder, prefix):
    if len(prefix) > len(placeholder):
        raise SystemExit("conda-unpack: prefix %r is longer than the placeholder" % prefix)

    def patch(match):
        s = match.group(0)
        count = s.count(placeholder)
        return s.replace(placeholder, prefix) + b"\\0" * ((len(placeholder) - len(prefix)) * count)

    return re.sub(re.escape(placeholder) + rb"[^\\0]*", patch, data)


def main():
    prefix = NEW_PREFIX.encode()
    for path, placeholder, mode in PREFIX_FILES:
        if re.match(r"^bin/python[0-9.]*$", path):
            continue  # the running interpreter ("Text file busy")
        full = os.path.join(NEW_PREFIX, path)
        with open(full, "rb") as f:
            data = f.read()
        fn = binary_replace if mode == "binary" else text_replace
        new = fn(data, placeholder.encode(), prefix)
        if new != data:
            tmp = full + ".conda-unpack-tmp"
            with open(tmp, "wb") as f:
                f.write(new)
            os.chmod(tmp, stat.S_IMODE(os.lstat(full).st_mode))
            os.replace(tmp, full)


if __name__ == "__main__":
    main()
`;
}

/** `bin/activate` for the reference runner (it sources it with bash). */
function activateScript(placeholder: string): string {
  return `# Activates this environment (sourced). The prefix below is relocated by conda-unpack.
_PONCHO_FIXTURE_PREFIX='${placeholder}'
export CONDA_PREFIX="$_PONCHO_FIXTURE_PREFIX"
export CONDA_DEFAULT_ENV="$_PONCHO_FIXTURE_PREFIX"
export PATH="$_PONCHO_FIXTURE_PREFIX/bin:$PATH"
for _poncho_script in "$_PONCHO_FIXTURE_PREFIX"/etc/conda/activate.d/*.sh; do
  [ -f "$_poncho_script" ] && . "$_poncho_script"
done
unset _poncho_script
`;
}

export type PythonEnvVariant = 'manifest' | 'conda-unpack';

/**
 * A python 3.11 environment (Debian's CPython in conda's layout) with the fixture files, a
 * python script `bin/whereami` whose `#!` holds the placeholder, `bin/conda-unpack` and
 * `bin/activate`; with `.poncho/manifest.json` for the 'manifest' variant.
 */
export function pythonEnvTarball(variant: PythonEnvVariant): Promise<string> {
  return cached(`python-${variant}.tar.gz`, async (root) => {
    const { buildDebianPythonPrefix } = await import('../channel/index.js');
    await buildDebianPythonPrefix(root);
    const P = FIXTURE_PLACEHOLDER;
    const files = await addFixtureFiles(root, P);
    await writeExecutable(
      join(root, 'bin', 'whereami'),
      `#!${P}/bin/python3.11\nimport os, sys\nprint("prefix=" + sys.prefix)\nprint("executable=" + sys.executable)\n`,
    );
    await writeFile(join(root, 'bin', 'activate'), activateScript(P));
    await writeFile(join(root, 'bin', 'deactivate'), '# nothing to undo in a batch job\n');
    files.push(
      { path: 'bin/whereami', placeholder: P, mode: 'text' },
      { path: 'bin/activate', placeholder: P, mode: 'text' },
    );
    await writeExecutable(join(root, 'bin', 'conda-unpack'), condaUnpackScript(files));
    if (variant === 'manifest') await writeManifest(root, files, P);
  });
}

/** An entry of a hand-made archive. */
export interface RawEntry {
  name: string;
  type: 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';
  data?: string;
  linkname?: string;
  mode?: number;
}

const TYPE_FLAG: Record<RawEntry['type'], string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** A ustar archive, gzipped, with exactly the given entries (no sanitising at all). */
export function rawTarGz(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.data ?? '');
    const header = Buffer.alloc(512);
    header.write(entry.name, 0, 100, 'utf8');
    header.write(octal(entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644), 8), 100, 'latin1');
    header.write(octal(0, 8), 108, 'latin1');
    header.write(octal(0, 8), 116, 'latin1');
    header.write(octal(entry.type === 'file' ? data.length : 0, 12), 124, 'latin1');
    header.write(octal(1_700_000_000, 12), 136, 'latin1');
    header.write('        ', 148, 'latin1');
    header.write(TYPE_FLAG[entry.type], 156, 'latin1');
    if (entry.linkname) header.write(entry.linkname, 157, 100, 'utf8');
    header.write('ustar\0', 257, 'latin1');
    header.write('00', 263, 'latin1');
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    blocks.push(header);
    if (entry.type === 'file' && data.length > 0) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** A short random name, for paths hostile archives try to reach. */
export function uniqueName(label: string): string {
  return `${label}-${createHash('sha1').update(randomBytes(8)).digest('hex').slice(0, 10)}`;
}
