"""Ports for the servers tests start: ones the kernel hands out, so parallel test workers never probe the
same fixed range from its bottom and collide (pytest-xdist runs the suite on every core)."""

from __future__ import annotations

import socket


def free_port(*, avoid: tuple[int, ...] | list[int] = ()) -> int:
    """A loopback port nobody listens on now (start the server promptly: it is not reserved)."""
    for _ in range(20):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in avoid:
            return port
    raise RuntimeError("the kernel kept handing out ports that were to be avoided")
