/**
 * Import name -> package, in this order: the user's `--pkg-mapping`, the active conda
 * environment (exact pins), the bundled depfinder-derived table, and last the import name
 * itself, named as conda-forge names Python packages. Dotted names are matched longest prefix
 * first (`google.cloud.storage`, then `google.cloud`, then `google`): namespace packages
 * (google, azure, zope, backports...) are shared by many distributions.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '@poncho/core/errors';
import { type PrefixIndex, type Provider, pin, providerOf } from './prefix.js';
import { type ParsedPackage, parseCondaSpec, parsePipRequirement } from './requirements.js';

export type PackageResolution = 'mapping' | 'conda-prefix' | 'pip' | 'depfinder' | 'name';

export interface ResolvedPackage {
  resolution: PackageResolution;
  /** Conda match spec (`pyyaml`, `numpy=1.26.4=py311h...`) or, for `pip`, a pip requirement. */
  spec: string;
  /** Which section of the spec it goes to. */
  section: 'conda' | 'pip';
}

const PIP_PREFIX = 'pip:';

/** Read-only lookups over a parsed JSON object (building a Map of 4,600 rows costs ms). */
export class Lookup {
  constructor(private readonly rows: Record<string, string>) {}
  has(key: string): boolean {
    return Object.hasOwn(this.rows, key);
  }
  get(key: string): string | undefined {
    return Object.hasOwn(this.rows, key) ? this.rows[key] : undefined;
  }
  keys(): string[] {
    return Object.keys(this.rows);
  }
}

interface ImportTable {
  /** Import name (dotted for namespace portions) -> conda package. */
  map: Lookup;
  /** Namespace package -> the separator conda-forge puts between its parts (`-` or `.`). */
  namespaces: Lookup;
}

let table: ImportTable | undefined;

/** The bundled import table (data/depfinder-map.json, see scripts/gen-depfinder.py). */
function importTable(): ImportTable {
  if (!table) {
    const data = JSON.parse(
      readFileSync(new URL('../data/depfinder-map.json', import.meta.url), 'utf8'),
    ) as { map: Record<string, string>; namespaces: Record<string, string> };
    table = { map: new Lookup(data.map), namespaces: new Lookup(data.namespaces) };
  }
  return table;
}

/** The bundled import -> conda table (depfinder's, with import-overrides.tsv applied). */
export function depfinderTable(): Lookup {
  return importTable().map;
}

/** The bundled namespace packages (`google`, `google.cloud`, `zope`...) and their separators. */
export function namespacePackages(): Lookup {
  return importTable().namespaces;
}

/**
 * The conda-forge name for an import nothing knows: lower case, `_` as `-` (`dask_awkward` is
 * `dask-awkward`), as conda-forge names Python packages. Below a namespace package, the
 * namespace and the next part, joined as that family is (`google.cloud.foo` ->
 * `google-cloud-foo`, `backports.foo` -> `backports.foo`).
 */
export function condaForgeName(module: string): string {
  const parts = module.split('.');
  const namespaces = namespacePackages();
  for (let n = parts.length - 1; n > 0; n--) {
    const separator = namespaces.get(parts.slice(0, n).join('.'));
    if (separator === undefined) continue;
    const portion = parts.slice(0, n + 1);
    return separator === '-'
      ? portion.join('-').toLowerCase().replace(/_/g, '-')
      : portion.join('.').toLowerCase();
  }
  // A leading underscore marks a private module, never part of a distribution's name.
  return (parts[0] ?? module).toLowerCase().replace(/^_+/, '').replace(/_/g, '-') || module;
}

/** Parses `IMPORT=NAME` arguments (NAME a conda package or match spec, or `pip:REQUIREMENT`). */
export function parsePackageMappings(values: readonly string[]): Map<string, string> {
  const mappings = new Map<string, string>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const module = value.slice(0, eq).trim();
    const name = value.slice(eq + 1).trim();
    if (eq <= 0 || !name || !/^[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*$/.test(module)) {
      throw new UsageError(
        `--pkg-mapping ${JSON.stringify(value)} is not IMPORT=NAME`,
        'Write it as the imported module name (dotted names allowed: google.cloud.storage), "=", and the package, e.g. --pkg-mapping yaml=pyyaml (or yaml=pip:PyYAML).',
      );
    }
    const isPip = name.startsWith(PIP_PREFIX);
    const body = isPip ? name.slice(PIP_PREFIX.length).trim() : name;
    const problem = !body
      ? 'no package named after "pip:"'
      : /\s/.test(body)
        ? 'a package has no spaces (version constraints go to --extra-pkg)'
        : packageProblem(isPip ? parsePipRequirement(body) : parseCondaSpec(body));
    if (problem !== undefined) {
      throw new UsageError(
        `--pkg-mapping ${JSON.stringify(value)}: ${problem}`,
        isPip
          ? 'Give a pip requirement after pip:, e.g. --pkg-mapping mylib=pip:mylib-dist'
          : 'Give a conda package after =, e.g. --pkg-mapping yaml=pyyaml (pip:NAME for a pip package).',
      );
    }
    mappings.set(module, isPip ? `${PIP_PREFIX}${body}` : body);
  }
  return mappings;
}

function packageProblem(parsed: ParsedPackage | string): string | undefined {
  return typeof parsed === 'string' ? parsed : undefined;
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

  /**
   * The package of an import, on the longest dotted prefix known to each source in turn: the
   * user's mappings, the environment, the bundled table, then the conda-forge-style name.
   */
  resolve(module: string): ResolvedPackage {
    const mapped = longestPrefix(module, (n) => this.mappings.has(n));
    if (mapped !== undefined) return this.named(this.mappings.get(mapped) as string, 'mapping');
    const provider = this.prefix ? providerOf(this.prefix, module) : undefined;
    if (provider) return fromProvider(provider);
    const known = longestPrefix(module, (n) => depfinderTable().has(n));
    if (known !== undefined) {
      return this.named(depfinderTable().get(known) as string, 'depfinder');
    }
    return { resolution: 'name', spec: condaForgeName(module), section: 'conda' };
  }

  /** Whether a --pkg-mapping covers `module` (it then wins over every other answer). */
  mapped(module: string): boolean {
    return longestPrefix(module, (n) => this.mappings.has(n)) !== undefined;
  }

  /** A package given by name: pinned from the environment when it is installed there. */
  named(name: string, resolution: PackageResolution): ResolvedPackage {
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
