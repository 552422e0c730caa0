/**
 * A real HTTP server for a channel folder on 127.0.0.1 (GET and HEAD, ETag/If-None-Match,
 * 404 for missing files), so that tests exercise the same code path as a remote channel.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';

export interface ServedChannel {
  /** `http://127.0.0.1:<port>` (no trailing slash): the channel URL. */
  url: string;
  /** Request lines seen so far, e.g. `GET /noarch/repodata.json 200`, for assertions. */
  requests: string[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /**
   * Paths answered with 404 as if absent, e.g. SERVE_MONOLITHIC (no shard index) or
   * SERVE_PLAIN_JSON (neither shards nor repodata.json.zst). Read on every request: a test
   * may change it between runs.
   */
  hide?: RegExp;
}

/** Hides the CEP-16 shard index: clients see a monolithic channel (.json.zst and .json). */
export const SERVE_MONOLITHIC = /\/repodata_shards\.msgpack\.zst$/;
/** Hides the shard index and repodata.json.zst: clients see repodata.json only. */
export const SERVE_PLAIN_JSON = /\/(repodata_shards\.msgpack\.zst|repodata\.json\.zst)$/;

function contentType(path: string): string {
  if (path.endsWith('.json')) return 'application/json';
  if (path.endsWith('.conda')) return 'application/octet-stream';
  if (path.endsWith('.bz2')) return 'application/x-bzip2';
  if (path.endsWith('.zst')) return 'application/zstd';
  return 'application/octet-stream';
}

async function handle(
  root: string,
  request: IncomingMessage,
  response: ServerResponse,
  options: ServeOptions,
) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  } catch {
    response.writeHead(400).end();
    return;
  }
  const file = resolve(root, `.${pathname}`);
  if (file !== root && !file.startsWith(root + sep)) {
    response.writeHead(403).end();
    return;
  }
  const info = options.hide?.test(pathname) ? undefined : await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${pathname}\n`);
    return;
  }
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers = {
    'Content-Type': contentType(file),
    'Content-Length': String(info.size),
    'Last-Modified': info.mtime.toUTCString(),
    ETag: etag,
    'Cache-Control': 'no-cache',
  };
  if (request.headers['if-none-match'] === etag) {
    response.writeHead(304, { ETag: etag }).end();
    return;
  }
  response.writeHead(200, headers);
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  const stream = createReadStream(file);
  stream.on('error', () => response.destroy());
  stream.pipe(response);
}

/** Serves `dir` over HTTP on 127.0.0.1 until `close()` is called. */
export async function serveChannel(
  dir: string,
  options: ServeOptions = {},
): Promise<ServedChannel> {
  const root = resolve(dir);
  const requests: string[] = [];
  const server = createServer((request, response) => {
    response.on('finish', () => {
      requests.push(`${request.method} ${request.url} ${response.statusCode}`);
    });
    handle(root, request, response, options).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolveClose, reject) => {
        server.close((error) => (error ? reject(error) : resolveClose()));
        server.closeAllConnections();
      }),
  };
}
