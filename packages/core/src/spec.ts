/**
 * The environment spec: what `poncho_package_analyze` writes and `poncho_package_create` reads.
 * It is the reference's format, which is also a valid `conda env create` document:
 *
 *   {"conda": {"channels": ["conda-forge"],
 *              "dependencies": ["python=3.11", "pip", "numpy", {"pip": ["uproot==5.0.5"]}]}}
 *
 * The older format (`conda.packages` plus a top-level `pip` list), `pinned`, and the `git` and
 * `http` data sections are accepted on input and normalised by `normalizeSpec`.
 */
import { z } from 'zod';

export const PipSection = z.object({ pip: z.array(z.string().min(1)) }).strict();
export type PipSection = z.infer<typeof PipSection>;

export const Dependency = z.union([z.string().min(1), PipSection]);
export type Dependency = z.infer<typeof Dependency>;

export const GitData = z.object({ remote: z.string().min(1), ref: z.string().min(1).optional() });
export const HttpData = z.object({
  url: z.string().min(1),
  type: z.enum(['file', 'tar']).default('file'),
  compression: z.enum(['gzip', 'bzip2', 'xz', 'none']).optional(),
});

/** Names of data-section variables become environment variables, so they must be valid ones. */
const VariableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');

/** Any spec as found on disk (current or old format). Unknown top-level keys are ignored. */
export const SpecInput = z.object({
  conda: z
    .object({
      channels: z.array(z.string().min(1)).optional(),
      dependencies: z.array(Dependency).optional(),
      packages: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  pip: z.array(z.string().min(1)).optional(),
  pinned: z.object({ conda: z.record(z.string(), z.string()).optional() }).optional(),
  git: z.record(VariableName, GitData).optional(),
  http: z.record(VariableName, HttpData).optional(),
});
export type SpecInput = z.infer<typeof SpecInput>;

/** The spec in its current format, as written by the analyzer. */
export interface Spec {
  conda: { channels: string[]; dependencies: Dependency[] };
  pinned?: { conda?: Record<string, string> };
  git?: Record<string, z.infer<typeof GitData>>;
  http?: Record<string, z.infer<typeof HttpData>>;
}

/** The channels the reference uses when a spec names none. */
export const DEFAULT_SPEC_CHANNELS = ['conda-forge', 'defaults'];

/** Converts a parsed spec of either format into the current one. */
export function normalizeSpec(input: SpecInput): Spec {
  const conda = input.conda ?? {};
  const dependencies: Dependency[] = [];
  const pip: string[] = [];
  for (const dep of [...(conda.dependencies ?? []), ...(conda.packages ?? [])]) {
    if (typeof dep === 'string') dependencies.push(dep);
    else pip.push(...dep.pip);
  }
  pip.push(...(input.pip ?? []));
  if (pip.length > 0) dependencies.push({ pip });
  const spec: Spec = { conda: { channels: conda.channels ?? DEFAULT_SPEC_CHANNELS, dependencies } };
  if (input.pinned) spec.pinned = input.pinned;
  if (input.git) spec.git = input.git;
  if (input.http) spec.http = input.http;
  return spec;
}

/** The conda match specs of a spec (everything but the pip section). */
export function condaDependencies(spec: Spec): string[] {
  return spec.conda.dependencies.filter((d): d is string => typeof d === 'string');
}

/** The pip requirements of a spec. */
export function pipDependencies(spec: Spec): string[] {
  return spec.conda.dependencies.flatMap((d) => (typeof d === 'string' ? [] : d.pip));
}

/**
 * Serialises a spec the way the reference does (JSON, indent 4, keys sorted at every level),
 * so that the same spec always gives the same bytes.
 */
export function serializeSpec(spec: Spec): string {
  return `${JSON.stringify(sortKeys(spec), null, 4)}\n`;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
