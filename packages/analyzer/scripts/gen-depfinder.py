#!/usr/bin/env python3
"""Generates data/depfinder-map.json (import name -> conda package) from depfinder's table.

    python3 packages/analyzer/scripts/gen-depfinder.py \
        /work/shared/data/depfinder/name_mapping.yml > packages/analyzer/data/depfinder-map.json

Needs PyYAML. The source is depfinder (ericdill/depfinder, depfinder/pkg_data/name_mapping.yml,
commit c82844b51f5b, BSD 3-Clause: data/depfinder-LICENSE is its notice and ships with the data).

Some import names have several candidate packages (`numpy` is also listed for `skorch`); the
choice is deterministic: depfinder's hand-written ("static") rows first, then a package whose
name is the import name (case, `_` and `-` ignored), then the PyPI name's match, then the
alphabetically first conda name.
"""

import json
import sys

import yaml


# Well-known import names that depfinder's table lacks (checked against conda-forge package
# names by hand). They only fill gaps: a name depfinder knows keeps depfinder's answer.
EXTRA = {
    "sklearn": "scikit-learn",
    "bs4": "beautifulsoup4",
    "tables": "pytables",
    "Bio": "biopython",
    "mpl_toolkits": "matplotlib-base",
    "win32api": "pywin32",
    "win32con": "pywin32",
    "gi": "pygobject",
    "ruamel": "ruamel.yaml",
    "typing_extensions": "typing_extensions",
    "torch": "pytorch",
    "nacl": "pynacl",
    "_pytest": "pytest",
    "ndcctools": "ndcctools",
    "work_queue": "ndcctools",
    "taskvine": "ndcctools",
    "h5py": "h5py",
    "pandas": "pandas",
    "scipy": "scipy",
    "numba": "numba",
    "tensorflow": "tensorflow",
    "xgboost": "xgboost",
    "awkward": "awkward",
    "coffea": "coffea",
    "tomli": "tomli",
    "setuptools": "setuptools",
    "pip": "pip",
    "wheel": "wheel",
}


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
    for imp, conda in EXTRA.items():
        table.setdefault(imp, conda)
    data = {
        "source": "depfinder name_mapping.yml (ericdill/depfinder@c82844b51f5b), BSD-3-Clause, see depfinder-LICENSE",
        "generatedBy": "packages/analyzer/scripts/gen-depfinder.py",
        "map": dict(sorted(table.items())),
    }
    json.dump(data, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/depfinder/name_mapping.yml")
