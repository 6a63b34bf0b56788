"""Run synchronous code that calls `asyncio.run()` (pyHanko does) even where an event loop is running."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def _native_threads() -> Any | None:
    """gevent's pool of real OS threads when the process is monkey-patched (gunicorn's gevent worker).

    There, a `threading.Thread` is a greenlet sharing one OS thread, and asyncio keeps one running loop
    per OS thread: while one request's pyHanko loop waits (a patched socket or lock yields to the hub),
    another request's `asyncio.run()` finds that loop "running" and refuses. A real thread has its own.
    """
    gevent = sys.modules.get("gevent")
    if gevent is None:
        return None
    from gevent import monkey

    if not monkey.is_module_patched("threading"):
        return None
    return gevent.get_hub().threadpool


def outside_event_loop(fn: Callable[P, R]) -> Callable[P, R]:
    """Call `fn` directly, or in a helper thread when this thread already runs an event loop.

    pyHanko's synchronous API calls asyncio.run(), which refuses to start inside a running loop
    (an async server, a Playwright session in tests); a fresh thread has no loop. Under gevent every
    call goes to a real OS thread (`_native_threads`), which also keeps the signing's CPU work off the
    greenlets' loop.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        native = _native_threads()
        if native is not None:
            return native.apply(fn, args, kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outside-loop") as pool:
            return pool.submit(fn, *args, **kwargs).result()

    return wrapper
