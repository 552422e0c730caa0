/**
 * The project's lock file (poncho.lock.json beside poncho.json): the creator's lock file format
 * (`poncho_package_create --lock-file`), except that folder channels inside the workspace are
 * written relative to the lock file's folder (`../channel/noarch/x.conda` instead of
 * `file:///home/me/ws/channel/noarch/x.conda`), and so are pip pins of local wheels in it
 * (`greet @ ./wheels/greet-1.0-py3-none-any.whl --hash=...`). A committed lock then means the
 * same in every checkout, and pack-env, keyed on it, hits a shared cache from any of them.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { errnoCode, fileError, PonchoError } from '@poncho/core/errors';
import { parseSpecText, type SpecSource } from '@poncho/creator';

type LockSource = Extract<SpecSource, { kind: 'lock' }>;

export interface ReadLock {
  source: LockSource;
  /** The file's text as it is on disk. */
  text: string;
}

/** The portable text of a lock file written by the creator (see the module comment). */
export function portableLockText(text: string, lockFile: string, workspaceRoot: string): string {
  const lockDir = dirname(lockFile);
  const toRelative = (value: string): string => {
    if (!value.startsWith('file://')) return value;
    let path: string;
    try {
      path = fileURLToPath(value);
    } catch {
      return value;
    }
    const inWorkspace = relative(workspaceRoot, path);
    if (inWorkspace.startsWith('..') || isAbsolute(inWorkspace)) return value;
    const rel = relative(lockDir, path).split(sep).join('/');
    return rel.startsWith('..') ? rel : `./${rel}`;
  };
  return mapLockUrls(text, toRelative);
}

/** Reads a lock file, relative folder channels made absolute again; undefined when missing. */
export async function readLockFile(lockFile: string): Promise<ReadLock | undefined> {
  let text: string;
  try {
    text = await readFile(lockFile, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw fileError(error, lockFile, 'lock file');
  }
  const lockDir = dirname(lockFile);
  const toAbsolute = (value: string): string =>
    value.startsWith('./') || value.startsWith('../')
      ? pathToFileURL(resolve(lockDir, value)).href.replace(/\/+$/, '')
      : value;
  // Malformed JSON is reported by parseSpecText, with the file's name.
  let absolute = text;
  try {
    absolute = mapLockUrls(text, toAbsolute);
  } catch {
    // keep the text: parseSpecText names the syntax error
  }
  const source = await parseSpecText(absolute, lockFile, lockDir);
  if (source.kind !== 'lock') {
    throw new PonchoError('ERR_NX_LOCK_FILE', `${lockFile} is not a lock file (no lockVersion)`, {
      hint: 'Delete it and run lock-env again to write it.',
    });
  }
  return { source, text };
}

/** A pip pin of a direct reference: `name @ URL`, then options such as `--hash=...`. */
const PIP_DIRECT_PIN = /^(\S+\s+@\s+)(\S+)(.*)$/s;

/**
 * Applies `map` to the channel URLs and package URLs of a lock file's text, and to the URLs of
 * pip pins of local files (`name @ file:///.../x.whl --hash=...`).
 */
function mapLockUrls(text: string, map: (value: string) => string): string {
  const data = JSON.parse(text) as {
    channels?: unknown;
    packages?: unknown;
    pip?: unknown;
  };
  if (Array.isArray(data.pip)) {
    data.pip = data.pip.map((line) => {
      const direct = typeof line === 'string' ? PIP_DIRECT_PIN.exec(line) : null;
      return direct ? `${direct[1]}${map(direct[2] as string)}${direct[3]}` : line;
    });
  }
  if (Array.isArray(data.channels)) {
    data.channels = data.channels.map((c) => (typeof c === 'string' ? map(c) : c));
  }
  if (Array.isArray(data.packages)) {
    for (const pkg of data.packages as Array<Record<string, unknown>>) {
      if (!pkg || typeof pkg !== 'object') continue;
      if (typeof pkg.channel === 'string') pkg.channel = map(pkg.channel);
      if (typeof pkg.url === 'string') pkg.url = map(pkg.url);
    }
  }
  return `${JSON.stringify(data, null, 2)}\n`;
}
