"""Run against the cluster's instance (`python -m tests.cluster.opening_setup --bids 4,3`, with the
cluster's environment, not through a server): tests/functional/opening_restart_setup.py's tender, sealed
bids, close and opening time, once per number given (a tender with that many bids), in one process with
the cluster's own configuration (EBID_CONFIG from its env file), and usernames and credit codes numbered
from `--seq-start`, so that many runs can share one database.

Prints, as one JSON line per tender, what the people hold on their own machines (see that module).
"""

from __future__ import annotations

import argparse
import itertools

from app import create_app
from tests import factories
from tests.functional import opening_restart_setup as setup


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bids", default="3", help="bids per tender, comma-separated: one tender each")
    parser.add_argument("--seq-start", type=int, default=1)
    args = parser.parse_args(argv)
    factories._seq = itertools.count(args.seq_start)  # noqa: SLF001 - the factories' numbering
    app = create_app()  # the environment's configuration, not development's; built once
    setup.create_app = lambda _name: app
    for count in (int(n) for n in args.bids.split(",")):
        # distinct prices, so an announcement names its bid beyond doubt
        setup.PRICES = [f"{900000 + 12345 * i}.{i % 100:02d}" for i in range(1, count + 1)]
        setup.main()


if __name__ == "__main__":
    main()
