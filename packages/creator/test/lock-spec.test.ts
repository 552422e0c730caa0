/**
 * lockSpec's refusal to pin a pip section for another platform: pip resolves by running the
 * environment's python, which this machine cannot. Refused before any solve (the channel here
 * answers nothing).
 */
import { describe, expect, it } from 'vitest';
import { lockSpec } from '../dist/lock-spec.js';

const source = (dependencies: Array<string | { pip: string[] }>) => ({
  kind: 'spec' as const,
  spec: { conda: { channels: ['http://127.0.0.1:9/nothing'], dependencies } },
  source: 'spec.json',
  baseDir: '.',
});

describe('lockSpec with a pip section', () => {
  it('refuses another platform before solving, saying why', async () => {
    const other = process.arch === 'arm64' ? 'linux-64' : 'osx-arm64';
    await expect(
      lockSpec(source(['python=3.11', 'pip', { pip: ['greet'] }]), { platform: other }),
    ).rejects.toMatchObject({
      code: 'ERR_PIP_LOCK_PLATFORM',
      message: expect.stringContaining(`cannot pin the pip section (greet) for ${other}`),
    });
  });
});
