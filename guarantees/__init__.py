"""Deposits, credit waivers, e-guarantees through bank adapters, and the cash they release.

Nothing is registered yet: issue 7 builds this package. It knows tenders only through ids,
deadlines and amounts, never through `bidding` internals.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to register until the guarantees capability lands."""
