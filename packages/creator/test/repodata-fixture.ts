/** A minimal valid repodata record for hand-written test channels. */
export function record(name: string, version: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    version,
    build: 'h0_0',
    build_number: 0,
    depends: [],
    sha256: 'a'.repeat(64),
    size: 1,
    ...extra,
  };
}
