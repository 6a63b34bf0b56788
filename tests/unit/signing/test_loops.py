"""Signing works where an event loop is already running (pyHanko calls asyncio.run())."""

from __future__ import annotations

import asyncio

from signing.loops import outside_event_loop


def test_a_function_that_calls_asyncio_run_works_inside_a_running_loop() -> None:
    @outside_event_loop
    def uses_asyncio_run() -> int:
        async def answer() -> int:
            return 42

        return asyncio.run(answer())

    assert uses_asyncio_run() == 42

    async def inside() -> int:
        return uses_asyncio_run()

    assert asyncio.run(inside()) == 42


def test_without_a_loop_it_runs_in_the_calling_thread() -> None:
    import threading

    @outside_event_loop
    def where() -> str:
        return threading.current_thread().name

    assert where() == threading.current_thread().name
