/**
 * Repodata at the solver's door, on the real test channel (test/channel writes every subdir
 * as repodata.json, repodata.json.zst and CEP-16 shards; the server hides some to act as a
 * monolithic channel): the same lock whichever form is read and from the reachable subset as
 * from the whole index, strict priority across a sharded and a monolithic channel, broken and
 * missing shards, an index that changes between runs (with garbage collection), offline use of
 * a warm cache, and SIGTERM while loading repodata and while solving.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { solve } from '@poncho/creator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHANNEL_SUBDIRS,
  ensureTestChannel,
  INSTALLABLE_SPECS,
  SERVE_MONOLITHIC,
  SERVE_PLAIN_JSON,
  type ServedChannel,
  serveChannel,
  writeCompressedRepodata,
  writeShards,
} from './channel/index.js';

const SPECS = INSTALLABLE_SPECS;

let channelDir: string;
let work: string;
const servers: ServedChannel[] = [];

async function serve(dir: string, hide?: RegExp): Promise<ServedChannel> {
  const served = await serveChannel(dir, hide ? { hide } : {});
  servers.push(served);
  return served;
}

beforeAll(async () => {
  channelDir = await ensureTestChannel();
  work = await mkdtemp(join(tmpdir(), 'poncho-repodata-'));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  if (work) await rm(work, { recursive: true, force: true });
});

/** The lock as text with the channel's URL replaced, to compare locks from different servers. */
function normalized(lock: unknown, url: string): string {
  return JSON.stringify(lock).replaceAll(url, 'CHANNEL');
}

/** A copy of the test channel's indexes (no packages: these tests only solve). */
async function copyIndexes(dest: string): Promise<string> {
  for (const subdir of CHANNEL_SUBDIRS) {
    await cp(join(channelDir, subdir), join(dest, subdir), {
      recursive: true,
      filter: (source) => !/\.(conda|tar\.bz2)$/.test(source),
    });
  }
  return dest;
}

function cacheDir(name: string): string {
  return join(work, 'caches', name);
}

describe('one lock from every form of the same channel', () => {
  it('shards, repodata.json.zst, repodata.json, a local folder and the whole index agree', async () => {
    const sharded = await serve(channelDir);
    const zst = await serve(channelDir, SERVE_MONOLITHIC);
    const plain = await serve(channelDir, SERVE_PLAIN_JSON);
    const local = pathToFileURL(channelDir).href;
    const fromShards = await solve(SPECS, { channels: [sharded.url], cacheDir: cacheDir('s') });
    const fromZst = await solve(SPECS, { channels: [zst.url], cacheDir: cacheDir('z') });
    const fromJson = await solve(SPECS, { channels: [plain.url], cacheDir: cacheDir('j') });
    const fromFolder = await solve(SPECS, { channels: [channelDir], cacheDir: cacheDir('l') });
    const whole = await solve(
      SPECS,
      { channels: [sharded.url], cacheDir: cacheDir('s') },
      { everything: true },
    );
    const expected = normalized(fromShards, sharded.url);
    expect(fromShards.packages.map((p) => p.name)).toContain('chain-base');
    expect(normalized(fromZst, zst.url)).toBe(expected);
    expect(normalized(fromJson, plain.url)).toBe(expected);
    expect(normalized(fromFolder, local)).toBe(expected);
    expect(normalized(whole, sharded.url)).toBe(expected);
    // Each server was read in its own form only.
    expect(sharded.requests.filter((r) => r.includes('repodata.json'))).toEqual([]);
    expect(zst.requests).toContain('GET /noarch/repodata.json.zst 200');
    expect(zst.requests.filter((r) => /repodata\.json 200/.test(r))).toEqual([]);
    expect(plain.requests).toContain('GET /noarch/repodata.json 200');
  });

  it('reads only the shards the specs reach, and a warm cache fetches none again', async () => {
    const sharded = await serve(channelDir);
    let records = 0;
    let names = 0;
    const lock = await solve(
      ['hello-cli'],
      { channels: [sharded.url], cacheDir: cacheDir('few') },
      {
        onSubset: (subset) => {
          records = subset.records;
          names = subset.names.size;
        },
      },
    );
    expect(lock.packages.map((p) => p.name)).toEqual(['hello-cli', 'python']);
    // hello-cli -> python -> __glibc: three names; the channel has 13.
    expect(names).toBe(3);
    expect(records).toBe(4); // hello-cli and python, each as .conda and .tar.bz2
    const shardGets = sharded.requests.filter((r) => r.includes('/shards/'));
    expect(shardGets).toHaveLength(2);
    expect(shardGets.every((r) => r.endsWith(' 200'))).toBe(true);
    // The decoded shard indexes are kept beside the indexes, for the next solve.
    const docs = await readdir(join(cacheDir('few'), 'docs'));
    expect(docs.filter((n) => n.endsWith('.shardnames'))).toHaveLength(2);
    const before = sharded.requests.length;
    const again = await solve(['hello-cli'], {
      channels: [sharded.url],
      cacheDir: cacheDir('few'),
    });
    expect(again).toEqual(lock);
    expect(sharded.requests.slice(before).filter((r) => r.includes('/shards/'))).toEqual([]);
  });
});

describe('monolithic repodata', () => {
  it('a second solve reads the name index kept beside the document, not the document', async () => {
    const zst = await serve(channelDir, SERVE_MONOLITHIC);
    const cache = cacheDir('mono-warm');
    await solve(['hello-cli'], { channels: [zst.url], cacheDir: cache });
    const docs = await readdir(join(cache, 'docs'));
    // Stored decoded, by content; one name index per document.
    expect(docs.filter((n) => n.endsWith('.json')).length).toBe(2); // noarch, linux-64
    expect(docs.filter((n) => n.endsWith('.names')).length).toBe(2);
    const stamps = async () =>
      Promise.all(docs.map(async (n) => (await stat(join(cache, 'docs', n))).mtimeMs));
    const before = await stamps();
    const requests = zst.requests.length;
    await solve(['hello-cli'], { channels: [zst.url], cacheDir: cache });
    // Revalidated (304), nothing downloaded, nothing rescanned or rewritten.
    const again = zst.requests.slice(requests);
    expect(again.filter((r) => r.includes('repodata.json.zst')).sort()).toEqual([
      'GET /linux-64/repodata.json.zst 304',
      'GET /noarch/repodata.json.zst 304',
    ]);
    expect(await stamps()).toEqual(before);
  });
});

describe('strict channel priority across a sharded and a monolithic channel', () => {
  let second: string;

  beforeAll(async () => {
    // A second channel offering hello-cli 9.0 (and nothing the first one lacks).
    second = join(work, 'second');
    const noarch = join(second, 'noarch');
    await mkdir(noarch, { recursive: true });
    const first = JSON.parse(await readFile(join(channelDir, 'noarch', 'repodata.json'), 'utf8'));
    const original = first['packages.conda']['hello-cli-1.0.0-pyh_test_0.conda'];
    const repodata = {
      info: { subdir: 'noarch' },
      packages: {},
      'packages.conda': {
        'hello-cli-9.0.0-pyh_test_0.conda': { ...original, version: '9.0.0' },
      },
      removed: [],
      repodata_version: 1,
    };
    await writeFile(join(noarch, 'repodata.json'), JSON.stringify(repodata));
    await writeCompressedRepodata(noarch);
    await writeShards(noarch, repodata);
  });

  it('takes each name from the first channel that has it, whatever its form', async () => {
    const firstSharded = await serve(channelDir);
    const firstMono = await serve(channelDir, SERVE_MONOLITHIC);
    const secondSharded = await serve(second);
    const secondMono = await serve(second, SERVE_PLAIN_JSON);
    const version = async (channels: string[], name: string) => {
      const lock = await solve(['hello-cli'], { channels, cacheDir: cacheDir(name) });
      return lock.packages.find((p) => p.name === 'hello-cli');
    };
    expect((await version([firstSharded.url, secondMono.url], 'p1'))?.version).toBe('1.0.0');
    expect((await version([firstMono.url, secondSharded.url], 'p2'))?.version).toBe('1.0.0');
    const fromSecond = await version([secondSharded.url, firstMono.url], 'p3');
    expect(fromSecond?.version).toBe('9.0.0');
    expect(fromSecond?.channel).toBe(secondSharded.url);
    const before = firstSharded.requests.length;
    expect((await version([secondMono.url, firstSharded.url], 'p4'))?.version).toBe('9.0.0');
    // The hidden channel's shard of hello-cli is not fetched: only python's.
    expect(firstSharded.requests.slice(before).filter((r) => r.includes('/shards/'))).toHaveLength(
      1,
    );
  });
});

describe('broken, missing and changing shards', () => {
  async function shardOf(dir: string, name: string): Promise<string> {
    const { decode } = await import('@msgpack/msgpack');
    const { decompress } = await import('fzstd');
    const index = decode(
      decompress(await readFile(join(dir, 'noarch', 'repodata_shards.msgpack.zst'))),
    ) as { shards: Record<string, Uint8Array> };
    return Buffer.from(index.shards[name] as Uint8Array).toString('hex');
  }

  it('refuses a shard whose bytes do not match its name, naming the URL, and caches nothing', async () => {
    const dir = await copyIndexes(join(work, 'corrupt'));
    const hash = await shardOf(dir, 'hello-cli');
    const file = join(dir, 'noarch', 'shards', `${hash}.msgpack.zst`);
    const bytes = await readFile(file);
    bytes.writeUInt8((bytes.at(-1) ?? 0) ^ 0xff, bytes.length - 1);
    await writeFile(file, bytes);
    const served = await serve(dir);
    const cache = cacheDir('corrupt');
    const error = await solve(['hello-cli'], { channels: [served.url], cacheDir: cache }).catch(
      (e) => e,
    );
    expect(error.code).toBe('ERR_SHA256_MISMATCH');
    expect(error.message).toContain(`${served.url}/noarch/shards/${hash}.msgpack.zst`);
    expect(await readdir(join(cache, 'shards')).catch(() => [])).not.toContain(
      `${hash}.msgpack.zst`,
    );
    // The same from a local folder.
    const local = await solve(['hello-cli'], { channels: [dir], cacheDir: cache }).catch((e) => e);
    expect(local.code).toBe('ERR_SHA256_MISMATCH');
    expect(local.message).toContain(`${hash}.msgpack.zst`);
  });

  it('reports a missing shard (404) with its URL', async () => {
    const dir = await copyIndexes(join(work, 'missing'));
    const hash = await shardOf(dir, 'hello-cli');
    await rm(join(dir, 'noarch', 'shards', `${hash}.msgpack.zst`));
    const served = await serve(dir);
    const error = await solve(['hello-cli'], {
      channels: [served.url],
      cacheDir: cacheDir('missing'),
    }).catch((e) => e);
    expect(error.code).toBe('ERR_DOWNLOAD');
    expect(error.message).toContain('404');
    expect(error.message).toContain(`${served.url}/noarch/shards/${hash}.msgpack.zst`);
  });

  it('follows an index that changed between runs, fetches only the new shard, and drops the old one', async () => {
    const dir = await copyIndexes(join(work, 'changing'));
    const served = await serve(dir);
    const cache = cacheDir('changing');
    const first = await solve(['hello-cli'], { channels: [served.url], cacheDir: cache });
    expect(first.packages.find((p) => p.name === 'hello-cli')?.version).toBe('1.0.0');
    const oldHash = await shardOf(dir, 'hello-cli');
    expect(await readdir(join(cache, 'shards'))).toContain(`${oldHash}.msgpack.zst`);

    // The channel publishes hello-cli 1.1.0: new repodata, new shard, new index.
    const noarch = join(dir, 'noarch');
    const repodata = JSON.parse(await readFile(join(noarch, 'repodata.json'), 'utf8'));
    const original = repodata['packages.conda']['hello-cli-1.0.0-pyh_test_0.conda'];
    repodata['packages.conda']['hello-cli-1.1.0-pyh_test_0.conda'] = {
      ...original,
      version: '1.1.0',
    };
    await writeFile(join(noarch, 'repodata.json'), JSON.stringify(repodata));
    await writeShards(noarch, repodata);
    const newHash = await shardOf(dir, 'hello-cli');
    expect(newHash).not.toBe(oldHash);

    const before = served.requests.length;
    const second = await solve(['hello-cli'], { channels: [served.url], cacheDir: cache });
    expect(second.packages.find((p) => p.name === 'hello-cli')?.version).toBe('1.1.0');
    const shardGets = served.requests.slice(before).filter((r) => r.includes('/shards/'));
    expect(shardGets).toEqual([`GET /noarch/shards/${newHash}.msgpack.zst 200`]);
    const cached = await readdir(join(cache, 'shards'));
    expect(cached).toContain(`${newHash}.msgpack.zst`);
    expect(cached).not.toContain(`${oldHash}.msgpack.zst`);
  });

  it('solves offline from a warm cache, and names the shard it lacks', async () => {
    const dir = await copyIndexes(join(work, 'offline'));
    const served = await serve(dir);
    const cache = cacheDir('offline');
    const online = await solve(['hello-cli'], { channels: [served.url], cacheDir: cache });
    const before = served.requests.length;
    const offline = await solve(['hello-cli'], {
      channels: [served.url],
      cacheDir: cache,
      offline: true,
    });
    expect(offline).toEqual(online);
    expect(served.requests.length).toBe(before);
    const error = await solve(['chain-top'], {
      channels: [served.url],
      cacheDir: cache,
      offline: true,
    }).catch((e) => e);
    expect(error.code).toBe('ERR_OFFLINE_NO_CACHE');
    expect(error.message).toContain(`${served.url}/noarch/shards/`);
  });
});

describe('signals', () => {
  const CLI = join(__dirname, '..', 'packages', 'creator', 'bin', 'poncho_package_create.js');

  /**
   * Runs the CLI and sends SIGTERM when stderr shows `trigger` (or when the promise resolves);
   * returns the exit code and how long the exit took after the signal.
   */
  function terminateWhen(
    args: string[],
    trigger: RegExp | Promise<unknown>,
    env: Record<string, string>,
  ) {
    return new Promise<{ code: number | null; afterSignalMs: number; stderr: string }>(
      (resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        let sentAt = 0;
        const terminate = () => {
          if (sentAt) return;
          sentAt = performance.now();
          child.kill('SIGTERM');
        };
        if (!(trigger instanceof RegExp)) void trigger.then(terminate);
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (trigger instanceof RegExp && trigger.test(stderr)) terminate();
        });
        child.on('exit', (code) =>
          resolve({ code, afterSignalMs: sentAt ? performance.now() - sentAt : -1, stderr }),
        );
      },
    );
  }

  /** No temporary files left in the repodata cache: whatever is there is whole. */
  async function expectNoLeftovers(cache: string): Promise<void> {
    const leftovers = async (dir: string) =>
      (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.'));
    expect(await leftovers(cache)).toEqual([]);
    expect(await leftovers(join(cache, 'docs'))).toEqual([]);
    expect(await leftovers(join(cache, 'shards'))).toEqual([]);
  }

  it('SIGTERM while repodata.json is half downloaded ends the create with 143 and a consistent cache', async () => {
    const { createServer } = await import('node:http');
    let started: () => void = () => {};
    const bodyStarted = new Promise<void>((resolve) => {
      started = resolve;
    });
    // A monolithic channel whose noarch repodata.json stops halfway.
    const stalling = createServer(async (request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      if (!path.endsWith('/repodata.json')) return void response.writeHead(404).end();
      const body = await readFile(join(channelDir, path));
      if (path.startsWith('/linux-64/')) return void response.end(body);
      response.writeHead(200, { 'content-length': String(body.length) });
      response.write(body.subarray(0, body.length >> 1), () => started());
    });
    await new Promise<void>((resolve) => stalling.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(stalling.address() as { port: number }).port}`;
    const spec = join(work, 'stall-spec.json');
    await writeFile(
      spec,
      JSON.stringify({ conda: { channels: [url], dependencies: ['hello-cli'] } }),
    );
    const cache = cacheDir('sigterm-json');
    try {
      const result = await terminateWhen(
        ['--no-cache', spec, join(work, 'stall.tar.gz')],
        bodyStarted,
        { PONCHO_REPODATA_DIR: cache, PONCHO_PKGS_DIR: join(work, 'stall-pkgs') },
      );
      expect(result.code, result.stderr).toBe(143);
      expect(result.afterSignalMs).toBeLessThan(1000);
      await expectNoLeftovers(cache);
    } finally {
      stalling.closeAllConnections();
      await new Promise((resolve) => stalling.close(resolve));
    }
  });

  it('SIGTERM while a shard download hangs ends the create with 143 and a consistent cache', async () => {
    const { createServer } = await import('node:http');
    const { createReadStream } = await import('node:fs');
    // Serves the channel's indexes, but never answers for shards.
    const hanging = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      if (path.includes('/shards/')) return; // hangs
      const file = join(channelDir, path);
      createReadStream(file)
        .on('error', () => response.writeHead(404).end())
        .pipe(response);
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
    const spec = join(work, 'sig-spec.json');
    await writeFile(
      spec,
      JSON.stringify({ conda: { channels: [url], dependencies: ['hello-cli'] } }),
    );
    const cache = cacheDir('sigterm');
    try {
      const result = await terminateWhen(
        ['--debug', '--no-cache', spec, join(work, 'sig.tar.gz')],
        /repodata/,
        { PONCHO_REPODATA_DIR: cache, PONCHO_PKGS_DIR: join(work, 'sig-pkgs') },
      );
      expect(result.code, result.stderr).toBe(143);
      expect(result.afterSignalMs).toBeLessThan(1000);
      await expectNoLeftovers(cache);
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });

  it('SIGTERM while rattler solves ends the create within a second with 143', async () => {
    // A real, slow solve: 3,000 versions of one package against 50 others that each cap it.
    const dir = join(work, 'slow');
    const records: Record<string, object> = {};
    const sha256 = 'a'.repeat(64);
    for (let i = 0; i < 3000; i += 1) {
      const version = `${Math.floor(i / 1000)}.${i % 1000}.0`;
      records[`many-${version}-h${i}_0.conda`] = {
        name: 'many',
        version,
        build: `h${i}_0`,
        build_number: 0,
        depends: [`dep${i % 50} >=${i % 7}`],
        sha256,
        size: 1,
      };
    }
    for (let d = 0; d < 50; d += 1) {
      for (let j = 0; j < 200; j += 1) {
        records[`dep${d}-${j}.0-h_0.conda`] = {
          name: `dep${d}`,
          version: `${j}.0`,
          build: 'h_0',
          build_number: 0,
          depends: [`many <${j}`],
          sha256,
          size: 1,
        };
      }
    }
    for (const subdir of ['noarch', 'linux-64']) {
      await mkdir(join(dir, subdir), { recursive: true });
      await writeFile(
        join(dir, subdir, 'repodata.json'),
        JSON.stringify({
          info: { subdir },
          packages: {},
          'packages.conda': subdir === 'noarch' ? records : {},
        }),
      );
    }
    const spec = join(work, 'slow-spec.json');
    await writeFile(spec, JSON.stringify({ conda: { channels: [dir], dependencies: ['many'] } }));
    const result = await terminateWhen(
      ['--debug', '--no-cache', spec, join(work, 'slow.tar.gz')],
      /solving on \d+ records/,
      { PONCHO_REPODATA_DIR: cacheDir('slow'), PONCHO_PKGS_DIR: join(work, 'slow-pkgs') },
    );
    expect(result.code, result.stderr).toBe(143);
    expect(result.afterSignalMs).toBeLessThan(1000);
  });
});
