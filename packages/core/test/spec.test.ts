import { normalizeSpec, SpecInput, serializeSpec } from '@poncho/core/spec';
import { describe, expect, it } from 'vitest';

describe('spec', () => {
  it('normalises the old format into the current one', () => {
    const spec = normalizeSpec(
      SpecInput.parse({
        conda: { channels: ['c'], packages: ['python=3.11', 'numpy'] },
        pip: ['uproot==5.0.5'],
      }),
    );
    expect(spec.conda.dependencies).toEqual(['python=3.11', 'numpy', { pip: ['uproot==5.0.5'] }]);
  });

  it('defaults the channels like the reference', () => {
    expect(
      normalizeSpec(SpecInput.parse({ conda: { dependencies: ['python'] } })).conda.channels,
    ).toEqual(['conda-forge', 'defaults']);
  });

  it('serialises with sorted keys and indent 4', () => {
    const text = serializeSpec({ conda: { dependencies: ['python'], channels: ['conda-forge'] } });
    expect(text).toBe(
      '{\n    "conda": {\n        "channels": [\n            "conda-forge"\n        ],\n        "dependencies": [\n            "python"\n        ]\n    }\n}\n',
    );
  });

  it('names the wrong field', () => {
    const result = SpecInput.safeParse({ conda: { dependencies: [3] } });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['conda', 'dependencies', 0]);
  });
});
