/**
 * rattler (WebAssembly) fetches repodata itself through the global `fetch`, cannot read files,
 * and caches nothing. So we hand it synthetic `http://<token>.poncho.invalid/` channels whose
 * repodata.json we serve from memory (already loaded, cached, filtered for strict priority and
 * completed with virtual packages). Other URLs pass through to the real fetch untouched.
 */
import { randomBytes } from 'node:crypto';

type Documents = Map<string, string>; // "<subdir>" -> repodata.json text

const served = new Map<string, Documents>(); // host -> documents
let originalFetch: typeof fetch | undefined;

function respond(url: string, body: string | null): Response {
  const response =
    body === null
      ? new Response('not found', { status: 404 })
      : new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
  // rattler needs Response.url to be set; a constructed Response has an empty one.
  Object.defineProperty(response, 'url', { value: url });
  return response;
}

function install(): void {
  if (originalFetch) return;
  const real = globalThis.fetch;
  originalFetch = real;
  globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    const documents = parsed ? served.get(parsed.host) : undefined;
    if (!parsed || !documents) return real(input, init);
    const match = /^\/([^/]+)\/repodata\.json$/.exec(parsed.pathname);
    return respond(url, match?.[1] ? (documents.get(match[1]) ?? null) : null);
  }) as typeof fetch;
}

function uninstallIfIdle(): void {
  if (served.size === 0 && originalFetch) {
    globalThis.fetch = originalFetch;
    originalFetch = undefined;
  }
}

/** Serves the documents under a fresh synthetic channel URL until `release()` is called. */
export function serveToSolver(documents: Documents): { url: string; release(): void } {
  install();
  const host = `c${randomBytes(6).toString('hex')}.poncho.invalid`;
  served.set(host, documents);
  return {
    url: `http://${host}`,
    release() {
      served.delete(host);
      uninstallIfIdle();
    },
  };
}
