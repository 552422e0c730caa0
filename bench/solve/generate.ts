/**
 * A conda-forge-sized channel for bench/solve, written as conda-forge serves it: per subdir
 * repodata.json, repodata.json.zst and CEP-16 shards. At scale 1: ~550k linux-64 and ~230k
 * noarch records over ~31k names, ~500-byte records with conda-forge's field set, python
 * variant builds (py39..py313) with `python >=3.X,<3.X+1.0a0` and `python_abi 3.X.* *_cp3X`,
 * version-range depends. Deterministic (seeded), so runs compare.
 *
 * What the specs reach stays as small as conda-forge's closures: fillers depend on the core
 * (python and its libraries), on a few of ~300 base libraries and ~100 popular python
 * packages, which depend on the core only. Random depends between fillers would make nearly
 * every name reachable: another test. The real test channel's records are added, with lower
 * versions of its packages, so the solver has choices.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  publishShards,
  writeCompressedRepodata,
  writeRawShard,
} from '../../test/channel/shards.js';

type Rec = Record<string, unknown>;

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PYTHONS = ['3.9', '3.10', '3.11', '3.12', '3.13'];
/** python's libraries and their newest versions (older ones are generated below them). */
const CORE_TOP: Record<string, string> = {
  _libgcc_mutex: '0.1',
  _openmp_mutex: '4.5',
  bzip2: '1.0.8',
  'ca-certificates': '2024.12.14',
  'ld_impl_linux-64': '2.43',
  libexpat: '2.6.4',
  libffi: '3.4.6',
  libgcc: '14.2.0',
  'libgcc-ng': '14.2.0',
  libgomp: '14.2.0',
  liblzma: '5.6.3',
  libmpdec: '4.0.0',
  libnsl: '2.0.1',
  libsqlite: '3.47.2',
  libstdcxx: '14.2.0',
  'libstdcxx-ng': '14.2.0',
  libuuid: '2.38.1',
  libxcrypt: '4.4.36',
  libzlib: '1.3.1',
  ncurses: '6.5',
  openssl: '3.4.0',
  readline: '8.2',
  tk: '8.6.13',
  tzdata: '2024.2',
};
const CORE = Object.keys(CORE_TOP);

/** The i-th newest version of a core library: the newest, then lower minor/patch versions. */
function coreVersion(top: string, i: number): string {
  if (i === 0) return top;
  const parts = top.split('.').map(Number);
  const last = parts.length - 1;
  parts[last] = Math.max(0, (parts[last] ?? 0) - 1 - (i % 3));
  if (last > 0) parts[last - 1] = Math.max(0, (parts[last - 1] ?? 0) - Math.floor(i / 3));
  return parts.join('.');
}

interface Plan {
  scale: number;
  /** The real test channel's folder: its records are added. */
  testChannel?: string;
}

class Writer {
  private pending: string[] = [];
  private size = 0;
  first = true;
  constructor(readonly stream: WriteStream) {}
  async write(text: string): Promise<void> {
    this.pending.push(text);
    this.size += text.length;
    if (this.size > 1 << 20) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const ok = this.stream.write(this.pending.join(''));
    this.pending = [];
    this.size = 0;
    if (!ok) await once(this.stream, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await once(this.stream, 'finish');
  }
}

function hex(random: () => number, length: number): string {
  let out = '';
  while (out.length < length)
    out += Math.floor(random() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return out.slice(0, length);
}

function upper(version: string): string {
  const [major = '0', minor = '0'] = version.split('.');
  return `${major}.${Number(minor) + 1}.0a0`;
}

/** Record counts: most names have a few, some have hundreds (conda-forge's long tail). */
function count(random: () => number, mean: number): number {
  const u = Math.max(random(), 1e-9);
  return Math.max(1, Math.min(4000, Math.round(-Math.log(u) * mean)));
}

interface NameSpec {
  name: string;
  subdir: 'linux-64' | 'noarch';
  records: number;
  pythonVariants: boolean;
  deps: string[];
}

export interface Generated {
  dir: string;
  records: Record<string, number>;
  names: number;
}

/** Writes the channel into `dir` (replaced). */
export async function generateChannel(dir: string, plan: Plan): Promise<Generated> {
  const random = rng(20260101 + Math.round(plan.scale * 1000));
  const names: NameSpec[] = [];
  const nameCount = (n: number) => Math.max(1, Math.round(n * plan.scale));
  const base = Array.from({ length: Math.min(300, nameCount(300)) }, (_, i) => `lib-base${i}`);
  const popular = Array.from({ length: Math.min(100, nameCount(100)) }, (_, i) => `py-popular${i}`);
  for (const name of CORE)
    names.push({ name, subdir: 'linux-64', records: 30, pythonVariants: false, deps: [] });
  names.push({ name: 'python', subdir: 'linux-64', records: 0, pythonVariants: false, deps: [] });
  names.push({
    name: 'python_abi',
    subdir: 'linux-64',
    records: 0,
    pythonVariants: false,
    deps: [],
  });
  for (const name of base) {
    const deps = ['libgcc >=13', 'libstdcxx >=13', 'libzlib >=1.3.1,<2.0a0'].filter(
      () => random() < 0.6,
    );
    names.push({
      name,
      subdir: 'linux-64',
      records: count(random, 25),
      pythonVariants: false,
      deps,
    });
  }
  for (const name of popular)
    names.push({
      name,
      subdir: 'linux-64',
      records: count(random, 12),
      pythonVariants: true,
      deps: [],
    });
  const pick = (list: string[]) => list[Math.floor(random() * list.length)] as string;
  // linux-64: ~550k records; noarch: ~230k (scale 1).
  const targets = { 'linux-64': 550_000 * plan.scale, noarch: 230_000 * plan.scale };
  const fillers = { 'linux-64': nameCount(19_000), noarch: nameCount(11_600) };
  for (const subdir of ['linux-64', 'noarch'] as const) {
    const mean = targets[subdir] / fillers[subdir];
    for (let i = 0; i < fillers[subdir]; i += 1) {
      const deps: string[] = [];
      const n = Math.floor(random() * 4);
      for (let d = 0; d < n; d += 1) {
        const target = random() < 0.6 ? pick(base) : pick(popular);
        deps.push(`${target} >=${1 + Math.floor(random() * 3)}.${Math.floor(random() * 10)}`);
      }
      const pythonVariants = subdir === 'linux-64' && random() < 0.5;
      names.push({
        name: `${subdir === 'noarch' ? 'pyn' : 'pkg'}-filler${i}`,
        subdir,
        // Variant packages get fewer versions (records / 5): each version has five builds.
        records: count(random, mean),
        pythonVariants,
        deps,
      });
    }
  }

  await rm(dir, { recursive: true, force: true });
  const result: Generated = { dir, records: {}, names: names.length };
  for (const subdir of ['linux-64', 'noarch'] as const) {
    const subdirDir = join(dir, subdir);
    await mkdir(join(subdirDir, 'shards'), { recursive: true });
    const tables = {
      packages: new Writer(createWriteStream(join(subdirDir, '.packages.part'))),
      'packages.conda': new Writer(createWriteStream(join(subdirDir, '.conda.part'))),
    };
    const raw: Array<{ name: string; path: string }> = [];
    let records = 0;
    const emit = async (name: string, byFile: Map<string, Rec>) => {
      const shard = {
        packages: {} as Record<string, object>,
        'packages.conda': {} as Record<string, object>,
      };
      for (const [fileName, record] of byFile) {
        const table = fileName.endsWith('.conda') ? 'packages.conda' : 'packages';
        shard[table][fileName] = record;
        const writer = tables[table];
        await writer.write(
          `${writer.first ? '' : ',\n'}  ${JSON.stringify(fileName)}: ${JSON.stringify(record)}`,
        );
        writer.first = false;
        records += 1;
      }
      const path = join(subdirDir, 'shards', `.raw-${raw.length}.msgpack`);
      raw.push({ name, path });
      await writeRawShard(path, shard);
    };
    const own = names.filter((n) => n.subdir === subdir).sort((a, b) => (a.name < b.name ? -1 : 1));
    // The real test channel's records, by name, plus lower versions of them.
    const real = new Map<string, Map<string, Rec>>();
    if (plan.testChannel) {
      const doc = JSON.parse(
        await readFile(join(plan.testChannel, subdir, 'repodata.json'), 'utf8'),
      );
      for (const table of ['packages', 'packages.conda'])
        for (const [fileName, record] of Object.entries(doc[table] as Record<string, Rec>)) {
          const name = record.name as string;
          if (!real.has(name)) real.set(name, new Map());
          real.get(name)?.set(fileName, record);
        }
    }
    for (const [name, byFile] of real) {
      if (name === 'python') continue; // the synthetic python has the variants
      const first = [...byFile.values()][0] as Rec;
      for (let v = 1; v <= 5; v += 1) {
        const version = `0.${v}.0`;
        const build = String(first.build);
        byFile.set(`${name}-${version}-${build}.conda`, {
          ...first,
          version,
          sha256: hex(random, 64),
          md5: hex(random, 32),
        });
      }
      if (!own.some((n) => n.name === name))
        own.push({ name, subdir, records: 0, pythonVariants: false, deps: [] });
    }
    own.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const spec of own) {
      const byFile = real.get(spec.name) ?? new Map<string, Rec>();
      if (spec.name === 'python') addPythons(byFile, random);
      if (spec.name === 'python_abi') addPythonAbis(byFile, random);
      const perVersion = spec.pythonVariants ? PYTHONS.length : random() < 0.3 ? 2 : 1;
      const versions = spec.records === 0 ? 0 : Math.max(1, Math.round(spec.records / perVersion));
      const top = CORE_TOP[spec.name];
      for (let v = 0; v < versions; v += 1) {
        const version = top
          ? coreVersion(top, v)
          : `${Math.floor(v / 10)}.${v % 10}.${Math.floor(random() * 5)}`;
        for (let b = 0; b < perVersion; b += 1) {
          const py = spec.pythonVariants ? PYTHONS[b] : undefined;
          const tag = py
            ? `py${py.replace('.', '')}h${hex(random, 8)}_${b}`
            : `h${hex(random, 8)}_${b}`;
          const depends = [...spec.deps];
          if (subdir === 'linux-64' && !CORE.includes(spec.name))
            depends.push('libgcc >=13', '__glibc >=2.17,<3.0.a0');
          if (py)
            depends.push(
              `python >=${py},<${upper(py)}`,
              `python_abi ${py}.* *_cp${py.replace('.', '')}`,
            );
          if (subdir === 'noarch') depends.push('python >=3.9');
          const record: Rec = {
            build: tag,
            build_number: b,
            ...(random() < 0.2 ? { constrains: [`${pick(base)} >=1.0`] } : {}),
            depends,
            license: random() < 0.5 ? 'MIT' : 'BSD-3-Clause',
            license_family: random() < 0.5 ? 'MIT' : 'BSD',
            md5: hex(random, 32),
            name: spec.name,
            ...(subdir === 'noarch' ? { noarch: 'python' } : {}),
            sha256: hex(random, 64),
            size: Math.floor(random() * 5e7),
            subdir,
            timestamp: 1_600_000_000_000 + Math.floor(random() * 1.5e11),
            version,
          };
          const ext = random() < 0.6 ? 'conda' : 'tar.bz2';
          byFile.set(`${spec.name}-${version}-${tag}.${ext}`, record);
        }
      }
      await emit(spec.name, byFile);
    }
    await tables.packages.close();
    await tables['packages.conda'].close();
    // Assemble repodata.json from the two tables.
    const out = createWriteStream(join(subdirDir, 'repodata.json'));
    out.write(`{\n "info": {"subdir": ${JSON.stringify(subdir)}},\n "packages": {\n`);
    await pipeline(createReadStream(join(subdirDir, '.packages.part')), out, { end: false });
    out.write('\n },\n "packages.conda": {\n');
    await pipeline(createReadStream(join(subdirDir, '.conda.part')), out, { end: false });
    out.end('\n },\n "removed": [],\n "repodata_version": 1\n}\n');
    await once(out, 'finish');
    await rm(join(subdirDir, '.packages.part'));
    await rm(join(subdirDir, '.conda.part'));
    await writeCompressedRepodata(subdirDir);
    await publishShards(subdirDir, subdir, raw);
    result.records[subdir] = records;
  }
  await writeFile(join(dir, 'generated.json'), JSON.stringify(result));
  return result;
}

/** python 3.9-3.13 with ~10 patch releases and several builds each (~1,000 records). */
function addPythons(byFile: Map<string, Rec>, random: () => number): void {
  for (const py of PYTHONS) {
    for (let patch = 0; patch < 12; patch += 1) {
      for (let b = 0; b < 16; b += 1) {
        const version = `${py}.${patch}`;
        const build = `h${hex(random, 8)}_${b}_cpython`;
        byFile.set(`python-${version}-${build}.conda`, {
          build,
          build_number: b,
          constrains: [`python_abi ${py}.* *_cp${py.replace('.', '')}`],
          depends: [
            '__glibc >=2.17,<3.0.a0',
            'bzip2 >=1.0.8,<2.0a0',
            'ld_impl_linux-64 >=2.36.1',
            'libexpat >=2.6.2,<3.0a0',
            'libffi >=3.4,<4.0a0',
            'libgcc >=13',
            'liblzma >=5.6.3,<6.0a0',
            'libnsl >=2.0.1,<2.1.0a0',
            'libsqlite >=3.47.0,<4.0a0',
            'libuuid >=2.38.1,<3.0a0',
            'libxcrypt >=4.4.36',
            'libzlib >=1.3.1,<2.0a0',
            'ncurses >=6.5,<7.0a0',
            'openssl >=3.4.0,<4.0a0',
            'readline >=8.2,<9.0a0',
            'tk >=8.6.13,<8.7.0a0',
            'tzdata',
          ],
          license: 'Python-2.0',
          md5: hex(random, 32),
          name: 'python',
          sha256: hex(random, 64),
          size: 30_000_000,
          subdir: 'linux-64',
          timestamp: 1_700_000_000_000 + patch * 1000 + b,
          version,
        });
      }
    }
  }
}

function addPythonAbis(byFile: Map<string, Rec>, random: () => number): void {
  for (const py of PYTHONS) {
    const tag = `cp${py.replace('.', '')}`;
    byFile.set(`python_abi-${py}-5_${tag}.conda`, {
      build: `5_${tag}`,
      build_number: 5,
      constrains: [`python ${py}.* *_cpython`],
      depends: [],
      license: 'BSD-3-Clause',
      md5: hex(random, 32),
      name: 'python_abi',
      sha256: hex(random, 64),
      size: 6000,
      subdir: 'linux-64',
      timestamp: 1_700_000_000_000,
      version: py,
    });
  }
}

/** The channel for `scale` under `root`, generated once (kept between runs). */
export async function ensureGenerated(root: string, plan: Plan): Promise<Generated> {
  const dir = join(root, `scale-${plan.scale}-v2`);
  const marker = join(dir, 'generated.json');
  if (await stat(marker).catch(() => null)) return JSON.parse(await readFile(marker, 'utf8'));
  return generateChannel(dir, plan);
}
