/**
 * The CLI's entry: dist/cli.bundle.mjs (bundle.mjs: one file loads ~40 ms faster than ~40
 * modules), unless it is missing or older than one of the files it was made from (listed in
 * dist/cli.bundle.json), as after `tsc -b` alone: then the modules tsc wrote, dist/cli.js.
 * A listed file that is not there (an installed package has another layout) is not a reason.
 */
import { readFileSync, statSync } from 'node:fs';

/** Whether `dist` (a folder URL ending in /) holds a bundle newer than what it was made from. */
export function bundleIsCurrent(dist = new URL('../dist/', import.meta.url)) {
  try {
    const built = statSync(new URL('cli.bundle.mjs', dist)).mtimeMs;
    const { inputs } = JSON.parse(readFileSync(new URL('cli.bundle.json', dist), 'utf8'));
    for (const input of inputs) {
      const info = statSync(new URL(input, dist), { throwIfNoEntry: false });
      if (info && info.mtimeMs > built) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export async function main(program) {
  const cli = await import(bundleIsCurrent() ? '../dist/cli.bundle.mjs' : '../dist/cli.js');
  return cli.main(program);
}
