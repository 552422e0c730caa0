/** The lock schema (@poncho/core/lock) and the installer's progress line. */
import { Writable } from 'node:stream';
import { Lock, serializeLock } from '@poncho/core/lock';
import { createLogger } from '@poncho/core/log';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../dist/install/progress.js';
import { createRepodataProgress } from '../dist/install/repodata/progress.js';

const pkg = (name: string) => ({
  name,
  version: '1.0',
  build: '0',
  buildNumber: 0,
  subdir: 'noarch',
  channel: 'https://c',
  url: `https://c/noarch/${name}-1.0-0.conda`,
  fileName: `${name}-1.0-0.conda`,
  sha256: 'f'.repeat(64),
  depends: [],
});

describe('lock', () => {
  it('parses, defaults pip, and serialises deterministically (packages by name)', () => {
    const lock = {
      lockVersion: 1,
      platform: 'linux-64',
      channels: ['https://c'],
      specs: ['b', 'a'],
      packages: [pkg('b'), pkg('a')],
    };
    const parsed = Lock.parse(lock);
    expect(parsed.pip).toEqual([]);
    const text = serializeLock(parsed);
    expect(JSON.parse(text).packages.map((p: { name: string }) => p.name)).toEqual(['a', 'b']);
    expect(serializeLock(Lock.parse(JSON.parse(text)))).toBe(text);
    expect(Lock.parse(JSON.parse(text))).toEqual({ ...parsed, packages: [pkg('a'), pkg('b')] });
  });
});

describe('progress', () => {
  function sink(isTTY: boolean) {
    let text = '';
    const stream = Object.assign(
      new Writable({
        write(chunk, _enc, cb) {
          text += chunk;
          cb();
        },
      }),
      { isTTY },
    );
    return { stream, text: () => text };
  }

  it('draws packages and bytes on a TTY, and nothing for a short phase otherwise', () => {
    // The logger treats NO_COLOR as "not interactive"; this test is about a plain TTY.
    const noColor = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    const tty = sink(true);
    const progress = createProgress(createLogger({ stream: tty.stream }), { stream: tty.stream });
    progress.phase('downloading', 2, 3_000_000);
    progress.bytes(1_500_000);
    progress.done();
    progress.done();
    progress.finish();
    expect(tty.text()).toContain('downloading 2/2 packages');
    expect(tty.text()).toContain('/ 3.0 MB');
    const quiet = sink(false);
    const none = createProgress(createLogger({ stream: quiet.stream }), { stream: quiet.stream });
    none.phase('downloading', 1);
    none.done();
    none.finish();
    expect(quiet.text()).toBe('');
    if (noColor !== undefined) process.env.NO_COLOR = noColor;
  });
  it('reports repodata bytes and shards on stderr, also when it is not a TTY, unless quiet', () => {
    const noColor = process.env.NO_COLOR;
    delete process.env.NO_COLOR;
    const pipe = sink(false);
    const progress = createRepodataProgress(
      createLogger({ stream: pipe.stream }),
      pipe.stream,
      0, // a line for every event (the CLI uses 2 s)
    );
    progress.downloaded(2_500_000);
    progress.shard(true);
    progress.shard(false);
    progress.names(35);
    progress.finish();
    expect(pipe.text()).toContain('repodata: 2.5 MB downloaded');
    expect(pipe.text().trim().split('\n').at(-1)).toBe(
      'repodata: 2.5 MB downloaded, 1 shards fetched, 1 from the cache, 35 package names reached',
    );
    const tty = sink(true);
    const drawn = createRepodataProgress(createLogger({ stream: tty.stream }), tty.stream);
    drawn.scanned(400_000_000);
    drawn.finish();
    expect(tty.text()).toContain('400.0 MB scanned');
    const quiet = sink(false);
    const silent = createRepodataProgress(
      createLogger({ stream: quiet.stream, level: 'warn' }),
      quiet.stream,
      0,
    );
    silent.downloaded(1);
    silent.finish();
    expect(quiet.text()).toBe('');
    if (noColor !== undefined) process.env.NO_COLOR = noColor;
  });
});
