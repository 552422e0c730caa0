/**
 * The faults a worker meets besides hostile tarballs (issue 14, and issue 9's TMPDIR part): an
 * unusable TMPDIR or a full disk (125 naming the folder, never 70), archive names that are not
 * UTF-8 (kept as bytes), a `./` entry that would make the environment world-writable, a reader
 * of stderr that went away under --debug. Through the installed launcher and the Node CLI.
 *
 * Read-only and full file systems are real: tmpfs mounts (root only; skipped otherwise, with
 * the reason in the test name).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAUNCHER_BIN, RUNNER_BIN, runRunner } from './support/runner-cli.js';
import { fixtureTarball } from './support/tarballs.js';

const work = mkdtempSync(join(tmpdir(), 'poncho-faults-'));
const mounts: string[] = [];
let tarball: string;
const env = { ...process.env, PONCHO_DEBUG: undefined };
const BINS = [
  ['the launcher', LAUNCHER_BIN],
  ['the Node CLI', RUNNER_BIN],
] as const;

const isRoot = process.getuid?.() === 0;
/** tmpfs mounts need root (CI and the dev containers run as root). */
const canMount = isRoot && probeMount();

function probeMount(): boolean {
  const probe = join(work, 'probe');
  try {
    execFileSync('mkdir', ['-p', probe]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  }
}

async function mountTmpfs(name: string, options: string): Promise<string> {
  const path = join(work, name);
  await mkdir(path, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', path]);
  mounts.push(path);
  return path;
}

function unmount(path: string): void {
  spawnSync('umount', [path]);
  const at = mounts.indexOf(path);
  if (at >= 0) mounts.splice(at, 1);
}

beforeAll(async () => {
  const fixture = await fixtureTarball();
  // A copy in a folder everyone may read (for the runs as another user).
  await chmod(work, 0o755);
  tarball = join(work, 'fixture.tar.gz');
  await copyFile(fixture, tarball);
  await chmod(tarball, 0o644);
});

afterAll(async () => {
  for (const path of [...mounts].reverse()) unmount(path);
  await rm(work, { recursive: true, force: true });
});

/** One tar header block (ustar) with the name and link target given as bytes. */
function tarHeader(
  name: Buffer,
  type: string,
  size: number,
  mode: number,
  linkname: Buffer = Buffer.alloc(0),
): Buffer {
  const header = Buffer.alloc(512);
  name.copy(header, 0, 0, 100);
  const octal = (value: number, width: number) => `${value.toString(8).padStart(width - 1, '0')}\0`;
  header.write(octal(mode, 8), 100, 'latin1');
  header.write(octal(0, 8), 108, 'latin1');
  header.write(octal(0, 8), 116, 'latin1');
  header.write(octal(size, 12), 124, 'latin1');
  header.write(octal(1_700_000_000, 12), 136, 'latin1');
  header.write('        ', 148, 'latin1');
  header.write(type, 156, 'latin1');
  linkname.copy(header, 157, 0, 100);
  header.write('ustar\0', 257, 'latin1');
  header.write('00', 263, 'latin1');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return header;
}

interface ByteEntry {
  name: Buffer | string;
  type: 'file' | 'dir' | 'symlink';
  data?: Buffer | string;
  mode?: number;
  linkname?: Buffer | string;
}

/** A plain tar with exactly these entries (names as bytes, nothing sanitised). */
function byteTar(entries: ByteEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const name = Buffer.isBuffer(entry.name) ? entry.name : Buffer.from(entry.name);
    const data = Buffer.from(entry.data ?? '');
    const type = { file: '0', dir: '5', symlink: '2' }[entry.type];
    const mode = entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644);
    const link =
      entry.linkname === undefined
        ? undefined
        : Buffer.isBuffer(entry.linkname)
          ? entry.linkname
          : Buffer.from(entry.linkname);
    blocks.push(tarHeader(name, type, entry.type === 'file' ? data.length : 0, mode, link));
    if (entry.type === 'file' && data.length > 0)
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('two plain .tar environments of the same size (they differ only in the middle)', () => {
  for (const [label, bin] of BINS) {
    it(`never serve one's folder for the other (${label})`, async () => {
      const make = async (name: string, version: string) => {
        const path = join(work, `${name}-${label.replaceAll(' ', '-')}.tar`);
        await writeFile(
          path,
          byteTar([
            { name: 'bin/', type: 'dir' },
            { name: 'bin/tool', type: 'file', data: `#!/bin/sh\necho ${version}\n`, mode: 0o755 },
          ]),
        );
        return path;
      };
      const v1 = await make('v1', 'one');
      const v2 = await make('v2', 'two');
      expect((await readFile(v1)).length).toBe((await readFile(v2)).length);
      const dir = join(work, `same-size-${label.replaceAll(' ', '-')}`);
      const first = await runRunner(['-e', v1, '-d', dir, 'tool'], { env, bin });
      expect([first.code, first.stdout]).toEqual([0, 'one\n']);
      const warm = await runRunner(['-e', v1, '-d', dir, 'tool'], { env, bin });
      expect([warm.code, warm.stdout]).toEqual([0, 'one\n']);
      const other = await runRunner(['-e', v2, '-d', dir, 'tool'], { env, bin });
      expect(other.stdout).toBe('');
      expect(other.code).toBe(125);
      expect(other.stderr).toContain('holds another environment');
    });
  }
});

describe('a folder shared by many copies of one tarball (a batch system copies it into every sandbox)', () => {
  it('keeps a bounded list of the copies it knows, the newest ones', async () => {
    const dir = join(work, 'many-copies');
    const first = await runRunner(['-e', tarball, '-d', dir, 'true'], { env });
    expect(first.code).toBe(0);
    // As if 299 earlier copies (each its own file) had been checked, a second apart.
    const known = join(dir, '.poncho', 'tarballs');
    const start = Date.now() / 1000 - 1000;
    for (let i = 0; i < 299; i++) {
      const entry = join(known, `1-${1000 + i}-1-1.000000000`);
      await writeFile(entry, '');
      await utimes(entry, start + i, start + i);
    }
    const copy = join(work, 'many-copies-another.tar.gz');
    await copyFile(tarball, copy); // another file: hashed, then known
    const run = await runRunner(['-e', copy, '-d', dir, 'true'], { env });
    expect(run.code).toBe(0);
    const names = await readdir(known);
    expect(names.length).toBeLessThanOrEqual(256);
    expect(names.length).toBeGreaterThanOrEqual(128);
    const key = execFileSync('stat', ['-L', '-c', '%d-%i-%s-%.9Y', copy], { encoding: 'utf8' });
    expect(names).toContain(key.trim()); // the copy just checked
    expect(names).toContain('1-1298-1-1.000000000'); // the newest earlier one
    expect(names).not.toContain('1-1000-1-1.000000000'); // the oldest
    // The copy runs warm now (the launcher finds its entry).
    const warm = await runRunner(['-e', copy, '-d', dir, 'sh', '-c', 'echo warm'], {
      env,
      bin: LAUNCHER_BIN,
    });
    expect([warm.code, warm.stdout]).toEqual([0, 'warm\n']);
  });
});

describe('an unusable TMPDIR: 125 naming the folder, never "a bug in poncho"', () => {
  for (const [label, bin] of BINS) {
    it(`missing (${label})`, async () => {
      const missing = join(work, 'no-such-tmp');
      const result = await runRunner(['-e', tarball, 'true'], {
        env: { ...env, TMPDIR: missing },
        bin,
      });
      expect(result.code, result.stderr).toBe(125);
      expect(result.stderr).toContain(missing);
      expect(result.stderr).toContain('does not exist');
      expect(result.stderr).not.toMatch(/internal error|bug in poncho/);
    });
  }

  it.skipIf(!canMount)('read-only (a tmpfs mounted ro; needs root)', async () => {
    const readOnly = await mountTmpfs('ro-tmp', 'ro,size=1m');
    for (const [, bin] of BINS) {
      const result = await runRunner(['-e', tarball, 'true'], {
        env: { ...env, TMPDIR: readOnly },
        bin,
      });
      expect(result.code, result.stderr).toBe(125);
      expect(result.stderr).toContain(readOnly);
      expect(result.stderr).toContain('read-only');
    }
    unmount(readOnly);
  });

  it.skipIf(!canMount)('a read-only --unpack-to parent: 125 naming it (needs root)', async () => {
    const readOnly = await mountTmpfs('ro-parent', 'ro,size=1m');
    for (const [, bin] of BINS) {
      const result = await runRunner(['-e', tarball, '-d', join(readOnly, 'env'), 'true'], {
        env,
        bin,
      });
      expect(result.code, result.stderr).toBe(125);
      expect(result.stderr).toContain(readOnly);
      expect(result.stderr).toMatch(/read-only/);
    }
    unmount(readOnly);
  });

  it.skipIf(!isRoot)('not writable by the user (run as nobody; needs root)', async () => {
    const closed = join(work, 'closed-tmp');
    await mkdir(closed, { mode: 0o555 });
    await chmod(closed, 0o555);
    for (const [, bin] of BINS) {
      const command = /\.c?js$/.test(bin) ? [process.execPath, bin] : [bin];
      const result = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', ...command, '-e', tarball, 'true'],
        { env: { ...env, TMPDIR: closed }, encoding: 'utf8' },
      );
      expect(result.status, result.stderr).toBe(125);
      expect(result.stderr).toContain(closed);
      expect(result.stderr).toContain('permission denied');
    }
  });

  it.skipIf(!canMount)('full while unpacking into it (tmpfs of 32 KiB; needs root)', async () => {
    // (The fixture needs 16 pages of 4 KiB, 64 KiB, where it is unpacked.)
    const full = await mountTmpfs('full-tmp', 'size=32k');
    const result = await runRunner(['-e', tarball, 'true'], { env: { ...env, TMPDIR: full } });
    expect(result.code, result.stderr).toBe(125);
    expect(result.stderr).toContain(full);
    expect(result.stderr).toContain('no space left');
    expect(await readdir(full)).toEqual([]);
    unmount(full);
  });
});

describe.skipIf(!canMount)(
  'a disk that fills up while the markers are written (needs root)',
  () => {
    it('is 125 naming the file, for every point at which it fills', async () => {
      // A tmpfs with room for this many files and folders (inodes): somewhere in the range the
      // extraction fits and a marker file does not. Each run must fail cleanly or succeed. (A
      // tarball without a manifest: relocation's temporary files would blur the count.)
      const small = join(work, 'small.tar.gz');
      await writeFile(
        small,
        gzipSync(
          byteTar([
            { name: './', type: 'dir' },
            { name: './bin/', type: 'dir' },
            { name: './bin/tool', type: 'file', data: '#!/bin/sh\n', mode: 0o755 },
          ]),
        ),
      );
      const entries = 3;
      const seen: string[] = [];
      for (let inodes = entries - 1; inodes <= entries + 8; inodes++) {
        const disk = await mountTmpfs(`inodes-${inodes}`, `size=8m,nr_inodes=${inodes}`);
        const result = await runRunner(['-e', small, '-d', join(disk, 'env'), 'true'], { env });
        expect(result.stderr).not.toMatch(/internal error|bug in poncho/);
        expect([0, 125]).toContain(result.code);
        if (result.code === 125) {
          expect(result.stderr).toContain('no space left');
          expect(existsSync(join(disk, 'env', '.poncho', 'unpacked.json'))).toBe(false);
        }
        seen.push(result.stderr);
        unmount(disk);
      }
      // The range covered the marker files themselves.
      expect(seen.some((text) => /_package_run_expanded/.test(text))).toBe(true);
    });
  },
);

describe('archive entries', () => {
  it('a ./ entry with mode 0777 leaves the environment root writable only as the umask allows', async () => {
    const archive = join(work, 'world-writable.tar.gz');
    await writeFile(
      archive,
      gzipSync(
        byteTar([
          { name: './', type: 'dir', mode: 0o777 },
          { name: './bin/', type: 'dir', mode: 0o777 },
          { name: './bin/tool', type: 'file', data: '#!/bin/sh\n', mode: 0o755 },
        ]),
      ),
    );
    const show = ['sh', '-c', 'stat -c %a "$CONDA_PREFIX" "$CONDA_PREFIX/bin"'];
    const kept = await runRunner(['-e', archive, '-d', join(work, 'ww'), ...show], { env });
    expect(kept.code, kept.stderr).toBe(0);
    const temporary = await runRunner(['-e', archive, ...show], { env });
    expect(temporary.code, temporary.stderr).toBe(0);
    const umask = process.umask();
    const expected = `${(0o777 & ~umask).toString(8)}\n`.repeat(2);
    expect(kept.stdout).toBe(expected);
    expect(temporary.stdout).toBe(expected);
  });

  it('names that are not UTF-8 stay bytes (two files, not one merged)', async () => {
    const archive = join(work, 'bytes.tar');
    const a = Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0x61, 0xff]); // bin/a\xff
    const b = Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0x61, 0xfe]); // bin/a\xfe
    const link = Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0x6c, 0xe9]); // bin/l\xe9 -> a\xff
    await writeFile(
      archive,
      byteTar([
        { name: 'bin/', type: 'dir' },
        { name: a, type: 'file', data: 'first\n' },
        { name: b, type: 'file', data: 'second\n' },
        { name: link, type: 'symlink', linkname: Buffer.from([0x61, 0xff]) },
      ]),
    );
    for (const [label, bin] of BINS) {
      const dir = join(work, `bytes-${label.replaceAll(' ', '-')}`);
      const result = await runRunner(
        ['-e', archive, '-d', dir, 'sh', '-c', 'cat "$CONDA_PREFIX"/bin/a* | sort'],
        { env, bin },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toBe('first\nsecond\n');
      const names = (await readdir(Buffer.from(join(dir, 'bin')), { encoding: 'buffer' }))
        .map((name) => name.toString('hex'))
        .sort();
      expect(names).toEqual([a, b, link].map((name) => name.subarray(4).toString('hex')).sort());
      expect(await readFile(Buffer.concat([Buffer.from(`${dir}/`), link]), 'utf8')).toBe('first\n');
    }
  });
});

describe('a reader of stderr that went away, with --debug', () => {
  for (const [label, bin] of BINS) {
    it(`still runs the command and removes the temporary folder (${label})`, async () => {
      const runTmp = join(work, `gone-${label.replaceAll(' ', '-')}`);
      await mkdir(runTmp);
      const ran = join(work, `ran-${label.replaceAll(' ', '-')}`);
      const command = /\.c?js$/.test(bin) ? [process.execPath, bin] : [bin];
      // `true` ends (closing the pipe's only reader) long before the runner writes to it.
      const result = spawnSync(
        '/bin/sh',
        [
          '-c',
          '"$@" 2>&1 | true',
          'sh',
          ...command,
          '--debug',
          '-e',
          tarball,
          'sh',
          '-c',
          `echo ran > '${ran}'`,
        ],
        { env: { ...env, TMPDIR: runTmp }, encoding: 'utf8' },
      );
      expect(result.status).toBe(0);
      expect(await readFile(ran, 'utf8')).toBe('ran\n');
      expect(await readdir(runTmp)).toEqual([]);
    });
  }
});
