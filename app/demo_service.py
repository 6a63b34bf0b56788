"""make demo: bidders and the office rate the service; the supervisor's dashboard figures (issue 16)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def steps(demo: Any) -> list[Callable[[], None]]:
    """The demo's steps for this part, bound to the running demo (none yet: being built)."""
    return []
