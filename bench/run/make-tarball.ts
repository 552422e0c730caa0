/**
 * Prints the path of the benchmark's environment tarball (built once and cached by the test
 * fixtures): `node --import tsx bench/run/make-tarball.ts [manifest|conda-unpack]`.
 */
import { type PythonEnvVariant, pythonEnvTarball } from '../../test/support/tarballs.js';

const variant = (process.argv[2] ?? 'manifest') as PythonEnvVariant;
process.stdout.write(`${await pythonEnvTarball(variant)}\n`);
