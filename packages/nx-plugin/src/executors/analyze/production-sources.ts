/**
 * The Python files of a project folder that its program runs, without its tests: a test file
 * importing pytest must not put pytest into the environment. The folder is walked as the
 * analyzer walks a folder it is given (its own walk: *.py, notebooks, Python scripts, skipping
 * version control, environments, caches, node_modules), minus what the analyzer marks as tests
 * (pytest's defaults: `test_*.py`, `*_test.py`, `conftest.py`, `tests/` and `test/` folders).
 */
import { relative } from 'node:path';
import { isTestFile, pythonFilesBelow } from '@poncho/analyzer';

/** The non-test sources below `folder` (sorted), outside the folders in `skip` (absolute). */
export async function productionSources(
  folder: string,
  skip: ReadonlySet<string>,
  warn?: (message: string) => void,
): Promise<string[]> {
  const found = await pythonFilesBelow(folder, folder, { skip: (path) => skip.has(path), warn });
  return found.filter((file) => !isTestFile(relative(folder, file)));
}
