/**
 * HTTP GET with errors that name the URL (no network, refused, DNS, HTTP status), a few
 * retries for transient failures, and the proxy environment variables (HTTPS_PROXY,
 * HTTP_PROXY, NO_PROXY, as curl and conda honour them; Node's own fetch ignores them).
 */
import { PonchoError } from '@poncho/core/errors';
import { redactUrlCredentials, splitUrlCredentials } from '../url-credentials.js';

const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

type Fetch = (url: string, init: RequestInit) => Promise<Response>;
let proxied: { key: string; fetch: Fetch } | undefined;

/** Node's fetch, or undici's with an EnvHttpProxyAgent when a proxy variable is set. */
async function fetcher(): Promise<Fetch> {
  const key = [...PROXY_VARIABLES, 'NO_PROXY', 'no_proxy']
    .map((name) => process.env[name] ?? '')
    .join('\0');
  if (!PROXY_VARIABLES.some((name) => process.env[name])) return globalThis.fetch;
  if (proxied?.key !== key) {
    const undici = await import('undici');
    const dispatcher = new undici.EnvHttpProxyAgent();
    proxied = {
      key,
      fetch: (url, init) =>
        undici.fetch(url, {
          ...(init as Parameters<typeof undici.fetch>[1]),
          dispatcher,
        }) as unknown as Promise<Response>,
    };
  }
  return proxied.fetch;
}

/** Waits before attempts 2 and 3: transient failures (a restarting server, 503, 429) pass. */
const RETRY_DELAYS_MS = [250, 1000];

function retryable(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504;
}

export async function httpGet(
  url: string,
  headers: Record<string, string> = {},
  signal?: AbortSignal,
): Promise<Response> {
  for (let attempt = 0; ; attempt += 1) {
    const delay = RETRY_DELAYS_MS[attempt];
    try {
      const response = await fetchOnce(url, headers, signal);
      if (delay === undefined || !retryable(response.status)) return response;
      await response.body?.cancel();
    } catch (error) {
      if (
        delay === undefined ||
        signal?.aborted ||
        (error as { code?: string }).code !== 'ERR_NETWORK'
      ) {
        throw error;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

async function fetchOnce(
  url: string,
  headers: Record<string, string>,
  signal?: AbortSignal,
): Promise<Response> {
  try {
    const get = await fetcher();
    // fetch refuses URLs with user:password; they go as an Authorization header instead.
    const plain = splitUrlCredentials(url);
    return await get(plain.url, {
      headers: { ...plain.headers, ...headers },
      signal,
      redirect: 'follow',
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new PonchoError('ERR_NETWORK', `cannot reach ${redactUrlCredentials(url)}: ${detail}`, {
      hint: 'Check the network connection and the channel URL, or run with --offline to use cached data.',
      cause: error,
    });
  }
}

export function httpStatusError(url: string, response: Response, what: string): PonchoError {
  return new PonchoError(
    'ERR_DOWNLOAD',
    `downloading ${what} failed: HTTP ${response.status} ${response.statusText} for ${redactUrlCredentials(url)}`,
    {
      hint:
        response.status === 404
          ? 'The file does not exist on the server: check the channel URL.'
          : 'Try again later, or check the server.',
    },
  );
}
