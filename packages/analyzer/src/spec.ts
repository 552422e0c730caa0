/**
 * Builds the environment spec (the reference's format, see @poncho/core/spec) from the
 * resolved packages: one entry per package name, sorted, the pip section last. `python` and
 * `pip` are always present; `--extra-pkg` entries win over what was inferred for the same name.
 */
import type { Spec } from '@poncho/core/spec-format';

export interface SpecParts {
  channels: string[];
  python: string;
  pip: string;
  conda: string[];
  pipRequirements: string[];
  extraConda: string[];
  extraPip: string[];
}

/** The package name of a conda match spec or pip requirement (`numpy=1.2=b` / `numpy >=1` -> numpy). */
export function packageName(spec: string): string {
  return (spec.trim().split(/[\s=<>!~;[(@,]/, 1)[0] ?? spec).toLowerCase();
}

function merge(inferred: string[], extra: string[]): string[] {
  const byName = new Map<string, string>();
  for (const spec of inferred)
    if (!byName.has(packageName(spec))) byName.set(packageName(spec), spec);
  for (const spec of extra) byName.set(packageName(spec), spec);
  return [...byName.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, spec]) => spec);
}

export function buildSpec(parts: SpecParts): Spec {
  const conda = merge([parts.python, parts.pip, ...parts.conda], parts.extraConda);
  const pip = merge(parts.pipRequirements, parts.extraPip);
  return {
    conda: {
      channels: [...parts.channels],
      dependencies: pip.length > 0 ? [...conda, { pip }] : conda,
    },
  };
}
