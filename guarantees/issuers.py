"""The registry of issuers: which banks and insurers the platform works with, and through which adapter.

`GUARANTEE_ISSUERS` in configuration is a list of entries (or, from the environment, the path of a
JSON file holding that list):

    {"code": "sandbox-bank", "name": "...", "kind": "bank_guarantee" | "guarantee_insurance",
     "adapter": "guarantees.adapters.sandbox:SandboxIssuer", "settings": {...},
     "credit_code": "...",            # optional: the issuer's organisation on the platform
     "deposit_accounts": true}        # optional: it keeps the virtual sub-accounts for cash

Each adapter is built once, at start-up, with `from_config(settings)`; a wrong entry stops the
application from starting. The adapter's settings get three platform entries added: `issuer_code`,
`instance_path`, and `replay_store` when `GUARANTEE_REPLAY_STORE` names one.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from core.errors import Refused
from guarantees.adapters.interface import (
    INSTRUMENTS,
    AdapterConfigurationError,
    DepositAccountAdapter,
    IssuerAdapter,
)
from guarantees.schemas import IssuerOut

_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")


@dataclass(frozen=True)
class IssuerEntry:
    """One issuer in the registry, with its adapter built."""

    code: str
    name: str
    kind: str
    adapter_path: str
    adapter: IssuerAdapter = field(repr=False, compare=False)
    credit_code: str | None = None
    deposit_accounts: bool = False

    def out(self) -> IssuerOut:
        """The issuer as the API lists it."""
        return IssuerOut(code=self.code, name=self.name, kind=self.kind,
                         exchange=self.adapter_path.rpartition(":")[2],
                         deposit_accounts=self.deposit_accounts)


def load_class(target: str) -> type:
    module_name, _, class_name = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise AdapterConfigurationError(f"cannot load the adapter {target!r}: {exc}") from exc


def _entries(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = config.get("GUARANTEE_ISSUERS") or []
    if isinstance(raw, str | Path):
        raw = json.loads(Path(raw).read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise AdapterConfigurationError("GUARANTEE_ISSUERS must be a list of issuer entries")
    return raw


def build_registry(
    config: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None
) -> dict[str, IssuerEntry]:
    """Every configured issuer with its adapter; refuses a wrong entry with the reason."""
    registry: dict[str, IssuerEntry] = {}
    for n, entry in enumerate(_entries(config)):
        where = f"GUARANTEE_ISSUERS[{n}]"
        code = entry.get("code")
        if not isinstance(code, str) or not _CODE.match(code):
            raise AdapterConfigurationError(f"{where}: code must be 2-32 lower-case letters, digits or '-'")
        if code in registry:
            raise AdapterConfigurationError(f"{where}: issuer code {code} appears twice")
        if entry.get("kind") not in INSTRUMENTS:
            raise AdapterConfigurationError(f"{where}: kind must be one of {', '.join(INSTRUMENTS)}")
        if not entry.get("name") or not entry.get("adapter"):
            raise AdapterConfigurationError(f"{where}: name and adapter are required")
        settings = {
            "name": entry["name"],
            **(entry.get("settings") or {}),
            "issuer_code": code,
            "instance_path": str(config.get("INSTANCE_PATH") or ""),
            **(extra or {}),
        }
        adapter = load_class(entry["adapter"]).from_config(settings)
        accounts = bool(entry.get("deposit_accounts"))
        if accounts and not isinstance(adapter, DepositAccountAdapter):
            raise AdapterConfigurationError(
                f"{where}: the {entry['adapter']} adapter keeps no deposit accounts"
            )
        registry[code] = IssuerEntry(
            code=code,
            name=entry["name"],
            kind=entry["kind"],
            adapter_path=entry["adapter"],
            adapter=adapter,
            credit_code=entry.get("credit_code"),
            deposit_accounts=accounts,
        )
    return registry


def registry() -> dict[str, IssuerEntry]:
    return current_app.extensions["ebid.issuers"]


def issuer(code: str, *, field_name: str = "issuer") -> IssuerEntry:
    """The registered issuer with this code, or a clear refusal listing the ones there are."""
    entries = registry()
    if code not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise Refused(
            f"unknown issuer {code!r}; registered issuers: {known}",
            code="unknown_issuer",
            field=field_name,
            status=422,
        )
    return entries[code]


def deposit_bank() -> IssuerEntry | None:
    """The bank that keeps cash deposits' virtual sub-accounts (`CASH_DEPOSIT_BANK`, else the first one)."""
    entries = registry()
    chosen = current_app.config.get("CASH_DEPOSIT_BANK")
    if chosen:
        return entries.get(chosen)
    return next((e for e in entries.values() if e.deposit_accounts), None)
