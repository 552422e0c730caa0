"""The report myapp prints: where it runs, and what its one third-party dependency says."""

import platform
import sys

import chain_top


def describe_environment(args: list[str]) -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "prefix": sys.prefix,
        "chain": chain_top.chain(),
        "args": args,
    }
