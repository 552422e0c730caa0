/**
 * The files every tarball carries besides the environment itself: bin/activate,
 * bin/deactivate, bin/conda-unpack (the conda-pack way, no tools of ours needed), bin/run_in_env
 * and bin/poncho_package_run (the reference's way, for TaskVine and Work Queue workers with no
 * Node). Their sources live in packages/creator/assets/pack/ as plain shell and Python files,
 * so they can be read, linted and tested as what they are.
 */
import { readFileSync } from 'node:fs';

export interface GeneratedFile {
  /** '/'-separated path inside the tarball. */
  path: string;
  mode: number;
  data: Buffer;
}

const ASSETS = new URL('../../assets/pack/', import.meta.url);

const SCRIPTS: Array<{ name: string; mode: number }> = [
  { name: 'activate', mode: 0o644 },
  { name: 'deactivate', mode: 0o644 },
  { name: 'conda-unpack', mode: 0o755 },
  { name: 'run_in_env', mode: 0o755 },
  { name: 'poncho_package_run', mode: 0o755 },
];

let cache: GeneratedFile[] | undefined;

/** The scripts under bin/ (read once per process). */
export function environmentScripts(): GeneratedFile[] {
  cache ??= SCRIPTS.map(({ name, mode }) => ({
    path: `bin/${name}`,
    mode,
    data: readFileSync(new URL(name, ASSETS)),
  }));
  return cache;
}

/** The text of one script, e.g. for tests. */
export function scriptText(name: string): string {
  return readFileSync(new URL(name, ASSETS), 'utf8');
}
