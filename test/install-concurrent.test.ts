/**
 * Four creators, four separate processes, one cold package cache: each package is downloaded
 * exactly once (counted by the HTTP server), and all four environments work.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureTestChannel, type ServedChannel, serveChannel } from './channel/index.js';

const run = promisify(execFile);
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SPECS = [
  'python 3.11.*',
  'hello-cli',
  'chain-top',
  'prefix-echo',
  'softlink-demo',
  'legacy-oldstyle',
];

// The child: the built library, nothing else (run from the repository root so that
// '@poncho/creator' resolves to the workspace package).
const CHILD = `
import { createEnvironment } from '@poncho/creator';
const [channel, prefix, pkgsDir, cacheDir, ...specs] = process.argv.slice(1);
const { lock } = await createEnvironment(specs, prefix, { channels: [channel], pkgsDir, cacheDir });
process.stdout.write(JSON.stringify(lock.packages.map((p) => p.fileName)));
`;

let served: ServedChannel;
let work: string;

beforeAll(async () => {
  served = await serveChannel(await ensureTestChannel());
  work = await mkdtemp(join(tmpdir(), 'poncho-concurrent-'));
});

afterAll(async () => {
  await served?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function creator(
  index: number,
): Promise<{ code: number | null; stdout: string; stderr: string; prefix: string }> {
  const prefix = join(work, `env-${index}`);
  const args = [
    '--input-type=module',
    '-e',
    CHILD,
    served.url,
    prefix,
    join(work, 'pkgs'),
    join(work, `repodata-${index}`),
    ...SPECS,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, prefix }));
  });
}

it('four creators at once on a cold package cache download every package once', async () => {
  const before = served.requests.length;
  const results = await Promise.all([0, 1, 2, 3].map(creator));
  for (const r of results) expect(r.code, r.stderr).toBe(0);
  const files: string[] = JSON.parse(results[0]?.stdout ?? '[]');
  expect(files.length).toBeGreaterThan(4);
  for (const r of results) expect(JSON.parse(r.stdout)).toEqual(files);

  const downloads = served.requests
    .slice(before)
    .filter((line) => /^GET \/[^ ]+\.(conda|tar\.bz2) 200$/.test(line));
  for (const file of files) {
    expect(
      downloads.filter((line) => line.includes(`/${file} `)),
      file,
    ).toHaveLength(1);
  }
  expect(downloads).toHaveLength(files.length);

  for (const r of results) {
    const env = { PATH: '/usr/bin:/bin' };
    expect((await run(join(r.prefix, 'bin/hello-poncho'), [], { env })).stdout).toContain(r.prefix);
    expect((await run(join(r.prefix, 'bin/prefix-echo'), [], { env })).stdout).toContain(r.prefix);
    const imported = await run(
      join(r.prefix, 'bin/python'),
      ['-c', 'import chain_top, sys; print(sys.prefix)'],
      { env },
    );
    expect(imported.stdout.trim()).toBe(r.prefix);
  }
  // The cache holds exactly one archive and one extracted folder per package, nothing else.
  const cache = (await readdir(join(work, 'pkgs'))).sort();
  const expected = files.flatMap((f) => [f, f.replace(/\.(conda|tar\.bz2)$/, '')]).sort();
  expect(cache).toEqual(expected);
});
