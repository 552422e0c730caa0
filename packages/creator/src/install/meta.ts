/**
 * conda's bookkeeping in `<prefix>/conda-meta/`: one `<name>-<version>-<build>.json` per package
 * (the repodata record, files, paths_data, link, requested_spec) and `history`, so that conda,
 * `conda list -p` and conda-pack accept the environment.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@poncho/core/fs';
import type { LockedPackage } from '@poncho/core/lock';
import { redactUrlCredentials } from '../url-credentials.js';
import type { LinkedPackage } from './link.js';
import { packageStem, withLockedFields } from './package-cache.js';

/** The package name a match spec talks about (`numpy >=1.2` -> numpy, `conda-forge::x=1` -> x). */
export function specName(spec: string): string {
  const withoutChannel = spec.includes('::') ? (spec.split('::').pop() ?? spec) : spec;
  return (/^\s*([A-Za-z0-9_.-]+)/.exec(withoutChannel)?.[1] ?? '').toLowerCase();
}

export async function writeCondaMeta(
  prefix: string,
  linked: LinkedPackage,
  requestedSpecs: string[],
  archive: string,
): Promise<void> {
  const { pkg } = linked;
  const index = JSON.parse(
    await readFile(join(linked.sourceDir, 'info', 'repodata_record.json'), 'utf8').catch(
      () => '{}',
    ),
  ) as Record<string, unknown>;
  const requested = requestedSpecs.find((s) => specName(s) === pkg.name.toLowerCase());
  const record: Record<string, unknown> = {
    ...withLockedFields(index, pkg),
    license: pkg.license ?? index.license,
    timestamp: pkg.timestamp ?? index.timestamp,
    ...(pkg.noarch ? { noarch: pkg.noarch } : {}),
    files: linked.paths.filter((p) => p.path_type !== 'directory').map((p) => p._path),
    paths_data: { paths_version: 1, paths: linked.paths },
    link: { source: linked.sourceDir, type: linked.linkType },
    extracted_package_dir: linked.sourceDir,
    package_tarball_full_path: archive,
    requested_spec: requested ?? '',
  };
  await mkdir(join(prefix, 'conda-meta'), { recursive: true });
  await writeFileAtomic(
    join(prefix, 'conda-meta', `${packageStem(pkg.fileName)}.json`),
    // The prefix gets packed and shipped: no channel credentials in its records.
    redactUrlCredentials(`${JSON.stringify(record, null, 2)}\n`),
    {
      what: 'conda-meta record',
    },
  );
}

function timestamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A Python string literal as repr() writes it: conda reads the specs list with literal_eval. */
export function pythonString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replace(/\\/g, '\\\\').replace(new RegExp(quote, 'g'), `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}

/** Appends one revision to conda-meta/history in conda's format. */
export async function appendHistory(
  prefix: string,
  packages: LockedPackage[],
  requestedSpecs: string[],
  command: string,
): Promise<void> {
  const lines = [
    `==> ${timestamp(new Date())} <==`,
    `# cmd: ${command}`,
    ...packages.map((p) => `+${p.channel}/${p.subdir}::${packageStem(p.fileName)}`),
    `# update specs: [${requestedSpecs.map(pythonString).join(', ')}]`,
    '',
  ];
  await mkdir(join(prefix, 'conda-meta'), { recursive: true });
  await appendFile(join(prefix, 'conda-meta', 'history'), redactUrlCredentials(lines.join('\n')));
}
