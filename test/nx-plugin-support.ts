/**
 * A temporary Nx workspace for the @poncho/nx-plugin end-to-end tests: the real `nx` CLI of the
 * repository, the built plugin, the real analyzer and creator, and the local test channel.
 * node_modules links to the repository's packages, except @poncho/creator, whose package.json
 * is a copy, so a test can change the version Nx sees.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const repoModules = join(repoRoot, 'node_modules');

export interface NxResult {
  output: string;
  code: number;
}

/** The environment every nx call gets; `extra` entries set to undefined are removed. */
export function nxEnv(ws: string, extra: Record<string, string | undefined> = {}) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    NX_DAEMON: 'false',
    NX_NO_CLOUD: 'true',
    NX_TUI: 'false',
    NX_CACHE_DIRECTORY: join(ws, '.nx-cache'),
    NX_SKIP_NX_CACHE: '',
    // Not CI: lock-env may write the lock file (in CI it defaults to --locked).
    CI: '',
    FORCE_COLOR: '0',
    NO_COLOR: '1',
    // The creator's package and repodata caches, warm between test runs (git-ignored).
    XDG_CACHE_HOME: join(repoRoot, 'test/.cache/nx-plugin-xdg'),
    ...extra,
  };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env as NodeJS.ProcessEnv;
}

/** Runs the real nx CLI in a workspace; returns its output and exit status. */
export async function nxIn(
  ws: string,
  args: string[],
  extraEnv: Record<string, string | undefined> = {},
): Promise<NxResult> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [join(ws, 'node_modules/nx/dist/bin/nx.js'), ...args],
      { cwd: ws, env: nxEnv(ws, extraEnv), maxBuffer: 64 * 1024 * 1024 },
    );
    return { output: stdout + stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; code?: number };
    return {
      output: `${e.stdout ?? ''}${e.stderr ?? ''}`,
      code: typeof e.code === 'number' ? e.code : 1,
    };
  }
}

export type TaskOutcome = 'ran' | 'cache';

/** How Nx ran each task of a run, read from its `> nx run project:target` headers. */
export function outcomes(output: string): Record<string, TaskOutcome> {
  const result: Record<string, TaskOutcome> = {};
  for (const line of output.split('\n')) {
    const match = /> nx run (\S+?:\S+)(.*)$/.exec(line);
    if (!match?.[1]) continue;
    result[match[1]] = /\[(local cache|remote cache|existing outputs match the cache)/.test(
      match[2] ?? '',
    )
      ? 'cache'
      : 'ran';
  }
  return result;
}

/** Runs a target that must succeed; returns how its tasks ran and the output. */
export async function runTarget(
  ws: string,
  target: string,
  args: string[] = [],
  extraEnv: Record<string, string | undefined> = {},
): Promise<{ tasks: Record<string, TaskOutcome>; output: string }> {
  const { output, code } = await nxIn(
    ws,
    ['run', target, '--output-style=static', ...args],
    extraEnv,
  );
  if (code !== 0) throw new Error(`nx run ${target} failed (${code}):\n${output}`);
  return { tasks: outcomes(output), output };
}

export function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** node_modules of a temporary workspace (see the module comment). */
export function linkNodeModules(ws: string): void {
  const modules = join(ws, 'node_modules');
  mkdirSync(join(modules, '@poncho/creator'), { recursive: true });
  for (const entry of readdirSync(repoModules)) {
    if (entry === '@poncho') continue;
    symlinkSync(join(repoModules, entry), join(modules, entry));
  }
  for (const entry of readdirSync(join(repoModules, '@poncho'))) {
    if (entry === 'creator') continue;
    symlinkSync(join(repoModules, '@poncho', entry), join(modules, '@poncho', entry));
  }
  const creator = join(repoModules, '@poncho/creator');
  cpSync(join(creator, 'package.json'), join(modules, '@poncho/creator/package.json'));
  for (const entry of ['dist', 'bin', 'assets']) {
    if (existsSync(join(creator, entry)))
      symlinkSync(join(creator, entry), join(modules, '@poncho/creator', entry));
  }
}

/** A new workspace: package.json, nx.json (with `nxJson`), .gitignore, node_modules, git. */
export async function makeWorkspace(
  prefix: string,
  nxJson: Record<string, unknown> = {},
): Promise<string> {
  const ws = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(ws, 'package.json'), '{ "name": "nx-e2e", "private": true }\n');
  writeFileSync(
    join(ws, 'nx.json'),
    `${JSON.stringify({ $schema: './node_modules/nx/schemas/nx-schema.json', ...nxJson }, null, 2)}\n`,
  );
  writeFileSync(join(ws, '.gitignore'), 'node_modules\ndist\n.nx\n.nx-cache\n');
  linkNodeModules(ws);
  await run('git', ['init', '-q'], { cwd: ws });
  return ws;
}

/** Writes a file of the workspace, making its folder. */
export function writeIn(ws: string, path: string, text: string): void {
  mkdirSync(dirname(join(ws, path)), { recursive: true });
  writeFileSync(join(ws, path), text);
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}
