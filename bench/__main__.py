"""Run the benchmarks: `python -m bench` runs them all, `python -m bench NAME ...` only those named.

A benchmark is any module in this package whose name does not start with an underscore and
that defines `main()`. Each prints its own figures, as ratios against a baseline it measures
in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

PACKAGE = "bench"


def discover() -> dict[str, Callable[[], object]]:
    """Every benchmark module's main(), by module name."""
    found: dict[str, Callable[[], object]] = {}
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        main = getattr(module, "main", None)
        if callable(main):
            found[info.name] = main
    return found


def run(argv: list[str] | None = None) -> int:
    benchmarks = discover()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of: {', '.join(benchmarks) or '(none)'}")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(benchmarks))
        return 0
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)}; there are: {', '.join(benchmarks)}")
    for name in args.names or list(benchmarks):
        print(f"== {name}")
        started = time.perf_counter()
        benchmarks[name]()
        print(f"== {name} took {time.perf_counter() - started:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(run())
