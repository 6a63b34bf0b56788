"""Helpers for HTTP tests: reading a page's form as a browser would, and the JSON error shape."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    """What a browser would submit for a page's forms: each field's name and current value."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, str]] = []
        self._select: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "button", "checkbox",
                                                                         "radio"):
            self.forms[-1][a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select, self._first_option = a.get("name"), None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
                self.forms[-1].setdefault(self._select, value)
            if "selected" in a:
                self.forms[-1][self._select] = value
        elif tag == "textarea":
            self._textarea = a.get("name")
            self.forms[-1][self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1][self._textarea] += data


def page_form(html: str, index: int = -1) -> dict[str, str]:
    """The fields of one form on a page (the last by default), as a browser would send them."""
    reader = _FormReader()
    reader.feed(html)
    return reader.forms[index]


def assert_json_error(response, status: int, *, code: str | None = None, field: str | None = None) -> dict:
    """The response is the platform's one JSON error shape, with this status, code and field."""
    assert response.status_code == status, response.get_data(as_text=True)[:1000]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "field"}
    assert isinstance(error["message"], str) and error["message"].strip()
    if code is not None:
        assert error["code"] == code, error
    assert error["field"] == field, error
    return error


def log_size(session) -> int:
    """How many entries the audit log holds now."""
    from sqlalchemy import func, select

    from signing.models import LogEntry

    session.expire_all()
    return session.scalar(select(func.count()).select_from(LogEntry))


def refusals_counted(session, channel: str, reason: str) -> int:
    """How many refusals of unauthenticated clients were counted for the channel and reason."""
    from signing import refusals

    session.expire_all()
    return refusals.counts(channel).get((channel, reason), 0)
