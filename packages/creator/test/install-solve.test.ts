/**
 * The solver front end on small hand-written channels (repodata only; nothing is downloaded):
 * strict channel priority, virtual packages, readable errors, and the repodata cache's HTTP
 * rules (Cache-Control, ETag, Last-Modified, offline) against a real local HTTP server.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWholeDocument as parseRepodata } from '../dist/install/repodata/monolithic.js';
import { solve } from '../dist/install/solve.js';
import { record } from './repodata-fixture.js';

const SHA = (c: string) => c.repeat(64);
let work: string;

async function writeChannel(
  dir: string,
  noarch: Record<string, unknown>,
  linux: Record<string, unknown> = {},
) {
  for (const [subdir, packages] of [
    ['noarch', noarch],
    ['linux-64', linux],
  ] as const) {
    await mkdir(join(dir, subdir), { recursive: true });
    await writeFile(
      join(dir, subdir, 'repodata.json'),
      JSON.stringify({ info: { subdir }, packages: {}, 'packages.conda': packages }),
    );
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'poncho-solve-'));
  await writeChannel(join(work, 'first'), {
    'shared-1.0-h0_0.conda': record('shared', '1.0', { subdir: 'noarch' }),
    'app-1.0-h0_0.conda': record('app', '1.0', {
      subdir: 'noarch',
      depends: ['shared >=1'],
      noarch: 'generic',
      constrains: ['other <3'],
      license: 'MIT',
      timestamp: 5,
    }),
  });
  await writeChannel(
    join(work, 'second'),
    {
      'shared-2.0-h0_0.conda': record('shared', '2.0', { subdir: 'noarch' }),
      'only-second-1.0-h0_0.conda': record('only-second', '1.0', { subdir: 'noarch' }),
    },
    {
      'native-1.0-h0_0.conda': record('native', '1.0', {
        subdir: 'linux-64',
        depends: ['__glibc >=2.28'],
      }),
    },
  );
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const opts = (channels: string[], extra = {}) => ({
  channels: channels.map((c) => join(work, c)),
  cacheDir: join(work, 'cache'),
  ...extra,
});

describe('solve', () => {
  it('produces a lock with full records from the repodata', async () => {
    const lock = await solve(['app'], opts(['first']));
    expect(lock).toMatchObject({
      lockVersion: 1,
      platform: expect.any(String),
      specs: ['app'],
      pip: [],
    });
    const app = lock.packages.find((p) => p.name === 'app');
    expect(app).toEqual({
      name: 'app',
      version: '1.0',
      build: 'h0_0',
      buildNumber: 0,
      subdir: 'noarch',
      channel: `file://${join(work, 'first')}`,
      url: `file://${join(work, 'first')}/noarch/app-1.0-h0_0.conda`,
      fileName: 'app-1.0-h0_0.conda',
      sha256: SHA('a'),
      size: 1,
      depends: ['shared >=1'],
      constrains: ['other <3'],
      noarch: 'generic',
      license: 'MIT',
      timestamp: 5,
    });
  });

  it('applies strict channel priority: a name in an earlier channel hides later channels', async () => {
    const lock = await solve(['shared', 'only-second'], opts(['first', 'second']));
    expect(lock.packages.find((p) => p.name === 'shared')?.version).toBe('1.0');
    expect(lock.packages.find((p) => p.name === 'only-second')?.channel).toBe(
      `file://${join(work, 'second')}`,
    );
    // Asking for the hidden version is unsatisfiable, and the message shows what the first channel has.
    const error = await solve(['shared >=2'], opts(['first', 'second'])).catch((e) => e);
    expect(error.code).toBe('ERR_UNSATISFIABLE');
    expect(error.message).toContain('shared >=2');
    expect(error.message).toContain(`file://${join(work, 'first')} has shared 1.0`);
    // Reversed order, the other one wins.
    const reversed = await solve(['shared'], opts(['second', 'first']));
    expect(reversed.packages[0]?.version).toBe('2.0');
  });

  it('honours repodata v2 base_url for package URLs', async () => {
    const dir = join(work, 'v2');
    for (const subdir of ['noarch', 'linux-64']) {
      await mkdir(join(dir, subdir), { recursive: true });
      const packages =
        subdir === 'noarch' ? { 'moved-1.0-h0_0.conda': record('moved', '1.0', { subdir }) } : {};
      await writeFile(
        join(dir, subdir, 'repodata.json'),
        JSON.stringify({
          info: { subdir, base_url: '../../store/' },
          packages: {},
          'packages.conda': packages,
          repodata_version: 2,
        }),
      );
    }
    const lock = await solve(['moved'], opts(['v2']));
    expect(lock.packages[0]?.url).toBe(`file://${join(work, 'store')}/moved-1.0-h0_0.conda`);
    expect(lock.packages[0]?.channel).toBe(`file://${dir}`);
  });

  it('offers virtual packages to the solver, overridable, and filters them out of the lock', async () => {
    const ok = await solve(['native'], opts(['second'], { virtualPackages: { __glibc: '2.31' } }));
    expect(ok.packages.map((p) => p.name)).toEqual(['native']);
    const error = await solve(
      ['native'],
      opts(['second'], { virtualPackages: { __glibc: '2.17' } }),
    ).catch((e) => e);
    expect(error.code).toBe('ERR_UNSATISFIABLE');
    expect(error.message).toContain('__glibc >=2.28');
    expect(error.message).toContain('native 1.0');
    expect(error.hint).toContain('CONDA_OVERRIDE_GLIBC');
  });

  it('reports missing packages, bad specs and missing channels clearly', async () => {
    const missing = await solve(['nonexistent'], opts(['first'])).catch((e) => e);
    expect(missing.code).toBe('ERR_UNSATISFIABLE');
    expect(missing.message).toContain('package nonexistent');
    expect(missing.message).toContain(`file://${join(work, 'first')}`);
    await expect(solve(['app[['], opts(['first']))).rejects.toMatchObject({
      code: 'ERR_SPEC_INVALID',
    });
    await expect(solve(['app'], opts(['nowhere']))).rejects.toMatchObject({
      code: 'ERR_CHANNEL_NOT_FOUND',
      message: expect.stringContaining(join(work, 'nowhere')),
    });
  });
});

describe('repodata parsing', () => {
  it('refuses broken JSON, wrong shapes and keys that name another package', () => {
    expect(() =>
      parseRepodata('{"packages": {', 'http://x/noarch/repodata.json', 'noarch'),
    ).toThrow(
      expect.objectContaining({
        code: 'ERR_REPODATA_INVALID',
        message: expect.stringContaining('http://x/noarch/repodata.json'),
      }),
    );
    expect(() => parseRepodata('{"packages": []}', 'u', 'noarch')).toThrow(
      /"packages" is not an object/,
    );
    expect(() =>
      parseRepodata(
        JSON.stringify({ packages: { 'evil-1-0.tar.bz2': record('good', '1') } }),
        'u',
        'noarch',
      ),
    ).toThrow(/does not match package "good"/);
    const ok = parseRepodata(
      JSON.stringify({ packages: { 'good-1-h0_0.tar.bz2': record('good', '1') } }),
      'u',
      'noarch',
    );
    expect(ok.get('good-1-h0_0.tar.bz2')?.subdir).toBe('noarch');
  });
});

describe('repodata cache over HTTP', () => {
  let server: Server;
  let url: string;
  let hits: string[] = [];
  let headers: Record<string, string> = {};
  let failures = 0;
  const body = JSON.stringify({
    info: { subdir: 'noarch' },
    packages: {},
    'packages.conda': { 'app-1.0-h0_0.conda': record('app', '1.0', { subdir: 'noarch' }) },
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (failures > 0 && req.url?.includes('/noarch/')) {
        failures -= 1;
        hits.push(`${req.url} 503`);
        res.writeHead(503).end();
        return;
      }
      const conditional =
        req.headers['if-none-match'] === '"v1"' ||
        req.headers['if-modified-since'] === 'Wed, 01 Jan 2025 00:00:00 GMT';
      const status = !req.url?.endsWith('/repodata.json')
        ? 404
        : conditional && (headers.etag || headers['last-modified'])
          ? 304
          : 200;
      hits.push(`${req.url} ${status}`);
      res.writeHead(status, headers);
      res.end(status === 200 ? body : undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/chan`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const solveApp = (cacheDir: string, extra = {}) =>
    solve(['app'], { channels: [url], cacheDir, ...extra });

  it('uses a fresh cache (Cache-Control max-age) without asking the server', async () => {
    headers = { 'cache-control': 'public, max-age=600' };
    hits = [];
    const cacheDir = join(work, 'http-maxage');
    await solveApp(cacheDir);
    expect(hits.filter((h) => h.includes('/noarch/') && h.endsWith(' 200'))).toHaveLength(1);
    hits = [];
    await solveApp(cacheDir);
    expect(hits.filter((h) => h.includes('/noarch/'))).toEqual([]);
  });

  it('revalidates with ETag and Last-Modified, getting 304 instead of the body', async () => {
    const validators: Record<string, string>[] = [
      { etag: '"v1"' },
      { 'last-modified': 'Wed, 01 Jan 2025 00:00:00 GMT' },
    ];
    for (const validator of validators) {
      headers = { 'cache-control': 'max-age=0', ...validator };
      const cacheDir = join(work, `http-${Object.keys(validator)[0]}`);
      hits = [];
      await solveApp(cacheDir);
      hits = [];
      const lock = await solveApp(cacheDir);
      expect(lock.packages[0]?.name).toBe('app');
      expect(hits).toContain('/chan/noarch/repodata.json 304');
    }
  });

  it('retries a 503 and succeeds; a lasting 503 is an error naming the URL', async () => {
    headers = {};
    failures = 1;
    hits = [];
    const lock = await solveApp(join(work, 'http-retry'));
    expect(lock.packages[0]?.name).toBe('app');
    // The first request of a subdir asks for the CEP-16 shard index.
    expect(hits).toContain('/chan/noarch/repodata_shards.msgpack.zst 503');
    failures = 10;
    await expect(solveApp(join(work, 'http-retry-fail'))).rejects.toMatchObject({
      code: 'ERR_DOWNLOAD',
      message: expect.stringContaining(`${url}/noarch/repodata_shards.msgpack.zst`),
    });
    failures = 0;
  });

  it('goes through the proxy named by HTTP_PROXY', async () => {
    const seen: string[] = [];
    // A forwarding proxy: requests arrive in absolute form ("GET http://host/path").
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const upstream = request(
        req.url as string,
        { method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    // undici tunnels every request through CONNECT, as real proxies (squid) allow.
    proxy.on('connect', (req, client, head) => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = (req.url as string).split(':');
      const upstream = connect(Number(port), host as string, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
    process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    delete process.env.NO_PROXY;
    try {
      headers = {};
      const lock = await solveApp(join(work, 'http-proxy'));
      expect(lock.packages[0]?.name).toBe('app');
      expect(seen).toContain(`CONNECT ${new URL(url).host}`);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it('offline: uses the cache as it is, and fails naming the URL when there is none', async () => {
    headers = { 'cache-control': 'no-cache', etag: '"v1"' };
    const cacheDir = join(work, 'http-offline');
    await solveApp(cacheDir);
    hits = [];
    await solveApp(cacheDir, { offline: true });
    expect(hits).toEqual([]);
    await expect(
      solveApp(join(work, 'http-offline-empty'), { offline: true }),
    ).rejects.toMatchObject({
      code: 'ERR_OFFLINE_NO_CACHE',
      message: expect.stringContaining(`${url}/`),
    });
  });
});
