/**
 * Prints the path of the benchmark's environment tarball (built once and cached by the test
 * fixtures):
 *   node --import tsx bench/run/make-tarball.ts [manifest|conda-unpack] [--single-member]
 *     [--prefix-files N]
 *
 * The fixtures gzip with node's gzipSync (one gzip member, like conda-pack's output); by default
 * the same tar is framed again as poncho_package_create writes it (blocked gzip, through the
 * creator's own writer: build first), cached next to the fixture. --single-member prints the
 * fixture itself. --prefix-files N (manifest variant) adds N files holding the build prefix,
 * listed in the manifest, as a real environment has hundreds (entry-point scripts whose `#!`
 * names its python, and pkg-config files): the fixture lists 6.
 */
import { createReadStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { extract as extractTar } from 'tar';
import { ParallelGzip } from '../../packages/creator/dist/pack/gzip-parallel.js';
import {
  type PythonEnvVariant,
  packPrefix,
  pythonEnvTarball,
} from '../../test/support/tarballs.js';

const { values, positionals } = parseArgs({
  options: {
    'single-member': { type: 'boolean', default: false },
    'prefix-files': { type: 'string', default: '0' },
  },
  allowPositionals: true,
});
const singleMember = values['single-member'];
const prefixFiles = Number(values['prefix-files']);
const variant = (positionals[0] ?? 'manifest') as PythonEnvVariant;
if (
  !Number.isInteger(prefixFiles) ||
  prefixFiles < 0 ||
  (prefixFiles > 0 && variant !== 'manifest')
)
  throw new Error('--prefix-files takes a whole number, with the manifest variant');
const base = await pythonEnvTarball(variant);
const fixture = prefixFiles > 0 ? await withPrefixFiles(base, prefixFiles) : base;

/** `source` with `count` more listed prefix files (cached beside it). */
async function withPrefixFiles(source: string, count: number): Promise<string> {
  const target = source.replace(/\.tar\.gz$/, `.prefix-files-${count}.tar.gz`);
  const cached = await stat(target).catch(() => undefined);
  if (cached && cached.mtimeMs >= (await stat(source)).mtimeMs) return target;
  const work = await mkdtemp(join(tmpdir(), 'poncho-bench-prefix-files-'));
  try {
    const root = join(work, 'prefix');
    await mkdir(root);
    await extractTar({ file: source, cwd: root });
    const manifestPath = join(root, '.poncho', 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    const placeholder: string = manifest.buildPrefix;
    await mkdir(join(root, 'lib', 'pkgconfig'), { recursive: true });
    for (let i = 0; i < count; i++) {
      // Four entry points for one pkg-config file.
      const script = i % 5 !== 4;
      const path = script ? `bin/entry-point-${i}` : `lib/pkgconfig/lib${i}.pc`;
      const text = script
        ? `#!${placeholder}/bin/python3.11\nimport sys\nfrom pkg${i}.cli import main\nsys.exit(main())\n`
        : `prefix=${placeholder}\nlibdir=\${prefix}/lib\nincludedir=\${prefix}/include\nName: lib${i}\nLibs: -L\${libdir} -l${i}\n`;
      await writeFile(join(root, path), text);
      if (script) await chmod(join(root, path), 0o755);
      manifest.files.push({ path, placeholder, mode: 'text' });
    }
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    const temporary = `${target}.${process.pid}.tmp`;
    await packPrefix(root, temporary); // (names sorted: .poncho, with the manifest, first)
    await rename(temporary, target);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return target;
}

const WRITER_FILES = [
  'packages/creator/dist/pack/gzip-parallel.js',
  'packages/creator/dist/pack/gzip-block.js',
  'packages/core/dist/blocked-gzip.js',
].map((file) => fileURLToPath(new URL(`../../${file}`, import.meta.url)));

async function reframed(source: string): Promise<string> {
  const target = source.replace(/\.tar\.gz$/, '.blocked.tar.gz');
  // Framed again when the fixture or the writer's build is newer than the cached copy.
  const inputs = [source, ...WRITER_FILES].map((file) => stat(file).then((info) => info.mtimeMs));
  const newest = Math.max(...(await Promise.all(inputs)));
  const cached = await stat(target).catch(() => undefined);
  if (cached && cached.mtimeMs >= newest) return target;
  const chunks: Uint8Array[] = [];
  const gzip = new ParallelGzip({
    write: async (chunk) => void chunks.push(Uint8Array.from(chunk)),
  });
  try {
    for await (const piece of createReadStream(source).pipe(createGunzip()))
      await gzip.write(piece);
    await gzip.end();
  } finally {
    await gzip.close();
  }
  const temporary = `${target}.${process.pid}.tmp`;
  await writeFile(temporary, chunks);
  await rename(temporary, target);
  return target;
}

process.stdout.write(`${singleMember ? fixture : await reframed(fixture)}\n`);
