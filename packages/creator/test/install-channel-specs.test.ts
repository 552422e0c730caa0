import { describe, expect, it } from 'vitest';
import { splitChannelSpecs } from '../dist/install/channel-specs.js';

describe('channel-qualified specs', () => {
  it('splits the channel (and subdir) off, for every form conda reads', () => {
    const split = splitChannelSpecs([
      'conda-forge::numpy >=1.26',
      'https://host.example/chan::scipy',
      'pandas[channel=bioconda, build=py311*]',
      "tool 1.0[channel='conda-forge/noarch']",
      '*/noarch::six',
      'python=3.11',
    ]);
    expect(split.specs).toEqual([
      'numpy >=1.26',
      'scipy',
      'pandas[build=py311*]',
      'tool 1.0',
      'six',
      'python=3.11',
    ]);
    expect(Object.fromEntries(split.pins)).toEqual({
      numpy: {
        url: 'https://conda.anaconda.org/conda-forge',
        written: 'conda-forge::numpy >=1.26',
      },
      scipy: { url: 'https://host.example/chan', written: 'https://host.example/chan::scipy' },
      pandas: {
        url: 'https://conda.anaconda.org/bioconda',
        written: 'pandas[channel=bioconda, build=py311*]',
      },
      tool: {
        url: 'https://conda.anaconda.org/conda-forge',
        subdir: 'noarch',
        written: "tool 1.0[channel='conda-forge/noarch']",
      },
      six: { subdir: 'noarch', written: '*/noarch::six' },
    });
    expect(split.channels).toEqual(['conda-forge', 'https://host.example/chan', 'bioconda']);
  });

  it('refuses one package pinned to two channels, and an empty channel', () => {
    expect(() => splitChannelSpecs(['a::x', 'b::x'])).toThrow(
      expect.objectContaining({ code: 'ERR_SPEC_INVALID' }),
    );
    expect(() => splitChannelSpecs(['::x'])).toThrow(/empty channel/);
  });
});
