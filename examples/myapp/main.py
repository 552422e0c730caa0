"""myapp: a small Python program whose environment @poncho/nx-plugin packs.

`npx nx run myapp:pack-env` analyzes the imports below, builds a conda environment with exactly
those packages, and packs it into dist/examples/myapp/env.tar.gz; `npx nx run myapp:run-env`
unpacks it and runs this script inside it.
"""

import json
import sys

from myapp_report import describe_environment


def main() -> int:
    print(json.dumps(describe_environment(sys.argv[1:]), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
