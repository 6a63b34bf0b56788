"""One way to show things (issue 15): every code has a Chinese and an English label, and one format for
times and amounts, usable with or without a request."""

from __future__ import annotations

import datetime as dt
import enum
import importlib
import pkgutil
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from core import labels
from core.money import Money

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "bidding", "guarantees", "signing", "notifications", "app")
CATALOGUE = ROOT / "app" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def every_str_enum() -> list[type[enum.StrEnum]]:
    found: dict[str, type[enum.StrEnum]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (isinstance(value, type) and issubclass(value, enum.StrEnum) and value is not enum.StrEnum
                        and value.__module__ == module.__name__):
                    found[labels.group_of(value)] = value
    return sorted(found.values(), key=labels.group_of)


def msgid(text: object) -> tuple[str, str | None]:
    """The English message of a lazy label and its context (what the catalogue is keyed by)."""
    args = getattr(text, "_args", None) or (str(text),)
    return (args[1], args[0]) if len(args) == 2 else (args[0], None)


def test_every_str_enum_member_has_an_english_and_a_chinese_label(app):
    import app.labels  # noqa: F401  (the application registers every domain's labels)

    enums = every_str_enum()
    assert len(enums) >= 40  # the walk found the code base's enums
    with CATALOGUE.open("rb") as f:
        catalogue = read_po(f, locale="zh_CN")
    missing, untranslated = [], []
    for kind in enums:
        table = labels.registered(kind)
        for member in kind:
            where = f"{labels.group_of(kind)}.{member.name}"
            if member.value not in table:
                missing.append(where)
                continue
            english, context = msgid(table[member.value])
            message = catalogue.get(english, context=context)
            if not english or message is None or not message.string or message.fuzzy:
                untranslated.append(f"{where}: {english!r}")
    assert not missing, f"codes without a label (register them in the domain's labels module): {missing}"
    assert not untranslated, f"labels without a Chinese translation in messages.po: {untranslated}"


def test_the_label_filter_speaks_the_page_language(app):
    from bidding.lifecycle import TenderState
    from guarantees.lifecycle import GuaranteeState
    from guarantees.models import TenderOutcome

    with app.app_context():
        shown = labels.in_language("zh_CN", [TenderState.PUBLISHED, GuaranteeState.RELEASED,
                                             TenderOutcome.CONTRACT_SIGNED])
        assert shown == ["投标中", "已释放", "已签订合同"]
        assert labels.in_language("en", [TenderState.PUBLISHED]) == ["Open for bids"]
    with app.test_request_context("/?lang=zh_CN"):
        assert labels.label("bank_statement", "guarantees.import_kind") == "银行对账单"
        assert labels.label("construction") == "工程施工"
        assert labels.label(None) == "—" and labels.label("no_such_code") == "no_such_code"
    assert {"accepted", "constituted", "signed", "contract_signed", "paid", "released", "bank_statement",
            "construction", "government_procurement", "tendering_office"} <= labels.all_codes()


MOMENT = dt.datetime(2026, 12, 6, 8, 30, 26, tzinfo=dt.UTC)  # 16:30:26 in Beijing


def test_one_time_format_names_the_zone_with_or_without_a_request(app):
    # Outside any application: Chinese, Beijing time.
    assert labels.format_time(MOMENT) == "2026-12-06 16:30 北京时间"
    assert labels.format_time(MOMENT, "en", seconds=True) == "2026-12-06 16:30:26 Beijing time"
    assert labels.format_time(MOMENT, "zh_CN", "Asia/Tokyo") == "2026-12-06 17:30 UTC+9"
    assert labels.format_time(MOMENT, "en", "Asia/Kolkata") == "2026-12-06 14:00 UTC+5:30"
    assert labels.format_time(MOMENT.replace(tzinfo=None)) == "2026-12-06 16:30 北京时间"  # naive is UTC
    assert labels.format_time(None) == "—"
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        assert labels.when(MOMENT) == "2026-12-06 16:30 Beijing time"
        assert labels.when_seconds(MOMENT) == "2026-12-06 16:30:26 Beijing time"


def test_the_display_zone_is_the_deployments(app):
    zone = app.config["BABEL_DEFAULT_TIMEZONE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Hong_Kong"
    try:
        with app.app_context():
            assert labels.format_time(MOMENT) == "2026-12-06 16:30 香港时间"
            assert labels.format_time(MOMENT, "en", "UTC") == "2026-12-06 08:30 UTC"
    finally:
        app.config["BABEL_DEFAULT_TIMEZONE"] = zone


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("600000.00", "CNY", "600,000.00 CNY"), ("600000", "CNY", "600,000.00 CNY"),
    ("1234567.5", "USD", "1,234,567.50 USD"), ("1200", "JPY", "1,200 JPY"), ("0.5", "CNY", "0.50 CNY"),
])
def test_one_amount_format_has_separators_and_the_currency_decimals(amount, currency, shown):
    assert labels.format_money(Money(Decimal(amount), currency), locale="zh_CN") == shown
    assert labels.format_money(Money(Decimal(amount), currency), locale="en") == shown
    assert labels.format_money(None) == "—"
