"""The baseline of bench/solve: Python's json.load of the given repodata.json files.
Prints {"ms": wall time of the loads, "maxRssMB": peak RSS of this process}."""
import json
import resource
import sys
import time

start = time.perf_counter()
docs = []
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        docs.append(json.load(f))
ms = (time.perf_counter() - start) * 1000
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"ms": ms, "maxRssMB": rss, "records": sum(len(d["packages"]) + len(d["packages.conda"]) for d in docs)}))
