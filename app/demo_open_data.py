"""make demo: the public downloads the OCDS package and record; the opening, score and award exports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo (none yet: being built)."""
    return []
