/**
 * Import name -> conda package: the bundled table (depfinder's, corrected by
 * scripts/import-overrides.tsv), namespace packages on the longest dotted prefix, and the
 * conda-forge-style name of an import nothing knows.
 */
import { readFileSync } from 'node:fs';
import {
  analyze,
  condaForgeName,
  depfinderTable,
  namespacePackages,
  PackageMapper,
  parsePackageMappings,
  readPrefix,
} from '@poncho/analyzer';
import { describe, expect, it } from 'vitest';
import { tempProjects } from './temp-projects.js';

const tree = tempProjects('poncho-names-');

/** Well-known imports and the conda-forge package users mean (checked by hand). */
const WELL_KNOWN: Record<string, string> = {
  numpy: 'numpy',
  scipy: 'scipy',
  pandas: 'pandas',
  matplotlib: 'matplotlib-base',
  'matplotlib.pyplot': 'matplotlib-base',
  'mpl_toolkits.mplot3d': 'matplotlib-base',
  'mpl_toolkits.basemap': 'basemap',
  seaborn: 'seaborn-base',
  sklearn: 'scikit-learn',
  skimage: 'scikit-image',
  skopt: 'scikit-optimize',
  skbuild: 'scikit-build',
  imblearn: 'imbalanced-learn',
  cv2: 'opencv',
  PIL: 'pillow',
  yaml: 'pyyaml',
  bs4: 'beautifulsoup4',
  dateutil: 'python-dateutil',
  dotenv: 'python-dotenv',
  jwt: 'pyjwt',
  serial: 'pyserial',
  usb: 'pyusb',
  zmq: 'pyzmq',
  git: 'gitpython',
  docx: 'python-docx',
  pptx: 'python-pptx',
  igraph: 'python-igraph',
  community: 'python-louvain',
  attr: 'attrs',
  OpenSSL: 'pyopenssl',
  tables: 'pytables',
  torch: 'pytorch',
  tensorflow: 'tensorflow',
  keras: 'keras',
  Bio: 'biopython',
  pkg_resources: 'setuptools',
  setuptools: 'setuptools',
  gi: 'pygobject',
  wx: 'wxpython',
  PyQt5: 'pyqt',
  lxml: 'lxml',
  kafka: 'kafka-python',
  snappy: 'python-snappy',
  msgpack: 'msgpack-python',
  grpc: 'grpcio',
  umap: 'umap-learn',
  xgboost: 'xgboost',
  lightgbm: 'lightgbm',
  h5py: 'h5py',
  xarray: 'xarray',
  dask: 'dask-core',
  distributed: 'distributed',
  numba: 'numba',
  sympy: 'sympy',
  networkx: 'networkx',
  statsmodels: 'statsmodels',
  plotly: 'plotly',
  bokeh: 'bokeh',
  flask: 'flask',
  django: 'django',
  sqlalchemy: 'sqlalchemy',
  psycopg2: 'psycopg2',
  boto3: 'boto3',
  s3fs: 's3fs',
  fsspec: 'fsspec',
  paramiko: 'paramiko',
  click: 'click',
  tqdm: 'tqdm',
  requests: 'requests',
  aiohttp: 'aiohttp',
  jinja2: 'jinja2',
  nltk: 'nltk',
  IPython: 'ipython',
  ipywidgets: 'ipywidgets',
  pytest: 'pytest',
  _pytest: 'pytest',
  six: 'six',
  future: 'future',
  shapely: 'shapely',
  pyproj: 'pyproj',
  ruamel: 'ruamel', // a namespace: the bare name is no package (ruamel.yaml is)
  'ruamel.yaml': 'ruamel.yaml',
  websocket: 'websocket-client',
  socketio: 'python-socketio',
  docker: 'docker-py',
  kubernetes: 'python-kubernetes',
  soundfile: 'pysoundfile',
  sounddevice: 'python-sounddevice',
  nacl: 'pynacl',
  Cryptodome: 'pycryptodomex',
  typing_extensions: 'typing_extensions',
  ndcctools: 'ndcctools',
  work_queue: 'ndcctools',
  taskvine: 'ndcctools',
  // The list of wrong or missing names.
  googleapiclient: 'google-api-python-client',
  osgeo: 'gdal',
  fitz: 'pymupdf',
  cairo: 'pycairo',
  past: 'future',
  nrrd: 'pynrrd',
  ij: 'pyimagej',
  pymol: 'pymol-open-source',
  magic: 'python-magic',
  Crypto: 'pycryptodome',
  MySQLdb: 'mysqlclient',
  redis: 'redis-py',
  OpenGL: 'pyopengl',
  Xlib: 'python-xlib',
  dns: 'dnspython',
  slugify: 'python-slugify',
  // Namespace packages: decided on the longest dotted prefix.
  'google.protobuf': 'protobuf',
  'google.protobuf.json_format': 'protobuf',
  'google.cloud.storage': 'google-cloud-storage',
  'google.cloud.bigquery': 'google-cloud-bigquery',
  'google.cloud.secretmanager': 'google-cloud-secret-manager',
  'google.auth': 'google-auth',
  'google.oauth2.service_account': 'google-auth',
  'google.api_core.exceptions': 'google-api-core',
  'google.rpc': 'googleapis-common-protos',
  'azure.storage.blob': 'azure-storage-blob',
  'azure.identity': 'azure-identity',
  'azure.keyvault.secrets': 'azure-keyvault-secrets',
  'zope.interface': 'zope.interface',
  'jaraco.functools': 'jaraco.functools',
  'backports.zoneinfo': 'backports.zoneinfo',
  'sphinxcontrib.bibtex': 'sphinxcontrib-bibtex',
  // Unknown names: conda-forge's naming (lower case, - for _), namespace families included.
  dask_awkward: 'dask-awkward',
  Some_Thing: 'some-thing',
  'google.cloud.alloydb': 'google-cloud-alloydb',
  'google.cloud.run_v2': 'google-cloud-run-v2',
  'azure.mgmt.compute': 'azure-mgmt-compute',
  'backports.tarfile': 'backports.tarfile',
};

describe('import name -> package', () => {
  const mapper = new PackageMapper(new Map(), undefined);

  it(`maps ${Object.keys(WELL_KNOWN).length} well-known import names to the packages users mean`, () => {
    expect(Object.keys(WELL_KNOWN).length).toBeGreaterThanOrEqual(100);
    const got = Object.fromEntries(
      Object.keys(WELL_KNOWN).map((name) => [name, mapper.resolve(name).spec]),
    );
    expect(got).toEqual(WELL_KNOWN);
  });

  it('keeps every override of import-overrides.tsv, with a reason, in the bundled table', () => {
    const tsv = readFileSync(new URL('../scripts/import-overrides.tsv', import.meta.url), 'utf8');
    const rows = tsv
      .split('\n')
      .filter((line) => line.trim() && !line.startsWith('#'))
      .map((line) => line.split('\t'));
    expect(rows.length).toBeGreaterThan(50);
    for (const row of rows) {
      expect(row, `3 columns: ${row.join(' | ')}`).toHaveLength(3);
      const [module, pkg, reason] = row as [string, string, string];
      expect(reason.trim().length, `reason for ${module}`).toBeGreaterThan(5);
      expect(depfinderTable().get(module), module).toBe(pkg === '-' ? undefined : pkg);
    }
    // No namespace maps to one of its many distributions.
    for (const namespace of namespacePackages().keys())
      expect(depfinderTable().has(namespace), namespace).toBe(false);
  });

  it('names unknown imports as conda-forge does', () => {
    expect(condaForgeName('dask_awkward')).toBe('dask-awkward');
    expect(condaForgeName('My_Pkg.sub')).toBe('my-pkg');
    expect(condaForgeName('google.cloud.foo_bar.baz')).toBe('google-cloud-foo-bar');
    expect(condaForgeName('zope.foo_bar')).toBe('zope.foo_bar');
    expect(condaForgeName('google')).toBe('google');
    expect(condaForgeName('_testcapi')).toBe('testcapi');
  });

  it('resolves `from NAMESPACE import a, b` per name: one spec entry per package', async () => {
    const root = await tree('ns-from', {
      'job.py':
        'from google.cloud import storage, bigquery as bq\nfrom google import protobuf\nfrom numpy import linalg, fft\n',
    });
    const result = await analyze(['job.py'], {
      cwd: root,
      pythonVersion: '3.11',
      prefix: null,
      cache: false,
    });
    expect(result.spec.conda.dependencies).toEqual([
      'google-cloud-bigquery',
      'google-cloud-storage',
      'numpy',
      'pip',
      'protobuf',
      'python=3.11',
    ]);
    const modules = result.report.imports.map((i) => [i.module, i.package]);
    expect(modules).toEqual([
      ['google.cloud.storage', 'google-cloud-storage'],
      ['google.cloud.bigquery', 'google-cloud-bigquery'],
      ['google', 'protobuf'],
      ['numpy', 'numpy'],
    ]);
    expect(result.report.warnings).toEqual([]);
  });

  it('--pkg-mapping takes dotted names and wins on its longest prefix', () => {
    const mapped = new PackageMapper(
      parsePackageMappings(['google.cloud.storage=my-gcs', 'google=pip:google-everything']),
      undefined,
    );
    expect(mapped.resolve('google.cloud.storage.blob').spec).toBe('my-gcs');
    expect(mapped.resolve('google.protobuf')).toMatchObject({
      spec: 'google-everything',
      section: 'pip',
    });
  });

  it('reads namespace portions from the environment: each google.* package owns its part', async () => {
    const site = 'lib/python3.11/site-packages';
    const meta = (name: string, files: string[]) =>
      JSON.stringify({ name, version: '1.0', build: 'py_0', files });
    // google-cloud-core comes first by name and owns google/cloud/ files too: it used to win
    // for every google.* import.
    const prefix = await tree('ns-prefix', {
      'conda-meta/google-api-core-1.0-py_0.json': meta('google-api-core', [
        `${site}/google/api_core/__init__.py`,
      ]),
      'conda-meta/google-cloud-core-1.0-py_0.json': meta('google-cloud-core', [
        `${site}/google/cloud/client/__init__.py`,
        `${site}/google/cloud/version.py`,
      ]),
      'conda-meta/google-cloud-storage-1.0-py_0.json': meta('google-cloud-storage', [
        `${site}/google/cloud/storage/__init__.py`,
        `${site}/google/cloud/storage/blob.py`,
      ]),
      'conda-meta/protobuf-1.0-py_0.json': meta('protobuf', [
        `${site}/google/protobuf/__init__.py`,
        `${site}/google/protobuf/json_format.py`,
      ]),
      [`${site}/google_cloud_bigquery-3.0.dist-info/METADATA`]:
        'Name: google-cloud-bigquery\nVersion: 3.0\n',
      [`${site}/google_cloud_bigquery-3.0.dist-info/top_level.txt`]: 'google\n',
      [`${site}/google_cloud_bigquery-3.0.dist-info/RECORD`]:
        'google/cloud/bigquery/__init__.py,,\ngoogle/cloud/bigquery/client.py,,\n',
    });
    const index = await readPrefix(prefix);
    const inEnv = new PackageMapper(new Map(), index);
    expect(inEnv.resolve('google.protobuf.json_format').spec).toBe('protobuf=1.0=py_0');
    expect(inEnv.resolve('google.cloud.storage').spec).toBe('google-cloud-storage=1.0=py_0');
    expect(inEnv.resolve('google.api_core').spec).toBe('google-api-core=1.0=py_0');
    expect(inEnv.resolve('google.cloud.bigquery.client')).toMatchObject({
      resolution: 'pip',
      spec: 'google-cloud-bigquery==3.0',
    });
    // Not installed: the table's answer (not the first package owning google/).
    expect(inEnv.resolve('google.auth')).toMatchObject({
      resolution: 'depfinder',
      spec: 'google-auth',
    });
    // `from google.cloud import storage` through analyze(), pinned from the environment.
    const job = await tree('ns-job', { 'job.py': 'from google.cloud import storage\n' });
    const result = await analyze(['job.py'], {
      cwd: job,
      prefix,
      pythonVersion: '3.11',
      cache: false,
    });
    expect(result.report.packages.conda).toContain('google-cloud-storage=1.0=py_0');
    expect(result.report.packages.conda).not.toContain('google-cloud-core=1.0=py_0');
  });
});
