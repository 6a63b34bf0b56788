"""Redirect targets stay on the site; production headers; bounded ids (issue 12)."""

from __future__ import annotations

import io
import re
import socket
import threading

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import security
from config import DevelopmentConfig, ProductionConfig
from core.models import Role
from tests import factories

FOREIGN = ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "//evil.example/x",
           "/\\evil.example", "\\\\evil.example", "https://evil.example/", "http:evil.example",
           " //evil.example", "javascript:alert(1)", "/tenders\x00", "/\x7f/evil.example"]


# -- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", FOREIGN)
def test_login_never_redirects_off_the_site(new_client, session, target):
    office = factories.user(Role.TENDERING_OFFICE)
    client = new_client()
    response = client.post("/login", query_string={"next": target},
                           data={"username": office.username, "password": factories.PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"


def test_login_next_with_an_encoded_tab_stays_on_the_site(client, session):
    office = factories.user(Role.TENDERING_OFFICE)
    response = client.post("/login?next=/%09/evil.example",
                           data={"username": office.username, "password": factories.PASSWORD})
    assert response.headers["Location"] == "/home"


@pytest.mark.parametrize("target", FOREIGN)
def test_the_language_switch_never_redirects_off_the_site(client, session, target):
    response = client.post("/language", data={"lang": "en", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/tenders", "/tenders?page=2&q=a%20b", "/office/tenders/new#lots"])
def test_local_paths_are_still_followed(client, session, target):
    assert client.post("/language", data={"lang": "en", "next": target}).headers["Location"] == target


# -- production headers ----------------------------------------------------------------------------------


def _bare(config: type, **overrides) -> Flask:
    """A bare application with a configuration class and the platform's security headers."""
    bare = Flask("headers")
    bare.config.from_object(config)
    bare.config.update(overrides)
    security.init_app(bare)
    bare.add_url_rule("/page", "page", lambda: "ok")
    return bare


def _serve(app: Flask, path: str = "/page", **environ) -> tuple[str, dict[str, str]]:
    """Status and headers as the WSGI server would send them (the middleware included)."""
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(headers)

    base = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "ebid.example", "SERVER_PORT": "443",
            "wsgi.url_scheme": "https", "HTTP_HOST": "ebid.example", "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": io.StringIO(), "SERVER_PROTOCOL": "HTTP/1.1"}
    b"".join(app.wsgi_app({**base, **environ}, start_response))
    return answer["status"], answer["headers"]


def test_production_sends_hsts_and_names_its_own_socket_origin():
    app = _bare(ProductionConfig, PUBLIC_URL="https://ebid.example")
    _, headers = _serve(app)
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    csp = headers["Content-Security-Policy"]
    connect = re.search(r"connect-src ([^;]+);", csp).group(1).split()
    assert connect == ["'self'", "wss://ebid.example"]


def test_development_sends_no_hsts():
    _, headers = _serve(_bare(DevelopmentConfig), **{"wsgi.url_scheme": "http"})
    assert "Strict-Transport-Security" not in headers


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_the_server_names_itself_without_name_or_version_even_on_its_own_errors():
    app = _bare(ProductionConfig)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=security.request_handler(app))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for request in (b"GET /page HTTP/1.1\r\nHost: ebid.example\r\nConnection: close\r\n\r\n",
                        b"GET /nowhere HTTP/1.1\r\nHost: ebid.example\r\nConnection: close\r\n\r\n",
                        b"GET /page HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n"):  # the server's own 431
            head = _raw(server.port, request).split(b"\r\n\r\n", 1)[0].decode("latin-1")
            servers = [line for line in head.split("\r\n") if line.lower().startswith("server:")]
            assert servers == ["Server: ebid"], head
            assert "Werkzeug" not in head and "Python" not in head
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize(("environ", "expected"), [
    ({"wsgi.url_scheme": "https", "HTTP_HOST": "tender.gov.example"}, ["'self'", "wss://tender.gov.example"]),
    ({"wsgi.url_scheme": "http", "HTTP_HOST": "127.0.0.1:5000"}, ["'self'", "ws://127.0.0.1:5000"]),
    ({"wsgi.url_scheme": "https", "HTTP_HOST": "evil; script-src *"}, ["'self'"]),
])
def test_without_a_public_url_the_csp_names_the_address_the_request_came_to(environ, expected):
    _, headers = _serve(_bare(DevelopmentConfig), **environ)
    connect = re.search(r"connect-src ([^;]+);", headers["Content-Security-Policy"]).group(1).split()
    assert connect == expected


def test_the_platforms_csp_lets_no_page_connect_to_any_other_socket_host(client, session):
    csp = client.get("/tenders").headers["Content-Security-Policy"]
    connect = re.search(r"connect-src ([^;]+);", csp).group(1).split()
    assert "ws:" not in connect and "wss:" not in connect
    assert connect == ["'self'", "ws://localhost"]
