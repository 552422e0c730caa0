/** Downloads into the package cache against a real local HTTP server: verification and failures. */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureArchive } from '../dist/install/package-cache.js';

const BODY = Buffer.from('pretend this is a conda package\n'.repeat(1000));
const SHA = createHash('sha256').update(BODY).digest('hex');
let server: Server;
let base: string;
let work: string;
let gets = 0;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-download-'));
  server = createServer((req, res) => {
    gets += 1;
    if (req.url?.startsWith('/ok/')) {
      res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
    } else if (req.url?.startsWith('/stall/')) {
      res.writeHead(200, { 'content-length': BODY.length });
      res.write(BODY.subarray(0, 10)); // then nothing, connection kept open
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (work) await rm(work, { recursive: true, force: true });
});

function pkg(path: string, sha256 = SHA) {
  const fileName = 'demo-1.0-0.conda';
  return {
    name: 'demo',
    version: '1.0',
    build: '0',
    buildNumber: 0,
    subdir: 'noarch',
    channel: base,
    url: `${base}/${path}/${fileName}`,
    fileName,
    sha256,
    depends: [],
  };
}

describe('ensureArchive', () => {
  it('downloads, verifies and renames into place once; a second call downloads nothing', async () => {
    const dir = await mkdtemp(join(work, 'ok-'));
    const before = gets;
    expect(await ensureArchive(dir, pkg('ok'))).toBe(BODY.length);
    expect(await ensureArchive(dir, pkg('ok'))).toBe(0);
    expect(gets - before).toBe(1);
    expect((await readFile(join(dir, 'demo-1.0-0.conda'))).equals(BODY)).toBe(true);
    expect(await readdir(dir)).toEqual(['demo-1.0-0.conda']);
  });

  it('refuses a sha256 mismatch, naming the URL, and keeps nothing', async () => {
    const dir = await mkdtemp(join(work, 'bad-'));
    const error = await ensureArchive(dir, pkg('ok', 'e'.repeat(64))).catch((e) => e);
    expect(error).toMatchObject({
      code: 'ERR_SHA256_MISMATCH',
      message: expect.stringContaining(`${base}/ok/demo-1.0-0.conda`),
    });
    expect(error.message).toContain(SHA);
    expect(await readdir(dir)).toEqual([]);
  });

  it('gives up on a stalled transfer after the idle timeout', async () => {
    const dir = await mkdtemp(join(work, 'stall-'));
    const started = Date.now();
    await expect(ensureArchive(dir, pkg('stall'), { idleTimeoutMs: 300 })).rejects.toMatchObject({
      code: 'ERR_DOWNLOAD',
      message: expect.stringMatching(
        /stall\/demo-1\.0-0\.conda stalled: no data for 0\.3 s \(10 bytes received\)/,
      ),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await readdir(dir)).toEqual([]);
  });

  it('reports 404, refused connections and offline misses with the URL', async () => {
    const dir = await mkdtemp(join(work, 'errors-'));
    await expect(ensureArchive(dir, pkg('missing'))).rejects.toMatchObject({
      code: 'ERR_DOWNLOAD',
      message: expect.stringContaining(`HTTP 404 Not Found for ${base}/missing/demo-1.0-0.conda`),
    });
    const refused = { ...pkg('x'), url: 'http://127.0.0.1:9/x/demo-1.0-0.conda' };
    await expect(ensureArchive(dir, refused)).rejects.toMatchObject({
      code: 'ERR_NETWORK',
      message: expect.stringContaining(refused.url),
    });
    await expect(ensureArchive(dir, pkg('ok'), { offline: true })).rejects.toMatchObject({
      code: 'ERR_OFFLINE_NO_CACHE',
    });
    expect(await readdir(dir)).toEqual([]);
  });
});
