/**
 * @conda-org/rattler's simpleSolve has no virtual-package input: the host's virtual packages
 * (__glibc, __linux, __unix, __archspec) are offered as plain records of an extra channel and
 * filtered out of the result. This writes such a channel (repodata only, no archives).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const DEFAULT_VIRTUAL_PACKAGES: Record<string, string> = {
  __glibc: '2.36',
  __linux: '6.1.0',
  __unix: '0',
  __archspec: '1',
};

/** Writes `<dir>/<subdir>/repodata.json` (and an empty noarch) listing the virtual packages. */
export async function writeVirtualPackageChannel(
  dir: string,
  packages: Record<string, string> = DEFAULT_VIRTUAL_PACKAGES,
  subdir = 'linux-64',
): Promise<void> {
  const records: Record<string, object> = {};
  for (const [name, version] of Object.entries(packages)) {
    const build = name === '__archspec' ? 'x86_64' : '0';
    records[`${name}-${version}-${build}.tar.bz2`] = {
      name,
      version,
      build,
      build_number: 0,
      depends: [],
      subdir,
    };
  }
  for (const [folder, table] of [
    [subdir, records],
    ['noarch', {}],
  ] as const) {
    await mkdir(join(dir, folder), { recursive: true });
    await writeFile(
      join(dir, folder, 'repodata.json'),
      JSON.stringify({
        info: { subdir: folder },
        packages: table,
        'packages.conda': {},
        removed: [],
        repodata_version: 1,
      }),
    );
  }
}
