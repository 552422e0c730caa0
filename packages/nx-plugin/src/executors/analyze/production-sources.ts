/**
 * The Python files of a project folder that its program runs, without its tests: a test file
 * importing pytest must not put pytest into the environment. Tests are what pytest collects by
 * default: `test_*.py`, `*_test.py`, `conftest.py`, and everything under a `tests/` or `test/`
 * folder. Folders skipped as the analyzer skips them (version control, virtual and conda
 * environments, caches, node_modules), and those of nested Nx projects.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SKIPPED_FOLDERS } from '@poncho/analyzer';
import { fileError } from '@poncho/core/errors';

const TEST_FOLDERS = new Set(['tests', 'test']);

export function isTestFile(name: string): boolean {
  return (
    name === 'conftest.py' ||
    (name.startsWith('test_') && name.endsWith('.py')) ||
    name.endsWith('_test.py')
  );
}

/**
 * Every non-test `*.py` and notebook (`*.ipynb`) below `folder` (sorted), skipping the folders in `skip` (absolute:
 * nested projects, the workspace's dist/).
 */
export async function productionSources(folder: string, skip: Set<string>): Promise<string[]> {
  const result: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      throw fileError(error, dir, 'source folder');
    }
    const names = new Set(entries.map((e) => e.name));
    if (dir !== folder && (names.has('pyvenv.cfg') || names.has('conda-meta'))) return;
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (SKIPPED_FOLDERS.has(entry.name) || TEST_FOLDERS.has(entry.name)) continue;
        if (!skip.has(path)) await walk(path);
      } else if (
        (entry.name.endsWith('.py') || entry.name.endsWith('.ipynb')) &&
        !isTestFile(entry.name) &&
        (entry.isFile() || entry.isSymbolicLink())
      ) {
        result.push(path);
      }
    }
  };
  await walk(folder);
  return result;
}
