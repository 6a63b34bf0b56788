"""The one strict reader of JSON from outside: bounded before parsing, one meaning for every document.

Every request body is read through `StrictRequest.get_json` (installed as the application's request
class), so `request.get_json()`, `request.get_json(silent=True)` and `request.json` all apply the
same rules; code that has raw bytes (a socket message, a file) calls `loads`. The rules
(docs/decisions.md, "Bad input"):

- at most `MAX_JSON_BODY` bytes (1 MiB by default): a larger body is refused with 413 unread;
- at most `MAX_JSON_DEPTH` nested arrays and objects (32), counted on the raw bytes before parsing,
  so no document can exhaust the parser's recursion;
- UTF-8 only; no key given twice in one object (RFC 8259 leaves its meaning open); no NaN, Infinity
  or number too large for a float; no NUL and no lone surrogate (`\\u0000`, `\\ud800`) in any string.

A body that breaks a rule is answered 422 (`invalid`, or 413 `too_large`) even when the caller asked
for `silent=True`: silence covers a body that is not JSON at all (another content type), never a
JSON body that is malformed.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Request, current_app, has_app_context
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import Refused
from core.validation import ValidationError

#: Defaults for the settings of the same names.
MAX_JSON_BODY = 1024 * 1024
MAX_JSON_DEPTH = 32

#: A JSON string (skipped whole, so brackets inside it do not count) or one bracket.
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
#: Escapes that may hide a NUL or a surrogate (which then needs a look at the parsed strings).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


class JSONRefused(ValidationError):
    """A JSON document that breaks one of the rules; `status` is 413 for size, else 422."""
    def __init__(self, message: str, *, field: str | None = None, status: int = 422,
                 code: str = "invalid") -> None:
        super().__init__(field, message, code)
        self.status = status


def _limits() -> tuple[int, int]:
    if has_app_context():
        config = current_app.config
        return (int(config.get("MAX_JSON_BODY", MAX_JSON_BODY)),
                int(config.get("MAX_JSON_DEPTH", MAX_JSON_DEPTH)))
    return MAX_JSON_BODY, MAX_JSON_DEPTH


def too_large(limit: int) -> JSONRefused:
    return JSONRefused(_("A JSON body is at most %(limit)s bytes.", limit=limit), status=413,
                       code="too_large")


def check_depth(raw: bytes, max_depth: int) -> None:
    """Refuse more than `max_depth` nested arrays/objects, looking only at the bytes (no parsing)."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return
    depth = 0
    for token in _TOKENS.finditer(raw):
        first = token.group()[0]
        if first in b"[{":
            depth += 1
            if depth > max_depth:
                raise JSONRefused(_("JSON is nested at most %(depth)s deep.", depth=max_depth))
        elif first in b"]}":
            depth -= 1


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise JSONRefused(_("The key %(key)s is given twice in one object.", key=json.dumps(key)[:80]),
                              field=key[:80])
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise JSONRefused(_("%(name)s is not a JSON number.", name=name))


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused(_("The number %(number)s is too large.", number=text[:40]))
    return value


def _bad_text(where: str) -> JSONRefused:
    return JSONRefused(_("Text may not contain NUL (U+0000) or an unpaired surrogate (U+D800 to U+DFFF)."),
                       field=where or None)


def _check_strings(value: Any, path: str) -> None:
    """Refuse NUL and lone surrogates in any key or string (only called when an escape may hide one)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _BAD_CHARS.search(item):
                raise _bad_text(where)
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else key
                if _BAD_CHARS.search(key):
                    raise _bad_text(where)
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))


def loads(raw: bytes | str, *, max_bytes: int | None = None, max_depth: int | None = None) -> Any:
    """Parse one JSON document under the rules above, or raise `JSONRefused` saying which rule."""
    default_bytes, default_depth = _limits()
    max_bytes = default_bytes if max_bytes is None else max_bytes
    max_depth = default_depth if max_depth is None else max_depth
    if isinstance(raw, str):
        if len(raw) > max_bytes:  # a character is at least one byte
            raise too_large(max_bytes)
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise too_large(max_bytes)
    check_depth(raw, max_depth)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONRefused(_("JSON must be encoded in UTF-8.")) from None
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
    except JSONRefused:
        raise
    except RecursionError:  # pragma: no cover - check_depth comes first
        raise JSONRefused(_("JSON is nested at most %(depth)s deep.", depth=max_depth)) from None
    except ValueError as exc:
        raise JSONRefused(_("The body is not valid JSON: %(reason)s", reason=str(exc)[:200])) from None
    if _SUSPECT_ESCAPE.search(raw):
        _check_strings(value, "")
    return value


class StrictRequest(Request):
    """Flask's request whose JSON is read by `loads` (bounded size and depth, no duplicate keys)."""
    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            return None if silent else self.on_json_loading_failed(None)
        max_bytes, max_depth = _limits()
        length, overall = self.content_length, self.max_content_length
        if length is not None and overall is not None and length > overall:
            raise RequestEntityTooLarge()  # the request's own limit first, as for any other body
        try:
            if length is not None and length > max_bytes:
                raise too_large(max_bytes)
            value = loads(self.get_data(cache=cache), max_bytes=max_bytes, max_depth=max_depth)
        except JSONRefused as exc:
            if exc.status == 413:  # answered as the request being too large, not as a field's error
                raise Refused(exc.message, code=exc.code, status=413) from None
            raise
        if cache:
            self._cached_json = (value, value)
        return value


def read_json() -> Any:
    """The current request's body as JSON under these rules; 422 when it is not JSON at all."""
    from flask import request

    if not request.is_json:
        raise ValidationError(None, "the body must be JSON (Content-Type: application/json)")
    return request.get_json()


class SocketJSON:
    """The JSON module of the Socket.IO server: incoming events are read under the same rules.

    Engine.IO already bounds a message's size (`max_http_buffer_size`), so only the depth, duplicate
    key and value rules apply here; a refused packet is dropped and logged by the server, as any other
    malformed packet. Outgoing packets are written by the standard library, as before.
    """
    #: Socket messages are bounded by Engine.IO; this only keeps `loads` from applying the body limit.
    MAX_BYTES = 16 * 1024 * 1024

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        return json.dumps(obj, **kwargs)

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return loads(text, max_bytes=SocketJSON.MAX_BYTES, max_depth=MAX_JSON_DEPTH)
