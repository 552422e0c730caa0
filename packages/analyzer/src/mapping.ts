/**
 * Import name -> package, in this order: the user's `--pkg-mapping`, the active conda
 * environment (exact pins), the bundled depfinder-derived table, and last the import name
 * itself. Dotted names are matched longest prefix first (`google.cloud.storage`, then
 * `google.cloud`, then `google`).
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '@poncho/core/errors';
import { type PrefixIndex, type Provider, pin } from './prefix.js';

export type PackageResolution = 'mapping' | 'conda-prefix' | 'pip' | 'depfinder' | 'name';

export interface ResolvedPackage {
  resolution: PackageResolution;
  /** Conda match spec (`pyyaml`, `numpy=1.26.4=py311h...`) or, for `pip`, a pip requirement. */
  spec: string;
  /** Which section of the spec it goes to. */
  section: 'conda' | 'pip';
}

const PIP_PREFIX = 'pip:';

let depfinder: Map<string, string> | undefined;

/** The bundled import -> conda table (data/depfinder-map.json, see scripts/gen-depfinder.py). */
export function depfinderTable(): ReadonlyMap<string, string> {
  depfinder ??= new Map(
    Object.entries(
      (
        JSON.parse(
          readFileSync(new URL('../data/depfinder-map.json', import.meta.url), 'utf8'),
        ) as {
          map: Record<string, string>;
        }
      ).map,
    ),
  );
  return depfinder;
}

/** Parses `IMPORT=NAME` arguments (NAME may start with `pip:`). */
export function parsePackageMappings(values: readonly string[]): Map<string, string> {
  const mappings = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const module = value.slice(0, eq).trim();
    const name = value.slice(eq + 1).trim();
    if (eq <= 0 || !name || !/^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*$/.test(module)) {
      throw new UsageError(
        `--pkg-mapping ${JSON.stringify(value)} is not IMPORT=NAME`,
        'Write it as the imported module name, "=", and the package, e.g. --pkg-mapping yaml=pyyaml (or yaml=pip:PyYAML).',
      );
    }
    mappings.set(module, name);
  }
  return mappings;
}

/** The longest dotted prefix of `module` that `has` accepts. */
function longestPrefix(module: string, has: (name: string) => boolean): string | undefined {
  const parts = module.split('.');
  for (let n = parts.length; n > 0; n--) {
    const candidate = parts.slice(0, n).join('.');
    if (has(candidate)) return candidate;
  }
  return undefined;
}

export class PackageMapper {
  constructor(
    private readonly mappings: ReadonlyMap<string, string>,
    private readonly prefix: PrefixIndex | undefined,
  ) {}

  resolve(module: string): ResolvedPackage {
    const top = module.split('.')[0] ?? module;
    const mapped = longestPrefix(module, (n) => this.mappings.has(n));
    if (mapped !== undefined) return this.named(this.mappings.get(mapped) as string, 'mapping');
    const provider = this.prefix?.modules.get(top);
    if (provider) return fromProvider(provider);
    const table = depfinderTable();
    const known = longestPrefix(module, (n) => table.has(n));
    if (known !== undefined) {
      return this.named(table.get(known) as string, 'depfinder');
    }
    // Conda package names are lower case.
    return { resolution: 'name', spec: top.toLowerCase(), section: 'conda' };
  }

  /** A package given by name: pinned from the environment when it is installed there. */
  private named(name: string, resolution: PackageResolution): ResolvedPackage {
    if (name.startsWith(PIP_PREFIX)) {
      const requirement = name.slice(PIP_PREFIX.length);
      const installed = this.prefix?.pip.get(requirement.toLowerCase());
      return { resolution, spec: installed ? pin(installed) : requirement, section: 'pip' };
    }
    const conda = this.prefix?.conda.get(name);
    if (conda) return { resolution, spec: pin(conda), section: 'conda' };
    const pip = resolution === 'mapping' ? this.prefix?.pip.get(name.toLowerCase()) : undefined;
    if (pip) return { resolution, spec: pin(pip), section: 'pip' };
    return { resolution, spec: name, section: 'conda' };
  }
}

function fromProvider(provider: Provider): ResolvedPackage {
  return provider.kind === 'conda'
    ? { resolution: 'conda-prefix', spec: pin(provider), section: 'conda' }
    : { resolution: 'pip', spec: pin(provider), section: 'pip' };
}
