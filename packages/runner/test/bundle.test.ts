/**
 * The built CLI bundle and its V8 code cache (bundle.mjs): the cache must match the bundle and
 * this Node, or every cold run compiles the runner's code again (~30 ms).
 */
import { readFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';

const bundle = join(import.meta.dirname, '..', 'dist', 'bundle', 'cli.cjs');

describe('dist/bundle', () => {
  it('has a code cache that this Node accepts for the bundle', () => {
    const script = new Script(Module.wrap(readFileSync(bundle, 'utf8')), {
      filename: bundle,
      cachedData: readFileSync(`${bundle}.cache`),
    });
    expect(script.cachedDataRejected).toBe(false);
  });

  it('exports the CLI entry the bin shims call', () => {
    const cli = { exports: {} as Record<string, unknown> };
    new Script(Module.wrap(readFileSync(bundle, 'utf8')), { filename: bundle }).runInThisContext()(
      cli.exports,
      Module.createRequire(bundle),
      cli,
      bundle,
      join(bundle, '..'),
    );
    expect(typeof cli.exports.main).toBe('function');
  });
});
