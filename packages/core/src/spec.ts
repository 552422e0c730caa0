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
import {
  DEFAULT_SPEC_CHANNELS,
  type Dependency,
  type PipSection,
  type Spec,
} from './spec-format.js';

export * from './spec-format.js';

export const PipSectionSchema: z.ZodType<PipSection> = z
  .object({ pip: z.array(z.string().min(1)) })
  .strict();

export const DependencySchema: z.ZodType<Dependency> = z.union([
  z.string().min(1),
  PipSectionSchema,
]);

export const GitDataSchema = z.object({
  remote: z.string().min(1),
  ref: z.string().min(1).optional(),
});
export const HttpDataSchema = z.object({
  url: z.string().min(1),
  type: z.enum(['file', 'tar']).default('file'),
  compression: z.enum(['gzip', 'bzip2', 'xz', 'none']).optional(),
});

/** Names of data-section variables become environment variables, so they must be valid ones. */
const VariableName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');

/** Any spec as found on disk (current or old format). Unknown top-level keys are ignored. */
export const SpecInput = z.object({
  conda: z
    .object({
      channels: z.array(z.string().min(1)).optional(),
      dependencies: z.array(DependencySchema).optional(),
      packages: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  pip: z.array(z.string().min(1)).optional(),
  pinned: z.object({ conda: z.record(z.string(), z.string()).optional() }).optional(),
  git: z.record(VariableName, GitDataSchema).optional(),
  http: z.record(VariableName, HttpDataSchema).optional(),
});
export type SpecInput = z.infer<typeof SpecInput>;

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
