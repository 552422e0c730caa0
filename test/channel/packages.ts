/**
 * The packages of the test channel, each exercising one part of installing conda packages.
 * The table in CHANNEL_CONTENTS (below) is what tests rely on; keep it in step.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import { buildDebianPythonPrefix, findDebianPip, findDebianPython } from './debian-python.js';
import {
  buildPrefixPlaceholder,
  LEGACY_PLACEHOLDER,
  type PackageDefinition,
} from './package-builder.js';

const run = promisify(execFile);

async function put(root: string, path: string, content: string | Buffer, mode = 0o644) {
  const target = join(root, path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, content);
  await chmod(target, mode);
}

/** `site-packages/<module>/__init__.py` plus a minimal dist-info so `pip list` sees it. */
async function putPythonLibrary(
  root: string,
  distribution: string,
  version: string,
  module: string,
  source: string,
) {
  await put(root, `site-packages/${module}/__init__.py`, source);
  const distInfo = `site-packages/${distribution.replace(/-/g, '_')}-${version}.dist-info`;
  await put(
    root,
    `${distInfo}/METADATA`,
    `Metadata-Version: 2.1\nName: ${distribution}\nVersion: ${version}\n`,
  );
  await put(root, `${distInfo}/INSTALLER`, 'conda\n');
}

/** The `X.Y.Z` of Debian's python3.11 (`sys.version` starts with it). */
export async function debianPythonVersion(): Promise<string> {
  const { version } = await findDebianPython();
  const match = /^(\d+\.\d+\.\d+)/.exec(version);
  if (!match?.[1]) throw new Error(`cannot read a version from python's sys.version: ${version}`);
  return match[1];
}

async function pythonPackage(): Promise<PackageDefinition> {
  return {
    name: 'python',
    version: await debianPythonVersion(),
    build: 'h_debian_0_cpython',
    buildNumber: 0,
    subdir: 'linux-64',
    depends: ['__glibc >=2.17'],
    license: 'Python-2.0',
    summary: "CPython 3.11 from Debian's python3.11, in conda's layout",
    formats: ['conda', 'tar.bz2'],
    payload: (root) => buildDebianPythonPrefix(root),
  };
}

async function pipPackage(): Promise<PackageDefinition> {
  const pip = await findDebianPip();
  const copyTree = async (name: string, root: string) => {
    const from = join(pip.dir, name);
    await cp(from, join(root, 'site-packages', name), {
      recursive: true,
      dereference: true,
      filter: (source) => !relative(from, source).split(sep).includes('__pycache__'),
    });
  };
  return {
    name: 'pip',
    version: pip.version,
    build: 'pyh_debian_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'python',
    depends: ['python >=3.7'],
    summary: "pip from Debian's python3-pip",
    formats: ['conda', 'tar.bz2'],
    entryPoints: ['pip = pip._internal.cli.main:main', 'pip3 = pip._internal.cli.main:main'],
    payload: async (root) => {
      await copyTree('pip', root);
      await copyTree(`pip-${pip.version}.dist-info`, root);
      await put(root, `site-packages/pip-${pip.version}.dist-info/INSTALLER`, 'conda\n');
    },
  };
}

/** A link in the chain: `chain()` lists this package and everything below it. */
function chainLibrary(options: {
  name: string;
  version: string;
  buildNumber?: number;
  depends: string[];
  below?: string;
  formats: PackageDefinition['formats'];
}): PackageDefinition {
  const module = options.name.replace(/-/g, '_');
  const buildNumber = options.buildNumber ?? 0;
  const below = options.below?.replace(/-/g, '_');
  const source = [
    `"""${options.name} ${options.version} (build ${buildNumber}), poncho test channel."""`,
    `__version__ = "${options.version}"`,
    ...(below ? [`from ${below} import chain as _chain_below`] : []),
    '',
    '',
    'def chain():',
    `    return ["${options.name} ${options.version}"]${below ? ' + _chain_below()' : ''}`,
    '',
  ].join('\n');
  return {
    name: options.name,
    version: options.version,
    build: `pyh_test_${buildNumber}`,
    buildNumber,
    subdir: 'noarch',
    noarch: 'python',
    depends: ['python >=3.8', ...options.depends],
    formats: options.formats,
    payload: (root) => putPythonLibrary(root, options.name, options.version, module, source),
  };
}

function chainPackages(): PackageDefinition[] {
  return [
    chainLibrary({
      name: 'chain-top',
      version: '1.0.0',
      depends: ['chain-mid >=1.0,<2'],
      below: 'chain-mid',
      formats: ['conda', 'tar.bz2'],
    }),
    chainLibrary({
      name: 'chain-mid',
      version: '1.0.0',
      depends: ['chain-base >=2'],
      below: 'chain-base',
      formats: ['conda'],
    }),
    chainLibrary({
      name: 'chain-mid',
      version: '1.5.0',
      depends: ['chain-base >=2,<3'],
      below: 'chain-base',
      formats: ['conda'],
    }),
    chainLibrary({
      name: 'chain-mid',
      version: '2.0.0',
      depends: ['chain-base >=3'],
      below: 'chain-base',
      formats: ['conda'],
    }),
    chainLibrary({
      name: 'chain-base',
      version: '2.1.0',
      buildNumber: 0,
      depends: [],
      formats: ['tar.bz2'],
    }),
    chainLibrary({
      name: 'chain-base',
      version: '2.1.0',
      buildNumber: 1,
      depends: [],
      formats: ['conda'],
    }),
    chainLibrary({
      name: 'chain-base',
      version: '3.0.0',
      depends: [],
      formats: ['conda', 'tar.bz2'],
    }),
  ];
}

function helloCliPackage(): PackageDefinition {
  return {
    name: 'hello-cli',
    version: '1.0.0',
    build: 'pyh_test_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'python',
    depends: ['python >=3.8'],
    formats: ['conda', 'tar.bz2'],
    entryPoints: ['hello-poncho = hello_cli.main:main'],
    payload: async (root) => {
      await putPythonLibrary(root, 'hello-cli', '1.0.0', 'hello_cli', '');
      await put(
        root,
        'site-packages/hello_cli/main.py',
        [
          'import sys',
          '',
          '',
          'def main():',
          '    print("hello from hello-cli 1.0.0 in " + sys.prefix)',
          '    return 0',
          '',
        ].join('\n'),
      );
      // python-scripts/ files go to bin/ in the prefix.
      await put(
        root,
        'python-scripts/hello-poncho-script',
        '#!/usr/bin/env python\nimport sys\nprint("hello-poncho-script in " + sys.prefix)\n',
        0o755,
      );
    },
  };
}

function genericDataPackage(): PackageDefinition {
  return {
    name: 'generic-data',
    version: '1.0.0',
    build: 'h_test_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'generic',
    formats: ['conda'],
    payload: async (root) => {
      await put(root, 'share/generic-data/data.txt', 'generic data 1.0.0\n');
      await put(root, 'share/generic-data/nested/deep/file.txt', 'nested file\n');
    },
  };
}

const PREFIX_ECHO_SOURCE = `#include <stdio.h>

/* The build prefix is compiled in; conda relocates it in the binary (same length, NUL padded). */
static const char data_dir[] = PREFIX "/share/prefix-echo";
static const char message_file[] = PREFIX "/share/prefix-echo/message.txt";

int main(void) {
  printf("%s\\n", data_dir);
  FILE *message = fopen(message_file, "r");
  if (message == NULL) {
    fprintf(stderr, "prefix-echo: cannot open %s\\n", message_file);
    return 1;
  }
  char buffer[256];
  size_t count;
  while ((count = fread(buffer, 1, sizeof buffer, message)) > 0) fwrite(buffer, 1, count, stdout);
  fclose(message);
  return 0;
}
`;

function prefixEchoPackage(): PackageDefinition {
  const placeholder = buildPrefixPlaceholder('prefix-echo');
  return {
    name: 'prefix-echo',
    version: '1.0.0',
    build: 'h_test_0',
    buildNumber: 0,
    subdir: 'linux-64',
    depends: ['__glibc >=2.17'],
    formats: ['conda'],
    placeholders: [placeholder],
    payload: async (root) => {
      const source = join(root, '..', 'prefix-echo.c');
      await writeFile(source, PREFIX_ECHO_SOURCE);
      await mkdir(join(root, 'bin'), { recursive: true });
      await run('gcc', [
        '-O2',
        '-s',
        `-DPREFIX="${placeholder}"`,
        '-o',
        join(root, 'bin/prefix-echo'),
        source,
      ]);
      await put(root, 'share/prefix-echo/message.txt', 'hello from the prefix-echo data file\n');
    },
  };
}

function textConfigPackage(): PackageDefinition {
  const placeholder = buildPrefixPlaceholder('text-config');
  return {
    name: 'text-config',
    version: '1.0.0',
    build: 'h_test_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'generic',
    depends: ['python >=3.8'],
    formats: ['tar.bz2'],
    placeholders: [placeholder],
    payload: async (root) => {
      await put(
        root,
        'etc/text-config/config.ini',
        `[paths]\ndata_dir = ${placeholder}/share/text-config\n`,
      );
      await put(root, 'share/text-config/readme.txt', 'text-config data\n');
      await put(
        root,
        'bin/text-config-show',
        `#!/bin/sh\n# Prints the config file path baked in at install time, then the file.\nconfig="${placeholder}/etc/text-config/config.ini"\necho "$config"\ncat "$config"\n`,
        0o755,
      );
      // A shebang longer than 127 characters once the placeholder is replaced by a long prefix.
      await put(
        root,
        'bin/text-config-python',
        `#!${placeholder}/bin/python3.11\nimport sys\nprint(sys.prefix)\n`,
        0o755,
      );
    },
  };
}

function softlinkPackage(): PackageDefinition {
  return {
    name: 'softlink-demo',
    version: '1.0.0',
    build: 'h_test_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'generic',
    formats: ['conda', 'tar.bz2'],
    payload: async (root) => {
      await put(root, 'share/softlink-demo/target.txt', 'softlink target\n');
      await put(root, 'share/softlink-demo/nested/inner.txt', 'inner file\n');
      await put(
        root,
        'share/softlink-demo/run.sh',
        '#!/bin/sh\ncat "$(dirname "$(readlink -f "$0")")/target.txt"\n',
        0o755,
      );
      await symlink('target.txt', join(root, 'share/softlink-demo/link-to-target.txt'));
      await symlink('nested', join(root, 'share/softlink-demo/link-to-dir'));
      await mkdir(join(root, 'bin'), { recursive: true });
      await symlink('../share/softlink-demo/run.sh', join(root, 'bin/softlink-demo'));
    },
  };
}

function activatePackage(): PackageDefinition {
  return {
    name: 'activate-demo',
    version: '1.0.0',
    build: 'h_test_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'generic',
    formats: ['conda'],
    payload: async (root) => {
      await put(
        root,
        'etc/conda/activate.d/activate-demo.sh',
        'export ACTIVATE_DEMO_HOME="$CONDA_PREFIX/share/activate-demo"\nexport ACTIVATE_DEMO_ACTIVE=1\n',
      );
      await put(
        root,
        'etc/conda/deactivate.d/activate-demo.sh',
        'unset ACTIVATE_DEMO_HOME\nunset ACTIVATE_DEMO_ACTIVE\n',
      );
      await put(root, 'share/activate-demo/data.txt', 'activate-demo data\n');
    },
  };
}

function legacyPackage(): PackageDefinition {
  return {
    name: 'legacy-oldstyle',
    version: '1.0.0',
    build: '0',
    buildNumber: 0,
    subdir: 'linux-64',
    formats: ['tar.bz2'],
    legacyMetadata: true,
    placeholders: [LEGACY_PLACEHOLDER],
    noLink: ['share/legacy-oldstyle/no-link.txt'],
    payload: async (root) => {
      await put(
        root,
        'bin/legacy-tool',
        `#!/bin/sh\ncat "${LEGACY_PLACEHOLDER}/share/legacy-oldstyle/data.txt"\n`,
        0o755,
      );
      await put(root, 'share/legacy-oldstyle/data.txt', 'legacy data\n');
      await put(root, 'share/legacy-oldstyle/no-link.txt', 'copied, never hard-linked\n');
    },
  };
}

function unsatisfiablePackage(): PackageDefinition {
  return {
    name: 'needs-missing',
    version: '1.0.0',
    build: 'h_test_0',
    buildNumber: 0,
    subdir: 'noarch',
    noarch: 'generic',
    depends: ['no-such-package >=1'],
    formats: ['tar.bz2'],
    payload: (root) => put(root, 'share/needs-missing/readme.txt', 'never installable\n'),
  };
}

/** Every package of the test channel, in build order. */
export async function channelPackages(): Promise<PackageDefinition[]> {
  return [
    await pythonPackage(),
    await pipPackage(),
    ...chainPackages(),
    helloCliPackage(),
    genericDataPackage(),
    prefixEchoPackage(),
    textConfigPackage(),
    softlinkPackage(),
    activatePackage(),
    legacyPackage(),
    unsatisfiablePackage(),
  ];
}
