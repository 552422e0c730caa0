/**
 * Agreement with Python's own parser: for every .py file of Debian's python3.11 standard
 * library, the absolute imports the analyzer finds (tree-sitter) equal those `ast` finds.
 *
 * What is compared: per file, the set of TOP-LEVEL names of absolute imports (`import a.b` and
 * `from a.b import c` both give `a`), which is what the spec is built from. Like `ast`, this
 * counts `from __future__ import x` (ImportFrom, level 0) and leaves out relative imports and
 * `__import__()` calls (the analyzer's `dynamic` imports are not ast Import nodes).
 *
 * Files `ast.parse` rejects (Python 2 test data such as lib2to3's fixtures, when installed) have
 * no ground truth and are left out of the comparison; the test reports how many.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { analyze, scanBytes } from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';

const STDLIB = '/usr/lib/python3.11';
const PYTHON = '/usr/bin/python3.11';

const GROUND_TRUTH = `
import ast, json, sys
out = {}
for path in sys.stdin.read().split("\\n"):
    if not path:
        continue
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except (SyntaxError, ValueError):
        out[path] = None
        continue
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    out[path] = sorted(names)
json.dump(out, sys.stdout)
`;

describe("agreement with Python's ast on the standard library", () => {
  it(`finds the same absolute imports as ast in every file of ${STDLIB}`, async () => {
    expect(existsSync(STDLIB), `${STDLIB} is missing: apt-get install python3.11`).toBe(true);
    // No cache: really parse. Report file names are relative to cwd.
    const { report } = await analyze([STDLIB], {
      cwd: STDLIB,
      pythonVersion: '3.11',
      prefix: null,
      cache: false,
    });
    const files = report.sources.map((s) => resolve(STDLIB, s.file));
    expect(files.length).toBeGreaterThan(500);

    const truth = JSON.parse(
      execFileSync(PYTHON, ['-c', GROUND_TRUTH], {
        input: files.join('\n'),
        maxBuffer: 64 << 20,
        encoding: 'utf8',
      }),
    ) as Record<string, string[] | null>;

    const ours = new Map<string, Set<string>>(files.map((f) => [f, new Set()]));
    for (const found of report.imports) {
      if (found.kind === 'dynamic' || found.module.startsWith('.')) continue;
      ours.get(resolve(STDLIB, found.file))?.add(found.name);
    }
    const mismatches: string[] = [];
    let compared = 0;
    for (const file of files) {
      const expected = truth[file];
      if (expected === null || expected === undefined) continue;
      compared++;
      const got = [...(ours.get(file) ?? [])].sort();
      if (JSON.stringify(got) !== JSON.stringify(expected)) {
        mismatches.push(`${file}: ast ${JSON.stringify(expected)} vs ours ${JSON.stringify(got)}`);
      }
    }
    console.log(
      `compared ${compared} files; ${files.length - compared} rejected by ast.parse and left out`,
    );
    expect(compared).toBeGreaterThan(500);
    expect(mismatches).toEqual([]);
  });

  it(`--strict rejects exactly the files of ${STDLIB} that CPython's compile() rejects`, async () => {
    const files = execFileSync('find', [STDLIB, '-name', '*.py', '-not', '-path', '*-packages/*'])
      .toString()
      .trim()
      .split('\n')
      .sort();
    const compiles = JSON.parse(
      execFileSync(
        PYTHON,
        [
          '-c',
          'import json, sys\nout = {}\nfor p in filter(None, sys.stdin.read().split("\\n")):\n    try:\n        compile(open(p, "rb").read(), p, "exec")\n        out[p] = True\n    except (SyntaxError, ValueError):\n        out[p] = False\nprint(json.dumps(out))',
        ],
        { input: files.join('\n'), maxBuffer: 64 << 20 },
      ).toString(),
    ) as Record<string, boolean>;
    const disagree: string[] = [];
    for (const file of files) {
      const outcome = await scanBytes(readFileSync(file), file, { python2: true });
      const accepted = outcome.ok && outcome.scan.syntaxErrors.length === 0;
      if (accepted !== compiles[file]) disagree.push(`${file}: compile ${compiles[file]}`);
    }
    expect(files.length).toBeGreaterThan(500);
    expect(disagree).toEqual([]);
  });
});
