/**
 * Credentials in URLs (`https://user:token@host/...`, conda's `/t/<token>/` channel paths) are
 * needed to fetch, but must never be shown: not in logs, error messages (also their causes and
 * stack traces, printed with --debug), nor in what the tarball carries to other machines.
 * Node's fetch refuses URLs with credentials, so they travel as an Authorization header.
 */
import type { Logger } from '@poncho/core/log';

const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@'"]+@/gi;
/** anaconda.org's token paths: `https://host/t/<token>/channel` (right after the host). */
const CONDA_TOKEN = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s'"]+)\/t\/[^/\s'"]+/gi;

/** The text with every URL's user and password, and conda tokens, replaced by `***`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(USERINFO, '$1***@').replace(CONDA_TOKEN, '$1/t/***');
}

/** A URL without its user and password, plus the Authorization header carrying them. */
export function splitUrlCredentials(url: string): { url: string; headers: Record<string, string> } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, headers: {} };
  }
  if (!parsed.username && !parsed.password) return { url, headers: {} };
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  return { url: parsed.href, headers: { authorization: `Basic ${basic}` } };
}

/**
 * Puts credentials back into a URL redacted by redactUrlCredentials, from the first of
 * `candidates` (URLs with credentials, e.g. the --channel options) whose redacted form starts it.
 * Returns undefined when the URL was redacted and no candidate fits; the URL when it was not.
 */
export function restoreUrlCredentials(url: string, candidates: string[]): string | undefined {
  if (redactUrlCredentials(url) !== url) return url; // holds real credentials
  if (!url.includes('***')) return url;
  for (const candidate of candidates) {
    const base = candidate.replace(/\/+$/, '');
    const redacted = redactUrlCredentials(base);
    if (redacted === base) continue;
    if (url === redacted || url.startsWith(`${redacted}/`))
      return base + url.slice(redacted.length);
  }
  return undefined;
}

/** Redacts an error in place (message, stack, hint, and its causes); returns it. */
export function redactError<T>(error: T): T {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const record = current as { message?: unknown; stack?: unknown; hint?: unknown };
    for (const key of ['message', 'stack', 'hint'] as const) {
      const value = record[key];
      if (typeof value === 'string') {
        const clean = redactUrlCredentials(value);
        if (clean !== value) {
          try {
            Object.defineProperty(current, key, {
              value: clean,
              configurable: true,
              writable: true,
            });
          } catch {
            // A frozen error keeps its text; nothing better to do.
          }
        }
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return error;
}

/** A logger that redacts every message before passing it on. */
export function redactingLogger(logger: Logger): Logger {
  return {
    get level() {
      return logger.level;
    },
    set level(value) {
      logger.level = value;
    },
    get interactive() {
      return logger.interactive;
    },
    error: (message) => logger.error(redactUrlCredentials(message)),
    warn: (message) => logger.warn(redactUrlCredentials(message)),
    info: (message) => logger.info(redactUrlCredentials(message)),
    debug: (message) => logger.debug(redactUrlCredentials(message)),
  };
}
