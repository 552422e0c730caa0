/**
 * Reads the SPEC argument of poncho_package_create, whatever it is:
 * - a spec file in the reference's current format (`conda.dependencies` with a `{"pip": [...]}`
 *   item) or its old one (`conda.packages` + top-level `pip`), with `pinned`, `git`, `http`;
 * - a conda `environment.yml` (YAML: `channels`, `dependencies`, `name`/`prefix` ignored);
 * - a lock file written by `--lock-file` (rebuilds without solving);
 * - `-` for any of those on stdin;
 * - an existing conda prefix (a folder with conda-meta/), packed as it is.
 * JSON and YAML are told apart by content, not by file name. Validation errors name the field
 * and say what was expected.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { Lock } from '@poncho/core/lock';
import { normalizeSpec, type Spec, SpecInput } from '@poncho/core/spec';
import type { z } from 'zod';

export type SpecSource =
  | { kind: 'spec'; spec: Spec; source: string; baseDir: string }
  | { kind: 'lock'; lock: Lock; spec?: Spec; source: string; baseDir: string }
  | { kind: 'prefix'; prefix: string; source: string };

/** The key under which a lock file written by poncho keeps the spec it came from. */
export const LOCK_SPEC_KEY = 'ponchoSpec';

export interface ReadSpecOptions {
  /** What `-` reads (default: process.stdin). */
  stdin?: NodeJS.ReadableStream;
  /** Folder that relative paths in a spec read from stdin are relative to (default: cwd). */
  cwd?: string;
}

export async function readSpecSource(
  arg: string,
  options: ReadSpecOptions = {},
): Promise<SpecSource> {
  const cwd = options.cwd ?? process.cwd();
  if (arg === '-') {
    const text = await readAll(options.stdin ?? process.stdin);
    return parseSpecText(text, '<stdin>', cwd);
  }
  const path = resolve(cwd, arg);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') {
      throw new PonchoError('ERR_SPEC_NOT_FOUND', `spec file not found: ${arg}`, {
        hint: 'Give a spec file (JSON or environment.yml), a lock file, - for stdin, or a conda environment folder.',
        cause: error,
      });
    }
    throw fileError(error, path, 'spec file');
  }
  if (info.isDirectory()) {
    const meta = await stat(join(path, 'conda-meta')).catch(() => null);
    if (!meta?.isDirectory()) {
      throw new PonchoError(
        'ERR_NOT_A_CONDA_PREFIX',
        `${arg} is a folder but not a conda environment (no conda-meta/ inside)`,
        {
          hint: 'Give a spec file, or the folder of an environment made by conda, mamba, micromamba or poncho.',
        },
      );
    }
    return { kind: 'prefix', prefix: path, source: path };
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw fileError(error, path, 'spec file');
  }
  return parseSpecText(text, arg, dirname(path));
}

/** Parses spec text of any supported kind. `source` names it in messages. */
export async function parseSpecText(
  text: string,
  source: string,
  baseDir: string,
): Promise<SpecSource> {
  const data = await parseDocument(text, source);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new PonchoError(
      'ERR_SPEC_INVALID',
      `${source}: a spec must be an object (a mapping), not ${describeValue(data)}`,
      {
        hint: 'Write {"conda": {"channels": [...], "dependencies": [...]}} or an environment.yml.',
      },
    );
  }
  const record = data as Record<string, unknown>;
  if ('lockVersion' in record) {
    const lock = validate(Lock, record, source, 'lock file') as Lock;
    const embedded = record[LOCK_SPEC_KEY];
    const spec =
      embedded === undefined
        ? undefined
        : normalizeSpec(
            validate(SpecInput, embedded, `${source} (${LOCK_SPEC_KEY})`, 'spec') as SpecInput,
          );
    return { kind: 'lock', lock, spec, source, baseDir };
  }
  if (!('conda' in record) && ('dependencies' in record || 'channels' in record)) {
    return { kind: 'spec', spec: fromEnvironmentYml(record, source), source, baseDir };
  }
  if (!('conda' in record) && !('pip' in record) && !('git' in record) && !('http' in record)) {
    throw new PonchoError(
      'ERR_SPEC_INVALID',
      `${source}: no "conda" section (nor environment.yml "dependencies") found`,
      {
        hint: 'A spec looks like {"conda": {"channels": ["conda-forge"], "dependencies": ["python=3.11"]}}.',
      },
    );
  }
  const input = validate(SpecInput, record, source, 'spec') as SpecInput;
  return { kind: 'spec', spec: normalizeSpec(input), source, baseDir };
}

function fromEnvironmentYml(record: Record<string, unknown>, source: string): Spec {
  const input = validate(
    SpecInput,
    { conda: { channels: record.channels, dependencies: record.dependencies ?? [] } },
    source,
    'environment.yml',
    (path) => path.slice(1), // report `dependencies[2]`, not `conda.dependencies[2]`
  ) as SpecInput;
  return normalizeSpec(input);
}

async function parseDocument(text: string, source: string): Promise<unknown> {
  const trimmed = text.trimStart();
  if (trimmed === '') {
    throw new PonchoError('ERR_SPEC_INVALID', `${source}: the spec is empty`, {
      hint: 'Write the spec with poncho_package_analyze, or by hand: {"conda": {"dependencies": ["python"]}}.',
    });
  }
  if (trimmed.startsWith('{')) {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new PonchoError(
        'ERR_SPEC_SYNTAX',
        `${source}: invalid JSON: ${(error as Error).message}`,
        {
          hint: 'Fix the syntax (a JSON validator points at the spot), or write the spec as YAML.',
          cause: error,
        },
      );
    }
  }
  const { parse: parseYaml } = await import('yaml');
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const where = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    throw new PonchoError(
      'ERR_SPEC_SYNTAX',
      `${source}${where ? `:${where.line}:${where.col}` : ''}: invalid YAML: ${((error as Error).message.split('\n')[0] ?? '').trim()}`,
      { hint: 'Fix the syntax; a spec is JSON or YAML (environment.yml).', cause: error },
    );
  }
}

/** zod validation with a PonchoError naming the first wrong field and what was expected. */
function validate(
  schema: z.ZodType,
  data: unknown,
  source: string,
  what: string,
  mapPath: (path: PropertyKey[]) => PropertyKey[] = (p) => p,
): unknown {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue ? mapPath([...issue.path]) : [];
  const field = formatPath(path);
  const expected = expectedFor(path, issue?.code, issue?.message ?? 'invalid');
  throw new PonchoError(
    'ERR_SPEC_INVALID',
    `${source}: invalid ${what}: ${field ? `field ${field}: ` : ''}${expected}`,
    {
      hint: hintFor(path),
      cause: result.error,
    },
  );
}

function expectedFor(path: PropertyKey[], code: string | undefined, message: string): string {
  const last = path[path.length - 2];
  if (code === 'invalid_union' && last === 'dependencies') {
    return 'expected a match spec string (e.g. "numpy>=1.24") or {"pip": ["requirement", ...]}';
  }
  if (code === 'invalid_key') {
    return `${String(path[path.length - 1])} must be a valid environment variable name (letters, digits and _, not starting with a digit)`;
  }
  if (code === 'unrecognized_keys' && last === 'dependencies') {
    return `${message}: a dependency mapping may only hold "pip"`;
  }
  return message;
}

function hintFor(path: PropertyKey[]): string {
  const top = path[0];
  if (top === 'git')
    return 'A git data section is {"VAR": {"remote": "URL", "ref": "branch-or-tag"}}.';
  if (top === 'http')
    return 'An http data section is {"VAR": {"url": "URL", "type": "file"|"tar", "compression": "gzip"}}.';
  if (top === 'pinned') return 'pinned is {"conda": {"name": "version[=build]"}}.';
  if (top === 'packages' || top === 'platform' || top === 'lockVersion')
    return 'Regenerate the lock file with --lock-file.';
  return 'See the spec format in poncho_package_create --help (or the README).';
}

function formatPath(path: PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
