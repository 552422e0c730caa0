#!/usr/bin/env python3.11
"""Generates data/stdlib.json: the top-level standard-library module names of CPython 3.8 to 3.14.

Run with a CPython 3.11 (for example Debian's /usr/bin/python3.11):

    python3.11 packages/analyzer/scripts/gen-stdlib.py > packages/analyzer/data/stdlib.json

Only one interpreter is available where this project is built, and nothing can be downloaded,
so 3.11 is the base (`sys.stdlib_module_names`, which lists every platform's modules, e.g.
`winreg` and `msvcrt` too) and the other versions apply the additions and removals listed in
CPython's "What's New" documents (DELTAS below). Private C helpers (`_foo`) are included where
they are known; user code rarely imports them.
"""

import json
import sys

if sys.version_info[:2] != (3, 11):
    sys.exit("run this with CPython 3.11: it is the base the deltas are written against")

# `__main__` is always importable but not listed.
BASE = set(sys.stdlib_module_names) | {"__main__"}

# Each version's list relative to the previous one (3.11 is the base; older versions undo the
# later changes, newer versions apply theirs).
ADDED = {
    "3.9": ["graphlib", "zoneinfo", "_zoneinfo", "_peg_parser", "_aix_support", "_bootsubprocess"],
    "3.10": ["_statistics"],
    "3.11": ["tomllib", "_tokenize", "_typing"],
    "3.12": ["_sha2", "_pylong", "_wmi", "_pydatetime"],
    "3.13": [
        "_pyrepl", "_colorize", "_suggestions", "_opcode_metadata", "_interpreters",
        "_interpchannels", "_interpqueues", "_ios_support", "_android_support", "_sysconfig",
    ],
    "3.14": ["annotationlib", "compression", "_zstd", "_remote_debugging", "_hmac", "_apple_support"],
}
REMOVED = {
    # dummy_threading and _dummy_thread: gone in 3.9.
    "3.9": ["dummy_threading", "_dummy_thread"],
    # parser, symbol and formatter (deprecated since 3.4/3.9), the 3.9-only PEG parser module.
    "3.10": ["parser", "symbol", "formatter", "_bootlocale", "_peg_parser"],
    "3.11": ["binhex"],
    # PEP 632 (distutils), imp, the asyncore family; _sha256/_sha512 merged into _sha2.
    "3.12": ["distutils", "imp", "asynchat", "asyncore", "smtpd", "_sha256", "_sha512"],
    # PEP 594 dead batteries, lib2to3 and their C helpers.
    "3.13": [
        "aifc", "audioop", "cgi", "cgitb", "chunk", "crypt", "imghdr", "mailcap", "msilib", "nis",
        "nntplib", "ossaudiodev", "pipes", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
        "lib2to3", "_crypt", "_msi",
    ],
    "3.14": [],
}
VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]


def version_sets():
    sets = {"3.11": set(BASE)}
    # Walk backwards from 3.11: undo what each newer version added/removed.
    current = set(BASE)
    for newer, older in (("3.11", "3.10"), ("3.10", "3.9"), ("3.9", "3.8")):
        current = (current - set(ADDED[newer])) | set(REMOVED[newer])
        sets[older] = set(current)
    current = set(BASE)
    for newer in ("3.12", "3.13", "3.14"):
        current = (current | set(ADDED[newer])) - set(REMOVED[newer])
        sets[newer] = set(current)
    return sets


def main():
    sets = version_sets()
    # Compact form: the union of all names, and per name the versions where it is absent.
    every = sorted(set().union(*sets.values()))
    data = {
        "generatedBy": "packages/analyzer/scripts/gen-stdlib.py",
        "base": "CPython %d.%d.%d sys.stdlib_module_names" % sys.version_info[:3],
        "versions": VERSIONS,
        "modules": {v: sorted(sets[v]) for v in VERSIONS},
    }
    assert every
    json.dump(data, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


main()
