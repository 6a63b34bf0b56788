"""RFC 8785 JSON Canonicalization Scheme (JCS) for values that are plain JSON and nothing else."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import rfc8785

# I-JSON (RFC 7493) numbers are IEEE 754 doubles; larger integers would not survive another parser.
_MAX_SAFE_INTEGER = 2**53 - 1


def canonical_json(obj: object) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a value made of dict, list, tuple, str, int, float, bool and None."""
    _check(obj, "$", set())
    return rfc8785.dumps(obj)  # type: ignore[arg-type]  # _check has narrowed obj to JSON types


def _type_name(value: object) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _check(value: object, path: str, seen: set[int]) -> None:
    """Refuse what JSON cannot carry exactly, naming where it is; rfc8785 would say less."""
    if value is None or isinstance(value, (str, bool)):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} at {path} is beyond ±(2**53 - 1); send it as a string")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} at {path} is not a JSON number")
        return
    if not isinstance(value, (dict, list, tuple)):
        hint = "convert it first (e.g. money and times to strings)"
        raise TypeError(f"{_type_name(value)} at {path} is not a JSON type; {hint}")
    if id(value) in seen:
        raise ValueError(f"circular reference at {path}")
    seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object key {key!r} at {path} is {_type_name(key)}; JSON keys are str")
            _check(item, f"{path}.{key}", seen)
    else:
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]", seen)
    seen.discard(id(value))


PairsHook = Callable[[list[tuple[str, Any]]], dict[str, Any]]


def reject_duplicate_keys(error: Callable[[str], Exception]) -> PairsHook:
    """A `json.loads` object_pairs_hook refusing a key given twice (RFC 8259 leaves the meaning open).

    `error(key)` makes the exception to raise, so each format names its own document.
    """

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise error(key)
            result[key] = value
        return result

    return hook
