#!/usr/bin/env python3
"""Generates data/depfinder-map.json (import name -> conda package) from depfinder's table.

    python3 packages/analyzer/scripts/gen-depfinder.py \
        /work/shared/data/depfinder/name_mapping.yml > packages/analyzer/data/depfinder-map.json

Needs PyYAML. The source is depfinder (ericdill/depfinder, depfinder/pkg_data/name_mapping.yml,
commit c82844b51f5b, BSD 3-Clause: data/depfinder-LICENSE is its notice and ships with the data).

Rows of import-overrides.tsv (import, conda package, reason) replace depfinder's answer: the
corrections (depfinder is wrong or out of date) and well-known names it lacks. namespaces.tsv
lists namespace packages (google, azure, zope...): their bare name maps to nothing, and an
unlisted portion is named by the analyzer as conda-forge names that family.

Some import names have several candidate packages (`numpy` is also listed for `skorch`); the
choice is deterministic: depfinder's hand-written ("static") rows first, then a package whose
name is the import name (case, `_` and `-` ignored), then the PyPI name's match, then the
alphabetically first conda name.
"""

import json
import os
import sys

import yaml


HERE = os.path.dirname(os.path.abspath(__file__))


def read_tsv(name, columns):
    """Rows of a tab-separated file beside this script ('#' lines are comments)."""
    rows = []
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != columns or not all(fields):
                sys.exit("%s:%d: expected %d tab-separated columns" % (name, number, columns))
            rows.append(fields)
    return rows


def norm(name):
    return name.lower().replace("_", "-").replace(".", "-")


def main(path):
    with open(path, encoding="utf-8") as f:
        rows = yaml.safe_load(f)
    candidates = {}
    for row in rows:
        imp, conda = row.get("import_name"), row.get("conda_name")
        if not imp or not conda:
            continue
        candidates.setdefault(str(imp), []).append(row)
    table = {}
    for imp, options in candidates.items():
        def rank(row):
            conda = str(row["conda_name"])
            return (
                row.get("mapping_source") != "static",
                norm(conda) != norm(imp),
                norm(conda) != norm(str(row.get("pypi_name") or "")),
                conda,
            )
        table[imp] = str(min(options, key=rank)["conda_name"])
    # Our corrections and additions, each with its reason (import-overrides.tsv) win.
    for imp, conda, _reason in read_tsv("import-overrides.tsv", 3):
        if conda == "-":
            table.pop(imp, None)
        else:
            table[imp] = conda
    namespaces = {name: sep for name, sep, _example in read_tsv("namespaces.tsv", 3)}
    for name, sep in namespaces.items():
        if sep not in ("-", "."):
            sys.exit("namespaces.tsv: separator of %s must be - or ." % name)
        if name in table:
            sys.exit("namespaces.tsv: %s is a namespace but the table maps it to %s" % (name, table[name]))
    data = {
        "source": "depfinder name_mapping.yml (ericdill/depfinder@c82844b51f5b), BSD-3-Clause, see depfinder-LICENSE",
        "generatedBy": "packages/analyzer/scripts/gen-depfinder.py",
        "overrides": "packages/analyzer/scripts/import-overrides.tsv",
        "map": dict(sorted(table.items())),
        "namespaces": dict(sorted(namespaces.items())),
    }
    json.dump(data, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/depfinder/name_mapping.yml")
