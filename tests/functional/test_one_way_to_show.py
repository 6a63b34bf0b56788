"""One way to show things on every page (issue 15): on Chinese pages no code shows raw, every time is in
the one format (Beijing time, named), every amount has separators and the currency's decimals."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from core.models import Role
from tests import factories

#: The codes the issue found raw on Chinese pages.
RAW_CODES = ("accepted", "constituted", "signed", "contract_signed", "paid", "released", "bank_statement",
             "construction", "government_procurement", "tendering_office", "comprehensive_scoring", "bidder",
             "administrator", "supervisor", "issuer", "published", "draft")
#: Times in any other form: "+0800", "GMT+8", "（Asia/Shanghai）", a raw ISO 8601 string.
OTHER_TIMES = re.compile(r"[+-]0[0-9]00\b|GMT[+-]|Asia/Shanghai|\d{4}-\d\d-\d\dT\d\d:\d\d|"
                         r"\d\d:\d\d(:\d\d)? UTC")
ONE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? 北京时间")


class Visible(HTMLParser):
    """The text a person sees: no scripts, styles or attributes; option texts included."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "template"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template") and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible(html: str) -> str:
    parser = Visible()
    parser.feed(html)
    return " ".join(parser.parts)


def person(role: Role):
    user = factories.user(role)
    user.display_name = "张三"  # the factories' display names are built from the role's code
    return user


@pytest.fixture
def office(session):
    return person(Role.TENDERING_OFFICE)


@pytest.fixture
def tender(session, office):
    made = factories.tender(office, publish=True, title="鼓楼区背街小巷提升工程", estimated_price="600000.00",
                            deposit_amount="12000.00", project_type="government_procurement")
    session.commit()
    return made


def check(page: str, where: str) -> str:
    text = visible(page)
    raw = [code for code in RAW_CODES if re.search(rf"(?<![\w/.-]){code}(?![\w/.-])", text)]
    assert not raw, f"{where}: raw codes {raw} in the visible text"
    other = OTHER_TIMES.search(text)
    assert other is None, f"{where}: a time not in the one format: {other.group(0)!r}"
    return text


@pytest.mark.parametrize(("role", "paths"), [
    (None, ["/tenders", "/tenders/{id}"]),
    (Role.TENDERING_OFFICE, ["/office/tenders", "/tenders/{id}", "/deposits/"]),
    (Role.BIDDER, ["/tenders/{id}", "/deposits/", "/my/bids"]),
    (Role.ADMINISTRATOR, ["/admin/organisations", "/admin/users", "/admin/users/new",
                          "/admin/organisations/new", "/deposits/admin"]),
])
def test_chinese_pages_show_labels_one_time_format_and_grouped_amounts(client, login, session, office, tender,
                                                                        role, paths):
    if role is Role.TENDERING_OFFICE:
        login(client, office)
    elif role is not None:
        user = person(role)
        session.commit()
        login(client, user)
    for path in paths:
        response = client.get(path.format(id=tender.id))
        assert response.status_code == 200, path
        text = check(response.get_data(as_text=True), f"{role} {path}")
        if path == "/tenders/{id}":
            assert "600,000.00 CNY" in text and "600000.00" not in text  # separators, the currency's decimals
            assert "12,000.00 CNY" in text
            assert ONE_TIME.search(text), "the deadline in the one format"
            assert "政府采购" in text  # the project type by its label
