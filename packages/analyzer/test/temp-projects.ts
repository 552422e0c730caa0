/** Test helper: small file trees in a temporary folder removed after the test file. */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

export type ProjectFiles = Record<string, string | Buffer>;

/**
 * Registers a temporary folder for this test file and returns `project(name, files)`, which
 * writes files (path -> content) under a fresh sub-folder and returns that folder.
 */
export function tempProjects(
  prefix: string,
): (name: string, files: ProjectFiles) => Promise<string> {
  let work = '';
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });
  return async (name, files) => {
    const root = join(work, name);
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(root, path)), { recursive: true });
      await writeFile(join(root, path), content);
    }
    return root;
  };
}
