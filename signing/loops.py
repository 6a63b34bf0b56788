"""Run synchronous code that calls `asyncio.run()` (pyHanko does) even where an event loop is running."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def outside_event_loop(fn: Callable[P, R]) -> Callable[P, R]:
    """Call `fn` directly, or in a helper thread when this thread already runs an event loop.

    pyHanko's synchronous API calls asyncio.run(), which refuses to start inside a running loop
    (an async server, a Playwright session in tests); a fresh thread has no loop.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outside-loop") as pool:
            return pool.submit(fn, *args, **kwargs).result()

    return wrapper
