"""`python -m benchmarks [names...] [--quick] [--list]`: run benchmarks and print each as a table."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import sys
import time
import traceback

from benchmarks import MODULES, REGISTRY, select
from benchmarks.common import Report, table


def _environment(quick: bool) -> str:
    import cryptography

    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{when} · Python {platform.python_version()} · cryptography {cryptography.__version__} · "
            f"{platform.system()} {platform.machine()} · {os.cpu_count()} CPUs · "
            f"{'quick (tiny sizes, for CI)' if quick else 'full sizes'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*",
                        help="benchmarks to run, or a group such as 'signing' (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes that run in seconds (CI, tests)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    for module in MODULES:
        importlib.import_module(module)
    if args.list:
        for bench in REGISTRY.values():
            print(f"{bench.name:<20} {bench.title}")
        return 0
    try:
        chosen = select(args.names)
    except LookupError as exc:
        parser.error(str(exc))

    print(_environment(args.quick))
    print("ratio = ours ÷ reference in cost per item (time, bytes or hashes): 1.00× is no overhead, "
          "2.00× costs twice as much")
    failed = []
    for bench in chosen:
        print(f"\n== {bench.name}: {bench.title}")
        print(f"   {bench.comparison}")
        report = Report()
        start = time.perf_counter()
        try:
            bench.run(report, args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(bench.name)
        if report.rows:
            print(table(report.rows))
        for note in report.notes:
            print(f"   · {note}")
        print(f"   ({time.perf_counter() - start:.1f} s)")
        sys.stdout.flush()
    if failed:
        print(f"\nFAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
