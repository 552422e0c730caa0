/**
 * Standard-library names that are not in the target's standard library but are no third-party
 * package either: modules removed from CPython (distutils, imp, asyncore... per version),
 * modules that only newer versions have (tomllib before 3.11), and Python 2's names (urllib2,
 * cPickle, ConfigParser...). Turning them into a conda package of the same name would invent a
 * dependency; they get a specific warning, and a package only where one really provides the
 * module (distutils: setuptools ships it).
 */
import { minorVersion, stdlibModules, supportedPythonVersions } from './stdlib.js';

export type LegacyModule =
  | {
      kind: 'removed';
      /** First version without it. */
      removedIn: string;
      /** A conda package that provides the same import name, if any. */
      package?: string;
      /** What to use instead, in words. */
      advice: string;
    }
  | { kind: 'newer'; addedIn: string; advice: string }
  | { kind: 'python2'; advice: string };

/** Why each removed module went, and what replaces it (CPython's "What's New", PEP 594/632). */
const REMOVED: Record<string, { package?: string; advice: string }> = {
  distutils: {
    package: 'setuptools',
    advice: 'setuptools provides it (PEP 632); better, port the code to setuptools or sysconfig',
  },
  imp: { advice: 'use importlib' },
  asyncore: { advice: 'use asyncio (pip: pyasyncore provides the old module)' },
  asynchat: { advice: 'use asyncio (pip: pyasynchat provides the old module)' },
  smtpd: { advice: 'use aiosmtpd' },
  cgi: { advice: 'see PEP 594 (pip: legacy-cgi provides the old module)' },
  cgitb: { advice: 'see PEP 594 (pip: legacy-cgi provides the old module)' },
  lib2to3: { advice: 'use ast or libcst; lib2to3 cannot parse newer syntax' },
  telnetlib: { advice: 'use telnetlib3 or Exscript' },
  pipes: { advice: 'use subprocess and shlex.quote' },
  crypt: { advice: 'use hashlib, passlib or bcrypt' },
  imghdr: { advice: 'use filetype or puremagic' },
  sndhdr: { advice: 'use filetype or puremagic' },
  audioop: { advice: 'pip: audioop-lts provides the old module' },
  aifc: { advice: 'see PEP 594' },
  chunk: { advice: 'see PEP 594' },
  mailcap: { advice: 'use mimetypes' },
  msilib: { advice: 'see PEP 594' },
  nis: { advice: 'see PEP 594' },
  nntplib: { advice: 'see PEP 594' },
  ossaudiodev: { advice: 'see PEP 594' },
  spwd: { advice: 'use python-pam' },
  sunau: { advice: 'see PEP 594' },
  uu: { advice: 'use base64 or binascii' },
  xdrlib: { advice: 'see PEP 594' },
  binhex: { advice: 'use base64 or binascii' },
  formatter: { advice: 'see the Python 3.10 What\u2019s New' },
  parser: { advice: 'use ast' },
  symbol: { advice: 'use ast' },
  dummy_threading: { advice: 'use threading' },
  _dummy_thread: { advice: 'use _thread' },
};

/** Python 2 standard-library names and their Python 3 successors (PEP 3108). */
const PYTHON2: Record<string, string> = {
  __builtin__: 'builtins',
  anydbm: 'dbm',
  BaseHTTPServer: 'http.server',
  CGIHTTPServer: 'http.server',
  commands: 'subprocess',
  compiler: 'ast',
  ConfigParser: 'configparser',
  Cookie: 'http.cookies',
  cookielib: 'http.cookiejar',
  copy_reg: 'copyreg',
  cPickle: 'pickle',
  cStringIO: 'io',
  dbhash: 'dbm',
  Dialog: 'tkinter.dialog',
  dircache: 'os.listdir',
  DocXMLRPCServer: 'xmlrpc.server',
  dumbdbm: 'dbm.dumb',
  dummy_thread: '_thread',
  exceptions: 'builtins',
  FileDialog: 'tkinter.filedialog',
  fpformat: 'string formatting',
  gdbm: 'dbm.gnu',
  htmlentitydefs: 'html.entities',
  htmllib: 'html.parser',
  HTMLParser: 'html.parser',
  httplib: 'http.client',
  md5: 'hashlib',
  mimetools: 'email',
  MimeWriter: 'email',
  mimify: 'email',
  multifile: 'email',
  mutex: 'threading',
  new: 'types',
  popen2: 'subprocess',
  posixfile: 'fcntl',
  Queue: 'queue',
  repr: 'reprlib',
  rfc822: 'email',
  robotparser: 'urllib.robotparser',
  ScrolledText: 'tkinter.scrolledtext',
  sets: 'the built-in set',
  sgmllib: 'html.parser',
  sha: 'hashlib',
  SimpleDialog: 'tkinter.simpledialog',
  SimpleHTTPServer: 'http.server',
  SimpleXMLRPCServer: 'xmlrpc.server',
  SocketServer: 'socketserver',
  statvfs: 'os.statvfs',
  StringIO: 'io',
  thread: '_thread',
  Tix: 'tkinter.tix',
  tkColorChooser: 'tkinter.colorchooser',
  tkCommonDialog: 'tkinter.commondialog',
  Tkconstants: 'tkinter.constants',
  Tkdnd: 'tkinter.dnd',
  tkFileDialog: 'tkinter.filedialog',
  tkFont: 'tkinter.font',
  Tkinter: 'tkinter',
  tkMessageBox: 'tkinter.messagebox',
  tkSimpleDialog: 'tkinter.simpledialog',
  ttk: 'tkinter.ttk',
  urllib2: 'urllib.request and urllib.error',
  urlparse: 'urllib.parse',
  user: 'site',
  UserDict: 'collections.UserDict',
  UserList: 'collections.UserList',
  UserString: 'collections.UserString',
  whichdb: 'dbm.whichdb',
  xmlrpclib: 'xmlrpc.client',
  _winreg: 'winreg',
};

/** What `name` (a top-level import) is, when it is a standard-library name of another Python. */
export function legacyModule(name: string, version: string): LegacyModule | undefined {
  const python2 = PYTHON2[name];
  if (python2 !== undefined) {
    return { kind: 'python2', advice: `Python 3 has it as ${python2}; the code needs porting` };
  }
  const versions = supportedPythonVersions();
  const target = versions.indexOf(minorVersion(version));
  const has = (i: number) =>
    i >= 0 && i < versions.length && stdlibModules(versions[i] as string).has(name);
  if (target < 0 || has(target)) return undefined;
  // Removed: an older version has it (the first version after the last one that had it).
  let first = target;
  while (first > 0 && !has(first - 1)) first--;
  if (first > 0) {
    const removal = REMOVED[name] ?? { advice: 'see CPython\u2019s What\u2019s New' };
    return { kind: 'removed', removedIn: versions[first] as string, ...removal };
  }
  let later = target + 1;
  while (later < versions.length && !has(later)) later++;
  if (later >= versions.length) return undefined;
  const addedIn = versions[later] as string;
  return {
    kind: 'newer',
    addedIn,
    advice:
      name === 'tomllib'
        ? 'tomli is the same module for older versions (import tomli as tomllib)'
        : `target Python ${addedIn} or later`,
  };
}
