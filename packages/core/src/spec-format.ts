/**
 * The spec's shape and its canonical serialisation, with no dependency on zod: the analyzer
 * writes specs on every run and should not pay for loading the validation library. The zod
 * schemas that read specs from disk live in spec.ts and re-export everything here.
 */

export interface PipSection {
  pip: string[];
}
export type Dependency = string | PipSection;

export interface GitData {
  remote: string;
  ref?: string | undefined;
}
export interface HttpData {
  url: string;
  type: 'file' | 'tar';
  compression?: 'gzip' | 'bzip2' | 'xz' | 'none' | undefined;
}

/** The spec in its current format, as written by the analyzer. */
export interface Spec {
  conda: { channels: string[]; dependencies: Dependency[] };
  pinned?: { conda?: Record<string, string> };
  git?: Record<string, GitData>;
  http?: Record<string, HttpData>;
}

/** The channels the reference uses when a spec names none. */
export const DEFAULT_SPEC_CHANNELS = ['conda-forge', 'defaults'];

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
