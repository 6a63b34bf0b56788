"""Sockets accept only the platform's own origin: another site's page cannot ride on a session cookie."""

from __future__ import annotations


def _handshake(client, origin: str | None):
    headers = {"Origin": origin} if origin else {}
    return client.get("/socket.io/?EIO=4&transport=polling", headers=headers)


def test_a_foreign_origin_is_refused_and_our_own_accepted(client):
    assert _handshake(client, "https://evil.example").status_code == 400
    assert _handshake(client, "http://localhost").status_code == 200
    assert _handshake(client, None).status_code == 200  # non-browser clients send no Origin
