/**
 * git and http data sections against a real local git repository and a real HTTP server on
 * 127.0.0.1: what lands in the environment, the activation exports, and the refusals
 * (a tar entry escaping its folder, a 404, a missing ref).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchDataSections, urlFileName } from '../dist/data-sections.js';
import { captureLogger } from './capture-logger.js';

let dir: string;
let server: Server;
let url: string;
let repo: string;

/**
 * A tar archive (made by Python's tarfile) with the given members; names are not checked.
 * A value is a file's text, or {symlink: target} / {hardlink: target}.
 */
function tarWith(
  members: Record<string, string | { symlink?: string; hardlink?: string }>,
): Buffer {
  const script = `
import io, sys, tarfile, json
members = json.loads(sys.argv[1])
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w") as tar:
    for name, value in members.items():
        info = tarfile.TarInfo(name)
        if isinstance(value, dict):
            info.type = tarfile.SYMTYPE if "symlink" in value else tarfile.LNKTYPE
            info.linkname = value.get("symlink") or value.get("hardlink")
            tar.addfile(info)
            continue
        data = value.encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
sys.stdout.buffer.write(buffer.getvalue())
`;
  return execFileSync('python3', ['-c', script, JSON.stringify(members)]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'poncho-data-'));
  const files: Record<string, Buffer> = {
    '/notes.txt.gz': gzipSync('compressed notes\n'),
    '/plain.dat': Buffer.from('plain data\n'),
    '/good.tar.gz': gzipSync(tarWith({ 'set/one.txt': 'one\n' })),
    '/evil.tar': tarWith({ 'ok.txt': 'ok\n', '../../escaped.txt': 'gotcha\n' }),
    '/symlink-out.tar': tarWith({ 'up -> ..': { symlink: '../..' }, 'up/x.txt': 'x\n' }),
    '/absolute-link.tar': tarWith({ passwd: { symlink: '/etc/passwd' } }),
    '/through-link.tar': tarWith({ d: { symlink: '.' }, 'd/../../../escaped.txt': 'x\n' }),
    '/hardlink-out.tar': tarWith({ hosts: { hardlink: '/etc/hosts' } }),
    '/private.dat': Buffer.from('secret data\n'),
  };
  server = createServer((request, response) => {
    if (request.url === '/private.dat') {
      // Basic auth, as a URL's user:token turns into.
      const expected = `Basic ${Buffer.from('alice:s3cr3t-t0ken').toString('base64')}`;
      if (request.headers.authorization !== expected) {
        response.writeHead(401).end('who are you');
        return;
      }
    }
    const body = files[request.url ?? ''];
    if (body) response.end(body);
    else response.writeHead(404).end('not here');
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  repo = join(dir, 'repo');
  await mkdir(repo);
  const git = (...args: string[]) =>
    execFileSync('git', [
      '-C',
      repo,
      '-c',
      'user.name=t',
      '-c',
      'user.email=t@example.invalid',
      ...args,
    ]);
  git('init', '--quiet', '-b', 'main');
  await writeFile(join(repo, 'v.txt'), 'v1\n');
  git('add', 'v.txt');
  git('commit', '--quiet', '-m', 'v1');
  git('tag', 'v1');
  await writeFile(join(repo, 'v.txt'), 'v2\n');
  git('commit', '--quiet', '-am', 'v2');
  // git and a server start: seconds when the whole suite shares two cores (10 s timed out).
}, 60_000);

afterAll(async () => {
  await new Promise((done) => server.close(done));
  await rm(dir, { recursive: true, force: true });
});

const spec = (extra: object) => ({ conda: { channels: ['c'], dependencies: [] }, ...extra });

describe('fetchDataSections', () => {
  it('fetches git refs and http files into the prefix, and writes the exports', async () => {
    const prefix = join(dir, 'env1');
    await mkdir(prefix);
    const commit = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD~1']).toString().trim();
    const count = await fetchDataSections(
      prefix,
      spec({
        git: {
          LATEST: { remote: repo },
          TAGGED: { remote: repo, ref: 'v1' },
          BY_COMMIT: { remote: repo, ref: commit },
        },
        http: {
          NOTES: { url: `${url}/notes.txt.gz`, type: 'file', compression: 'gzip' },
          PLAIN: { url: `${url}/plain.dat`, type: 'file' },
          SET: { url: `${url}/good.tar.gz`, type: 'tar', compression: 'gzip' },
        },
      }) as never,
    );
    expect(count).toBe(6);
    const out = execFileSync(
      'sh',
      [
        '-c',
        '. "$1/etc/conda/activate.d/poncho-data.sh"; cat "$LATEST/v.txt" "$TAGGED/v.txt" "$BY_COMMIT/v.txt" "$NOTES" "$PLAIN" "$SET/set/one.txt"; echo "$NOTES"',
        'sh',
        prefix,
      ],
      {
        env: { CONDA_PREFIX: prefix, PATH: process.env.PATH },
      },
    ).toString();
    expect(out).toBe(
      `v2\nv1\nv1\ncompressed notes\nplain data\none\n${prefix}/share/poncho-data/NOTES/notes.txt\n`,
    );
    expect(existsSync(join(prefix, 'share/poncho-data/LATEST/.git'))).toBe(false);
    expect(await readFile(join(prefix, 'etc/conda/deactivate.d/poncho-data.sh'), 'utf8')).toContain(
      'unset NOTES',
    );
  });

  it('refuses a tar entry that would land outside its folder', async () => {
    const prefix = join(dir, 'deep', 'env2');
    await mkdir(prefix, { recursive: true });
    await expect(
      fetchDataSections(
        prefix,
        spec({ http: { EVIL: { url: `${url}/evil.tar`, type: 'tar' } } }) as never,
      ),
    ).rejects.toMatchObject({
      code: 'ERR_UNSAFE_PATH',
      message: expect.stringContaining("'..'"),
    });
    expect(existsSync(join(dir, 'deep', 'escaped.txt'))).toBe(false);
    expect(existsSync(join(prefix, 'share', 'escaped.txt'))).toBe(false);
  });

  it.each([
    ['symlink-out.tar', 'points outside'],
    ['absolute-link.tar', 'absolute path'],
    ['through-link.tar', "'..'"],
    ['hardlink-out.tar', 'hard link'],
  ])('refuses %s (links out of the folder) and writes nothing outside', async (file, reason) => {
    const prefix = join(dir, `links-${file}`, 'env');
    await mkdir(prefix, { recursive: true });
    await expect(
      fetchDataSections(
        prefix,
        spec({ http: { EVIL: { url: `${url}/${file}`, type: 'tar' } } }) as never,
      ),
    ).rejects.toMatchObject({ code: 'ERR_UNSAFE_PATH', message: expect.stringContaining(reason) });
    expect(existsSync(join(dir, `links-${file}`, 'x.txt'))).toBe(false);
    expect(existsSync(join(dir, `links-${file}`, 'escaped.txt'))).toBe(false);
  });

  it('refuses a git repository holding a symlink out of its folder', async () => {
    const evil = join(dir, 'evil-repo');
    await mkdir(evil);
    const git = (...args: string[]) =>
      execFileSync('git', [
        '-C',
        evil,
        '-c',
        'user.name=t',
        '-c',
        'user.email=t@e.invalid',
        ...args,
      ]);
    git('init', '--quiet', '-b', 'main');
    await symlink('../../../../..', join(evil, 'up'));
    git('add', 'up');
    git('commit', '--quiet', '-m', 'link');
    const prefix = join(dir, 'env-git-evil');
    await mkdir(prefix);
    await expect(
      fetchDataSections(prefix, spec({ git: { EVIL: { remote: evil } } }) as never),
    ).rejects.toMatchObject({ code: 'ERR_UNSAFE_PATH', message: expect.stringContaining('up ->') });
  });

  it("sends a URL's user:token as Basic auth and never shows the token", async () => {
    const prefix = join(dir, 'env-auth');
    await mkdir(prefix);
    const { logger, text } = captureLogger();
    const withToken = url.replace('http://', 'http://alice:s3cr3t-t0ken@');
    await fetchDataSections(
      prefix,
      spec({ http: { PRIVATE: { url: `${withToken}/private.dat`, type: 'file' } } }) as never,
      { logger },
    );
    expect(await readFile(join(prefix, 'share/poncho-data/PRIVATE/private.dat'), 'utf8')).toBe(
      'secret data\n',
    );
    expect(text()).toContain('http://***@127.0.0.1');
    const failures = [
      fetchDataSections(
        prefix,
        spec({ http: { GONE: { url: `${withToken}/gone.dat`, type: 'file' } } }) as never,
        { logger },
      ),
      fetchDataSections(
        prefix,
        spec({ git: { NOPE: { remote: `${withToken}/no-repo.git` } } }) as never,
        { logger },
      ),
    ];
    for (const failure of failures) {
      const error = (await failure.catch((e: unknown) => e)) as Error & { hint?: string };
      expect(error).toBeInstanceOf(Error);
      expect(`${error.message} ${error.stack} ${error.hint}`).not.toContain('s3cr3t');
      expect(error.message).toContain('***@127.0.0.1');
    }
    expect(text()).not.toContain('s3cr3t');
  });

  it('names the URL that failed and the ref that does not exist', async () => {
    const prefix = join(dir, 'env3');
    await mkdir(prefix);
    await expect(
      fetchDataSections(
        prefix,
        spec({ http: { GONE: { url: `${url}/gone.dat`, type: 'file' } } }) as never,
      ),
    ).rejects.toMatchObject({
      code: 'ERR_DATA_HTTP',
      message: expect.stringContaining(`http data section GONE: ${url}/gone.dat answered 404`),
    });
    await expect(
      fetchDataSections(
        prefix,
        spec({ git: { NOPE: { remote: repo, ref: 'no-such-ref' } } }) as never,
      ),
    ).rejects.toMatchObject({
      code: 'ERR_DATA_GIT',
      message: expect.stringContaining('no such ref no-such-ref'),
    });
    // A ref that git would read as an option.
    await expect(
      fetchDataSections(
        prefix,
        spec({ git: { OPT: { remote: repo, ref: '--orphan=x' } } }) as never,
      ),
    ).rejects.toMatchObject({
      code: 'ERR_DATA_GIT',
      message: expect.stringContaining('invalid ref --orphan=x'),
    });
  });

  it('names downloads after the URL', () => {
    expect(urlFileName('https://h/a/b/data.csv.gz', 'gzip')).toBe('data.csv');
    expect(urlFileName('https://h/', undefined)).toBe('data');
    expect(urlFileName('https://h/x%20y.bin')).toBe('x y.bin');
  });
});
