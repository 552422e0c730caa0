import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PonchoError } from '@poncho/core/errors';
import {
  MAX_SHEBANG_LENGTH,
  relocateFile,
  replaceBinaryPrefix,
  replaceTextPrefix,
} from '@poncho/core/relocate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A conda-style placeholder: a path padded to 255 characters. */
const PLACEHOLDER = `/opt/build/${'_placehold'.repeat(30)}`.slice(0, 255);
const text = (buffer: Buffer) => buffer.toString('utf8');

describe('replaceTextPrefix', () => {
  it('replaces every occurrence', () => {
    const data = Buffer.from(`a=${PLACEHOLDER}/lib\nb=${PLACEHOLDER}/share ${PLACEHOLDER}\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, '/env'))).toBe(
      'a=/env/lib\nb=/env/share /env\n',
    );
  });

  it('returns the same buffer when the placeholder is absent', () => {
    const data = Buffer.from('nothing here\n');
    expect(replaceTextPrefix(data, PLACEHOLDER, '/env')).toBe(data);
  });

  it('keeps a short shebang as it is', () => {
    const data = Buffer.from(`#!${PLACEHOLDER}/bin/python3.11 -E\nprint(1)\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, '/env'))).toBe(
      '#!/env/bin/python3.11 -E\nprint(1)\n',
    );
  });

  it('rewrites a too-long python shebang into the /bin/sh exec trick', () => {
    const prefix = `/long/${'x'.repeat(MAX_SHEBANG_LENGTH)}`;
    const data = Buffer.from(`#!${PLACEHOLDER}/bin/python3.11\nimport sys\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, prefix))).toBe(
      `#!/bin/sh\n'''exec' "${prefix}/bin/python3.11" "$0" "$@" #'''\nimport sys\n`,
    );
  });

  it('rewrites a python shebang whose prefix holds a space, keeping its options', () => {
    const data = Buffer.from(`#!${PLACEHOLDER}/bin/python -E\nx = 1\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, '/my env'))).toBe(
      `#!/bin/sh\n'''exec' "/my env/bin/python" -E "$0" "$@" #'''\nx = 1\n`,
    );
  });

  it('escapes shell specials in the exec trick', () => {
    const data = Buffer.from(`#!${PLACEHOLDER}/bin/python3\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, '/a "b" $c'))).toContain(
      `"/a \\"b\\" \\$c/bin/python3"`,
    );
  });

  it('rewrites other long shebangs to /usr/bin/env <name>', () => {
    const prefix = `/${'y'.repeat(130)}`;
    const data = Buffer.from(`#!${PLACEHOLDER}/bin/perl -w\nprint "${PLACEHOLDER}";\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, prefix))).toBe(
      `#!/usr/bin/env perl -w\nprint "${prefix}";\n`,
    );
  });

  it('leaves a shebang without the placeholder alone', () => {
    const data = Buffer.from(`#!/bin/sh\necho ${PLACEHOLDER}\n`);
    expect(text(replaceTextPrefix(data, PLACEHOLDER, '/my env'))).toBe('#!/bin/sh\necho /my env\n');
  });

  it('handles a file that is only a shebang line, and CRLF line ends', () => {
    expect(
      text(replaceTextPrefix(Buffer.from(`#!${PLACEHOLDER}/bin/bash`), PLACEHOLDER, '/a b')),
    ).toBe('#!/usr/bin/env bash');
    expect(
      text(
        replaceTextPrefix(Buffer.from(`#!${PLACEHOLDER}/bin/bash\r\nx\r\n`), PLACEHOLDER, '/a b'),
      ),
    ).toBe('#!/usr/bin/env bash\r\nx\r\n');
  });

  it('refuses an empty placeholder', () => {
    expect(() => replaceTextPrefix(Buffer.from('x'), '', '/env')).toThrow(PonchoError);
  });
});

describe('replaceBinaryPrefix', () => {
  it('replaces inside the C string and pads it with NULs (conda-format example)', () => {
    const data = Buffer.from(`head\0${PLACEHOLDER}/lib/data\0tail`);
    const out = replaceBinaryPrefix(data, PLACEHOLDER, '/tmp/e');
    expect(out.length).toBe(data.length);
    const padding = '\0'.repeat(PLACEHOLDER.length - '/tmp/e'.length);
    expect(text(out)).toBe(`head\0/tmp/e/lib/data${padding}\0tail`);
  });

  it('replaces several occurrences in one C string (a search path) and pads once per occurrence', () => {
    const data = Buffer.from(`${PLACEHOLDER}/lib:${PLACEHOLDER}/lib64\0!`);
    const out = replaceBinaryPrefix(data, PLACEHOLDER, '/e');
    expect(out.length).toBe(data.length);
    expect(text(out)).toBe(`/e/lib:/e/lib64${'\0'.repeat(2 * (PLACEHOLDER.length - 2))}\0!`);
  });

  it('keeps text before the placeholder in the same C string, and handles several strings', () => {
    const data = Buffer.from(`-L${PLACEHOLDER}/lib\0x\0${PLACEHOLDER}\0`);
    const out = replaceBinaryPrefix(data, PLACEHOLDER, '/e');
    expect(out.length).toBe(data.length);
    const pad = '\0'.repeat(PLACEHOLDER.length - 2);
    expect(text(out)).toBe(`-L/e/lib${pad}\0x\0/e${pad}\0`);
  });

  it('treats the end of the data as the end of an unterminated string', () => {
    const data = Buffer.from(`${PLACEHOLDER}/bin`);
    const out = replaceBinaryPrefix(data, PLACEHOLDER, '/e');
    expect(text(out)).toBe(`/e/bin${'\0'.repeat(PLACEHOLDER.length - 2)}`);
  });

  it('accepts a prefix exactly as long as the placeholder and leaves the input untouched', () => {
    const data = Buffer.from(`${PLACEHOLDER}\0`);
    const same = '/'.padEnd(PLACEHOLDER.length, 'z');
    const out = replaceBinaryPrefix(data, PLACEHOLDER, same);
    expect(text(out)).toBe(`${same}\0`);
    expect(text(data)).toBe(`${PLACEHOLDER}\0`);
  });

  it('throws ERR_PREFIX_TOO_LONG for a prefix longer than the placeholder', () => {
    const data = Buffer.from(`/short\0`);
    try {
      replaceBinaryPrefix(data, '/short', '/much/longer/prefix');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PonchoError);
      expect((error as PonchoError).code).toBe('ERR_PREFIX_TOO_LONG');
    }
  });
});

describe('relocateFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'poncho-relocate-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rewrites a text file, keeps its mode, and reports the change', async () => {
    const file = join(dir, 'script');
    await writeFile(file, `#!${PLACEHOLDER}/bin/python3\nprint("${PLACEHOLDER}")\n`);
    await chmod(file, 0o751);
    expect(await relocateFile(file, { placeholder: PLACEHOLDER, mode: 'text' }, '/env')).toBe(true);
    expect(await readFile(file, 'utf8')).toBe('#!/env/bin/python3\nprint("/env")\n');
    expect((await stat(file)).mode & 0o7777).toBe(0o751);
    expect(await relocateFile(file, { placeholder: PLACEHOLDER, mode: 'text' }, '/env')).toBe(
      false,
    );
  });

  it('rewrites a binary file in a new inode (safe for running or hard-linked files)', async () => {
    const file = join(dir, 'lib.so');
    const linked = join(dir, 'cache-copy.so');
    await writeFile(file, Buffer.from(`\x7fELF\0${PLACEHOLDER}/lib\0`));
    execFileSync('ln', [file, linked]);
    expect(await relocateFile(file, { placeholder: PLACEHOLDER, mode: 'binary' }, '/b')).toBe(true);
    const out = await readFile(file);
    expect(out.length).toBe(`\x7fELF\0${PLACEHOLDER}/lib\0`.length);
    expect(out.subarray(0, 11).toString('latin1')).toBe('\x7fELF\0/b/lib');
    expect(await readFile(linked, 'latin1')).toContain(PLACEHOLDER);
  });

  it('refuses a symlink and names a missing file', async () => {
    const link = join(dir, 'link');
    execFileSync('ln', ['-s', '/etc/passwd', link]);
    await expect(
      relocateFile(link, { placeholder: PLACEHOLDER, mode: 'text' }, '/e'),
    ).rejects.toMatchObject({
      code: 'ERR_RELOCATE_NOT_A_FILE',
    });
    await expect(
      relocateFile(join(dir, 'missing'), { placeholder: PLACEHOLDER, mode: 'text' }, '/e'),
    ).rejects.toMatchObject({ code: 'ERR_FILE_NOT_FOUND' });
  });
});
