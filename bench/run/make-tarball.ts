/**
 * Prints the path of the benchmark's environment tarball (built once and cached by the test
 * fixtures):
 *   node --import tsx bench/run/make-tarball.ts [manifest|conda-unpack] [--single-member]
 *
 * The fixtures gzip with node's gzipSync (one gzip member, like conda-pack's output); by default
 * the same tar is framed again as poncho_package_create writes it (blocked gzip, through the
 * creator's own writer: build first), cached next to the fixture. --single-member prints the
 * fixture itself.
 */
import { createReadStream } from 'node:fs';
import { rename, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { ParallelGzip } from '../../packages/creator/dist/pack/gzip-parallel.js';
import { type PythonEnvVariant, pythonEnvTarball } from '../../test/support/tarballs.js';

const args = process.argv.slice(2);
const singleMember = args.includes('--single-member');
const variant = (args.find((arg) => !arg.startsWith('--')) ?? 'manifest') as PythonEnvVariant;
const fixture = await pythonEnvTarball(variant);

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
