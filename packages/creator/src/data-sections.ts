/**
 * The spec's `git` and `http` data sections, fetched INTO the environment (the reference leaves
 * them out of the tarball) under share/poncho-data/<VAR>, and exported on activation by
 * etc/conda/activate.d/poncho-data.sh (sourced by bin/activate and by poncho_package_run):
 *   git:  {VAR: {remote, ref?}}                      -> $VAR is the checked-out tree (no .git)
 *   http: {VAR: {url, type: file|tar, compression?}} -> $VAR is the file, or the unpacked folder
 * Archives and repositories are untrusted: nothing may land, or point, outside its folder.
 * Credentials in the URLs are used to fetch but never shown (url-credentials.ts).
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import {
  ArchiveEntryGuard,
  type ArchiveEntryInfo,
  findEscapingSymlink,
} from '@poncho/core/archive-paths';
import { PonchoError } from '@poncho/core/errors';
import type { Logger } from '@poncho/core/log';
import type { Spec } from '@poncho/core/spec';
import { walkTree } from './pack/walk.js';
import { redactUrlCredentials, splitUrlCredentials } from './url-credentials.js';

/** Where data sections live, relative to the prefix. */
export const DATA_DIR = 'share/poncho-data';
export const ACTIVATE_SCRIPT = 'etc/conda/activate.d/poncho-data.sh';
export const DEACTIVATE_SCRIPT = 'etc/conda/deactivate.d/poncho-data.sh';

export interface DataOptions {
  logger?: Logger;
  signal?: AbortSignal;
}

type GitData = NonNullable<Spec['git']>[string];
type HttpData = NonNullable<Spec['http']>[string];

/** Fetches every data section into `prefix` and writes the activation scripts. */
export async function fetchDataSections(
  prefix: string,
  spec: Spec,
  options: DataOptions = {},
): Promise<number> {
  const exports: Array<[string, string]> = [];
  for (const [name, data] of Object.entries(spec.git ?? {}).sort()) {
    exports.push([name, await fetchGit(prefix, name, data, options)]);
  }
  for (const [name, data] of Object.entries(spec.http ?? {}).sort()) {
    exports.push([name, await fetchHttp(prefix, name, data, options)]);
  }
  if (exports.length === 0) return 0;
  exports.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const activate = [
    '# Data sections of the poncho spec (git/http), fetched into this environment.',
    ...exports.map(([name, rel]) => `export ${name}="\${CONDA_PREFIX:-\${PONCHO_PREFIX}}/${rel}"`),
    '',
  ].join('\n');
  const deactivate = [
    '# Undoes poncho-data.sh in activate.d.',
    ...exports.map(([name]) => `unset ${name}`),
    '',
  ].join('\n');
  await mkdir(join(prefix, 'etc/conda/activate.d'), { recursive: true });
  await mkdir(join(prefix, 'etc/conda/deactivate.d'), { recursive: true });
  await writeFile(join(prefix, ACTIVATE_SCRIPT), activate);
  await writeFile(join(prefix, DEACTIVATE_SCRIPT), deactivate);
  return exports.length;
}

async function fetchGit(
  prefix: string,
  name: string,
  data: GitData,
  options: DataOptions,
): Promise<string> {
  const rel = `${DATA_DIR}/${name}`;
  const dest = join(prefix, rel);
  await mkdir(join(prefix, DATA_DIR), { recursive: true });
  const where = `${redactUrlCredentials(data.remote)}${data.ref ? ` at ${data.ref}` : ''}`;
  options.logger?.info(`git data ${name}: cloning ${where}`);
  const { execa } = await import('execa');
  // No prompts; only network and local transports (never ext::, which runs commands), and no
  // protocol switch by a redirect or a submodule.
  const env = {
    ...process.env,
    GIT_TERMINAL_PROMPT: '0',
    GIT_ALLOW_PROTOCOL: 'https:http:ssh:git:file',
    GIT_PROTOCOL_FROM_USER: '0',
  };
  const git = (args: string[]) =>
    execa('git', args, { env, reject: false, all: true, cancelSignal: options.signal });
  const fail = (what: string, output: unknown) =>
    new PonchoError(
      'ERR_DATA_GIT',
      `git data section ${name}: ${what} (${where}):\n${redactUrlCredentials(String(output ?? '').trim())}`,
      {
        hint: 'Check the remote URL and ref in the spec, and that git can reach it from this machine.',
      },
    );
  // A ref is passed where git also reads options: one that looks like an option is refused.
  if (data.ref?.startsWith('-')) throw fail(`invalid ref ${data.ref}`, 'a ref cannot start with -');
  // A branch or tag clones shallow; anything else (a commit) needs the history.
  let result = await git([
    'clone',
    '--quiet',
    ...(data.ref ? ['--depth', '1', '--branch', data.ref] : ['--depth', '1']),
    '--',
    data.remote,
    dest,
  ]);
  if (result.exitCode !== 0 && data.ref) {
    await rm(dest, { recursive: true, force: true });
    result = await git(['clone', '--quiet', '--', data.remote, dest]);
    if (result.exitCode !== 0) throw fail('clone failed', result.all);
    const checkout = await git(['-C', dest, 'checkout', '--quiet', '--detach', data.ref]);
    if (checkout.exitCode !== 0) throw fail(`no such ref ${data.ref}`, checkout.all);
  } else if (result.exitCode !== 0) {
    throw fail('clone failed', result.all);
  }
  // The history is not data, and its files (index time stamps) would make builds differ.
  await rm(join(dest, '.git'), { recursive: true, force: true });
  // The repository is untrusted: a committed symlink must not point out of its folder.
  const links = (await walkTree(dest))
    .filter((entry) => entry.type === 'symlink')
    .map((entry): [string, string] => [entry.path, entry.linkTarget ?? '']);
  const escaping = await findEscapingSymlink(dest, links);
  if (escaping) {
    throw new PonchoError(
      'ERR_UNSAFE_PATH',
      `git data section ${name}: ${where} holds a symbolic link that points outside it: ${escaping.path} -> ${escaping.target}`,
      { hint: 'Remove the link from the repository, or use another ref.' },
    );
  }
  return rel;
}

async function fetchHttp(
  prefix: string,
  name: string,
  data: HttpData,
  options: DataOptions,
): Promise<string> {
  const dir = join(prefix, DATA_DIR, name);
  await mkdir(dir, { recursive: true });
  const temp = await mkdtemp(join(prefix, DATA_DIR, `.${name}-`));
  try {
    options.logger?.info(`http data ${name}: fetching ${redactUrlCredentials(data.url)}`);
    const download = join(temp, 'download');
    await pipeline(await openUrl(data.url, name, options.signal), createWriteStream(download), {
      signal: options.signal,
    });
    const fileName = urlFileName(data.url, data.compression);
    if (data.type === 'tar') {
      await extractTarball(download, dir, data.compression, data.url, name);
      return `${DATA_DIR}/${name}`;
    }
    const target = join(dir, fileName);
    if (data.compression && data.compression !== 'none') {
      await pipeline(
        decompressor(createReadStream(download), data.compression),
        createWriteStream(`${target}.part`),
      );
      await rename(`${target}.part`, target);
    } else {
      await rename(download, target);
    }
    return `${DATA_DIR}/${name}/${fileName}`;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function openUrl(
  url: string,
  name: string,
  signal?: AbortSignal,
): Promise<NodeJS.ReadableStream> {
  if (url.startsWith('file:')) return createReadStream(fileURLToPath(url));
  let response: Response;
  try {
    // fetch refuses URLs with user:password; they go as an Authorization header instead.
    const plain = splitUrlCredentials(url);
    response = await fetch(plain.url, { signal, redirect: 'follow', headers: plain.headers });
  } catch (error) {
    throw new PonchoError(
      'ERR_DATA_HTTP',
      `http data section ${name}: cannot fetch ${redactUrlCredentials(url)}: ${redactUrlCredentials((error as Error).message)}`,
      {
        hint: 'Check the URL and the network connection.',
        cause: error,
      },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new PonchoError(
      'ERR_DATA_HTTP',
      `http data section ${name}: ${redactUrlCredentials(url)} answered ${response.status} ${response.statusText}`,
      {
        hint: 'Check the URL in the spec.',
      },
    );
  }
  return Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
}

/** The file name a download is stored under: the URL's last path segment, minus compression. */
export function urlFileName(url: string, compression?: string): string {
  let name = 'data';
  try {
    name = decodeURIComponent(basename(new URL(url).pathname)) || 'data';
  } catch {
    name = basename(url) || 'data';
  }
  if (name === '.' || name === '..' || name.includes('/')) name = 'data';
  if (compression === 'gzip') name = name.replace(/\.gz$/, '');
  if (compression === 'bzip2') name = name.replace(/\.bz2$/, '');
  if (compression === 'xz') name = name.replace(/\.xz$/, '');
  return name;
}

function decompressor(input: NodeJS.ReadableStream, compression: string): NodeJS.ReadableStream {
  if (compression === 'gzip') return input.pipe(createGunzip());
  // bzip2 and xz: the system's tools (Node has neither).
  const tool = compression === 'bzip2' ? 'bzip2' : 'xz';
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'inherit'] });
  input.pipe(child.stdin);
  return child.stdout;
}

async function extractTarball(
  file: string,
  dir: string,
  compression: string | undefined,
  url: string,
  name: string,
): Promise<void> {
  const shown = redactUrlCredentials(url);
  // The archive is untrusted: every entry is judged by the rules shared with the runner and
  // the installer (no '..', absolute paths, links out, entries through links, devices).
  const guard = new ArchiveEntryGuard();
  let refusal: string | undefined;
  try {
    const input = createReadStream(file);
    const source =
      compression === 'bzip2' || compression === 'xz' ? decompressor(input, compression) : input;
    // node-tar auto-detects gzip.
    const { x: extractTar } = await import('tar');
    await pipeline(
      source,
      extractTar({
        cwd: dir,
        strict: true,
        preserveOwner: false,
        filter: (_path, entry) => {
          if (refusal) return false;
          const info = entry as unknown as ArchiveEntryInfo & { mode?: number };
          const reason = guard.check(info);
          if (reason) refusal = `entry "${info.path}" ${reason}`;
          else if (typeof info.mode === 'number') info.mode &= ~0o6000;
          return reason === undefined;
        },
      }),
    );
  } catch (error) {
    if (!refusal) {
      throw new PonchoError(
        'ERR_DATA_HTTP',
        `http data section ${name}: cannot unpack ${shown} as a tar archive: ${(error as Error).message}`,
        {
          hint: 'Check "type" and "compression" in the spec for this URL.',
          cause: error,
        },
      );
    }
  }
  const escaping = refusal ? undefined : await findEscapingSymlink(dir, guard.symlinks);
  if (escaping) refusal = `symbolic link "${escaping.path}" points outside the folder`;
  if (refusal) {
    throw new PonchoError(
      'ERR_UNSAFE_PATH',
      `http data section ${name}: refusing the archive ${shown}: ${refusal}`,
      { hint: 'The archive is malformed or malicious; check the URL in the spec.' },
    );
  }
}
