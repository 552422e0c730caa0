/**
 * Local modules: imports that resolve to files shipped with the sources rather than to
 * installed packages. A module is local when it is a file or package beside the importing script
 * (or, for a module inside a package, beside that package), beside a source, in a folder given
 * as a source, or under a `--source-root`.
 * Relative imports (`from . import x`) always are. The files an import loads are returned so the
 * caller can follow their imports too.
 */
import { readdirSync, type Stats, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FoundImport } from './imports.js';
import type { RunInputs } from './run-inputs.js';

export interface LocalModule {
  /** The file or folder the module resolved to (for the report). */
  location: string;
  /** Python files that importing it runs: packages' `__init__.py`, modules, submodules. */
  files: string[];
  /**
   * Its top level is a folder without `__init__.py` (a namespace portion): Python imports a
   * regular package or module of that name from anywhere on sys.path before it.
   */
  namespace?: true;
}

type Kind = 'file' | 'dir' | 'none';

interface Listing {
  kinds: Map<string, Kind>;
  /** The folder's stat taken before listing it (only when inputs are recorded). */
  stat?: Stats | null | 'unknown';
  /** Given to the inputs already. */
  recorded?: true;
}

export class LocalResolver {
  private readonly packageRoots = new Map<string, string>();
  /** (folder of the importer, top-level name) -> the folder that provides it, or null. */
  private readonly rootOf = new Map<string, string | null>();
  private readonly provided = new Map<string, boolean>();
  /** Resolutions already made (the same imports recur across the files of a tree). */
  private readonly walks = new Map<string, LocalModule | null>();

  /**
   * `roots`: folders of the sources, directory arguments and --source-root values. `inputs`
   * records the folders listed (for the whole-run cache).
   */
  constructor(
    readonly roots: readonly string[],
    private readonly inputs?: RunInputs,
  ) {}

  private readonly listings = new Map<string, Listing>();

  /**
   * What is at `path`, from one cached listing of its folder (far fewer system calls than stat).
   * `existence`: only asked to know whether a folder below exists before listing it. Then a
   * "folder" answer is not recorded as an input: the folder's own recorded stat (same inode)
   * shows it still exists, while its parent's listing (a home folder, /tmp) changes often for
   * reasons that do not matter here.
   */
  private kind(path: string, existence = false): Kind {
    const dir = dirname(path);
    let listing = this.listings.get(dir);
    // List only folders known to exist (a failed readdir costs an exception).
    if (!listing && dir !== path && dirname(dir) !== dir && this.kind(dir, true) !== 'dir')
      return 'none';
    if (!listing) {
      listing = { kinds: new Map() };
      // Its stat stands for its listing: taken first, so a change made meanwhile shows later.
      if (this.inputs) listing.stat = statOrUnknown(dir);
      try {
        for (const entry of readdirSync(dir, { withFileTypes: true })) {
          if (entry.isDirectory()) listing.kinds.set(entry.name, 'dir');
          else if (entry.isFile()) listing.kinds.set(entry.name, 'file');
          else if (entry.isSymbolicLink())
            listing.kinds.set(entry.name, statKind(join(dir, entry.name), this.inputs));
        }
      } catch {
        // Missing or unreadable folder: nothing local there.
      }
      this.listings.set(dir, listing);
    }
    const kind = listing.kinds.get(basename(path)) ?? 'none';
    if (this.inputs && !listing.recorded && !(existence && kind === 'dir')) {
      listing.recorded = true;
      if (listing.stat === 'unknown') this.inputs.unverifiable();
      else this.inputs.path(dir, listing.stat ?? null);
    }
    return kind;
  }

  /** The folder above the outermost package (folder with `__init__.py`) that holds `dir`. */
  private packageRoot(dir: string): string {
    let root = this.packageRoots.get(dir);
    if (root === undefined) {
      root =
        this.kind(join(dir, '__init__.py')) === 'file' && dirname(dir) !== dir
          ? this.packageRoot(dirname(dir))
          : dir;
      this.packageRoots.set(dir, root);
    }
    return root;
  }

  /**
   * Folders an absolute import in a file of folder `dir` may resolve in, in order. A script's
   * own folder is on sys.path; a module inside a package sees the folder above the package
   * (so `mypkg/yaml.py` doing `import yaml` still means PyYAML, as in Python 3).
   */
  searchPath(dir: string): string[] {
    return [...new Set([this.packageRoot(dir), ...this.roots])];
  }

  /**
   * Resolves an import made by a file in folder `dir` (the working folder for standard input).
   * Returns undefined when an absolute import is not local.
   */
  resolve(
    found: Pick<FoundImport, 'module' | 'level' | 'names' | 'kind'>,
    dir: string,
  ): LocalModule | undefined {
    if (found.level > 0) {
      let base = dir;
      for (let i = 1; i < found.level; i++) base = dirname(base);
      return (
        this.walk(base, found.module, found.names) ?? {
          location: join(base, ...found.module.split('.')),
          files: [],
        }
      );
    }
    const top = found.module.split('.')[0];
    if (!top) return undefined;
    const key = `${dir}\0${top}`;
    let root = this.rootOf.get(key);
    if (root === undefined) {
      root = this.searchPath(dir).find((candidate) => this.provides(candidate, top)) ?? null;
      this.rootOf.set(key, root);
    }
    if (root === null) return undefined;
    const walkKey = `${root}\0${found.module}\0${found.names.join(',')}`;
    let local = this.walks.get(walkKey);
    if (local === undefined) {
      local = this.walk(root, found.module, found.names) ?? null;
      this.walks.set(walkKey, local);
    }
    return local ?? undefined;
  }

  /** Whether `root` holds a module or package called `name`. */
  private provides(root: string, name: string): boolean {
    const key = `${root}\0${name}`;
    let answer = this.provided.get(key);
    if (answer === undefined) {
      answer = this.look(root, name);
      this.provided.set(key, answer);
    }
    return answer;
  }

  private look(root: string, name: string): boolean {
    return (
      this.kind(join(root, `${name}.py`)) === 'file' ||
      this.kind(join(root, name, '__init__.py')) === 'file' ||
      // A namespace package (no __init__.py) counts only if it holds Python files.
      (this.kind(join(root, name)) === 'dir' &&
        this.kind(join(root, name, '__init__.py')) === 'none' &&
        this.hasPython(join(root, name)))
    );
  }

  private hasPython(dir: string): boolean {
    this.kind(join(dir, '__init__.py'));
    for (const name of this.listings.get(dir)?.kinds.keys() ?? [])
      if (name.endsWith('.py')) return true;
    return false;
  }

  /** Follows `a.b.c` down from `base`, then the imported names as possible submodules. */
  private walk(base: string, module: string, names: readonly string[]): LocalModule | undefined {
    const files: string[] = [];
    let dir = base;
    let location = base;
    let namespace: true | undefined;
    const parts = module ? module.split('.') : [];
    const addInit = (folder: string) => {
      const init = join(folder, '__init__.py');
      if (this.kind(init) === 'file') files.push(init);
    };
    if (parts.length === 0) addInit(base);
    for (const [i, part] of parts.entries()) {
      const folder = join(dir, part);
      const file = join(dir, `${part}.py`);
      // Python's order: a regular package, then a module, then a namespace package.
      if (this.kind(join(folder, '__init__.py')) === 'file') {
        files.push(join(folder, '__init__.py'));
      } else if (this.kind(file) === 'file') {
        files.push(file);
        // Anything below a plain module is an attribute, not a file.
        return { location: file, files };
      } else if (this.kind(folder) !== 'dir') {
        return i === 0 ? undefined : { location, files, ...(namespace ? { namespace } : {}) };
      } else if (i === 0) {
        namespace = true;
      }
      dir = folder;
      location = folder;
    }
    // `from package import name`: each name may be a submodule.
    for (const name of names) {
      if (name === '*') continue;
      const file = join(dir, `${name}.py`);
      if (this.kind(file) === 'file') files.push(file);
      else if (this.kind(join(dir, name)) === 'dir') addInit(join(dir, name));
    }
    return namespace ? { location, files, namespace } : { location, files };
  }
}

function statOrUnknown(path: string): Stats | null | 'unknown' {
  try {
    return statSync(path, { throwIfNoEntry: false }) ?? null;
  } catch {
    return 'unknown';
  }
}

/** What a symbolic link leads to (its target may change without its folder changing). */
function statKind(path: string, inputs: RunInputs | undefined): Kind {
  try {
    const info = statSync(path);
    inputs?.path(path, info);
    return info.isDirectory() ? 'dir' : info.isFile() ? 'file' : 'none';
  } catch {
    inputs?.path(path);
    return 'none';
  }
}
