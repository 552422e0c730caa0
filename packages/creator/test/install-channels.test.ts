import { describe, expect, it } from 'vitest';
import { resolveChannel, resolveChannels } from '../dist/install/channels.js';
import { checkPlatform, hostPlatform } from '../dist/install/platform.js';
import { detectVirtualPackages, hostMicroarchitecture } from '../dist/install/virtual-packages.js';

describe('channels', () => {
  it('expands names through the channel alias, keeps URLs, turns paths into file:// URLs', () => {
    expect(resolveChannel('conda-forge')).toEqual([
      { url: 'https://conda.anaconda.org/conda-forge', source: 'conda-forge' },
    ]);
    expect(resolveChannel('conda-forge/label/dev', 'https://mirror.example/conda/')[0]?.url).toBe(
      'https://mirror.example/conda/conda-forge/label/dev',
    );
    expect(resolveChannel('http://127.0.0.1:8000/chan/')[0]?.url).toBe(
      'http://127.0.0.1:8000/chan',
    );
    expect(resolveChannel('/srv/channel/')[0]).toMatchObject({
      url: 'file:///srv/channel',
      localPath: '/srv/channel',
    });
    expect(resolveChannel('file:///srv/my%20channel')[0]).toMatchObject({
      localPath: '/srv/my channel',
    });
    expect(resolveChannel('./local')[0]?.localPath).toBe(`${process.cwd()}/local`);
    expect(resolveChannel('defaults').map((c) => c.url)).toEqual([
      'https://repo.anaconda.com/pkgs/main',
      'https://repo.anaconda.com/pkgs/r',
    ]);
  });

  it('drops duplicates (first one keeps priority) and refuses bad input', () => {
    expect(resolveChannels(['a', 'b', 'a']).map((c) => c.url)).toEqual([
      'https://conda.anaconda.org/a',
      'https://conda.anaconda.org/b',
    ]);
    expect(() => resolveChannels([])).toThrow(expect.objectContaining({ code: 'ERR_NO_CHANNELS' }));
    // conda's `nodefaults` is not a channel: dropped, and alone it leaves no channel.
    expect(resolveChannels(['a', 'nodefaults']).map((c) => c.url)).toEqual([
      'https://conda.anaconda.org/a',
    ]);
    expect(() => resolveChannels(['nodefaults'])).toThrow(
      expect.objectContaining({ code: 'ERR_NO_CHANNELS' }),
    );
    expect(() => resolveChannel('ftp://x/y')).toThrow(
      expect.objectContaining({ code: 'ERR_CHANNEL_INVALID' }),
    );
    expect(() => resolveChannel('  ')).toThrow(
      expect.objectContaining({ code: 'ERR_CHANNEL_INVALID' }),
    );
  });
});

describe('platforms and virtual packages', () => {
  it('refuses an override that is no version, as conda does', () => {
    expect(() => detectVirtualPackages('linux-64', {}, { CONDA_OVERRIDE_GLIBC: 'abc' })).toThrow(
      expect.objectContaining({
        code: 'ERR_VIRTUAL_PACKAGE',
        message: expect.stringContaining('CONDA_OVERRIDE_GLIBC'),
      }),
    );
    const glibc = detectVirtualPackages('linux-64', {}, { CONDA_OVERRIDE_GLIBC: '2.28' }).find(
      (v) => v.name === '__glibc',
    );
    expect(glibc?.version).toBe('2.28');
  });

  it.runIf(process.arch === 'x64')(
    'reports the x86-64 microarchitecture level in __archspec',
    () => {
      const v2 = 'cx16 lahf_lm popcnt sse4_1 sse4_2 ssse3';
      const v3 = `${v2} avx avx2 bmi1 bmi2 f16c fma abm movbe xsave`;
      const v4 = `${v3} avx512f avx512bw avx512cd avx512dq avx512vl`;
      expect(hostMicroarchitecture('flags\t\t: fpu sse2')).toBe('x86_64');
      expect(hostMicroarchitecture(`flags\t\t: fpu ${v2}`)).toBe('x86_64_v2');
      expect(hostMicroarchitecture(`flags\t\t: ${v3} pni`)).toBe('x86_64_v3');
      expect(hostMicroarchitecture(`flags\t\t: ${v4}`)).toBe('x86_64_v4');
      const archspec = detectVirtualPackages('linux-64').find((v) => v.name === '__archspec');
      expect(archspec?.build).toMatch(/^x86_64(_v[234])?$/);
      expect(archspec?.build).toBe(hostMicroarchitecture());
    },
  );

  it('knows the host platform and refuses unknown ones', () => {
    expect(hostPlatform()).toMatch(/^(linux|osx|win)-/);
    expect(checkPlatform('osx-arm64')).toBe('osx-arm64');
    expect(() => checkPlatform('amiga-68k')).toThrow(
      expect.objectContaining({ code: 'ERR_PLATFORM' }),
    );
  });

  it('detects glibc, linux, unix and archspec on a linux host', () => {
    if (hostPlatform() !== 'linux-64') return;
    const found = Object.fromEntries(
      detectVirtualPackages('linux-64', {}, {}).map((v) => [v.name, v]),
    );
    const glibc = (process.report.getReport() as { header: { glibcVersionRuntime: string } }).header
      .glibcVersionRuntime;
    expect(found.__glibc?.version).toBe(glibc);
    expect(found.__unix).toBeDefined();
    expect(found.__linux?.version).toMatch(/^\d+(\.\d+)*$/);
    expect(found.__archspec).toMatchObject({ version: '1', build: hostMicroarchitecture() });
  });

  it('uses conda defaults for another platform and honours CONDA_OVERRIDE_* and options', () => {
    const osx = detectVirtualPackages('osx-arm64', {}, {});
    expect(osx.map((v) => v.name).sort()).toEqual(['__archspec', '__osx', '__unix']);
    expect(osx.find((v) => v.name === '__archspec')?.build).toBe('arm64');
    const env = { CONDA_OVERRIDE_GLIBC: '2.17', CONDA_OVERRIDE_CUDA: '12.2' };
    const overridden = detectVirtualPackages('linux-64', {}, env);
    expect(overridden.find((v) => v.name === '__glibc')?.version).toBe('2.17');
    expect(overridden.find((v) => v.name === '__cuda')?.version).toBe('12.2');
    // Options win over the environment; an empty value removes the package.
    const byOption = detectVirtualPackages('linux-64', { __glibc: '2.28', cuda: '' }, env);
    expect(byOption.find((v) => v.name === '__glibc')?.version).toBe('2.28');
    expect(byOption.find((v) => v.name === '__cuda')).toBeUndefined();
    expect(() => detectVirtualPackages('linux-64', { __glibc: '2.17; rm -rf' }, {})).toThrow(
      expect.objectContaining({ code: 'ERR_VIRTUAL_PACKAGE' }),
    );
  });
});
