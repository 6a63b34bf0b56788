"""Security headers on every response, the server's name, trusted proxies, and safe redirect targets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.serving import WSGIRequestHandler

#: Scripts and styles come only from our own static files (built from the npm registry), never a CDN.
#: `connect-src` is filled per request with the platform's own origin (see `connect_sources`).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src {connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
       "object-src 'none'")

_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def connect_sources() -> str:
    """The CSP's `connect-src`: this site, and its own Socket.IO endpoint by name (ws: or wss:), no other.

    `'self'` alone covers same-origin sockets only in recent browsers, hence the explicit origin. It is
    `PUBLIC_URL` when set (production), else the address this request came to; a Host header that is
    not a plain host name gets `'self'` alone.
    """
    public = current_app.config.get("PUBLIC_URL")
    if public:
        parts = urlsplit(public)
        scheme, host = parts.scheme, parts.netloc
    else:
        scheme, host = request.scheme, request.host
    if not _HOST.match(host or ""):
        return "'self'"
    return f"'self' {'wss' if scheme == 'https' else 'ws'}://{host}"


def request_handler(app: Flask) -> type[WSGIRequestHandler]:
    """Werkzeug's request handler, naming the server as `SERVER_HEADER` says (no name, no version).

    The server writes its `Server` header itself, on every response (Socket.IO's included) and on the
    errors it answers before the application sees a request, so it is set here rather than by the
    application. Pass it to the server: `socketio.run(app, request_handler=request_handler(app))`.
    """
    name = app.config.get("SERVER_HEADER") or "ebid"

    class QuietRequestHandler(WSGIRequestHandler):
        def version_string(self) -> str:
            return name

    return QuietRequestHandler


def safe_redirect_target(target: str | None, default: str) -> str:
    """`target` if it is a path on this site, else `default`: the one check for every redirect target.

    Only a relative path is accepted: it starts with one "/" (not "//" or "/\\", which browsers read
    as another host), has no scheme or host, and holds printable ASCII only. Browsers drop tabs and
    newlines from a URL and read "\\" as "/", so "/<tab>/evil.example" would otherwise leave the site.
    """
    if not target or not isinstance(target, str):
        return default
    if any(not 0x21 <= ord(char) <= 0x7E for char in target) or "\\" in target:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:  # the client's address and scheme as the platform's own proxies report them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP.format(connect=connect_sources()))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        hsts = app.config.get("STRICT_TRANSPORT_SECURITY")
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response
