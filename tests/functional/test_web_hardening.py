"""Redirect targets stay on the site; production headers; bounded ids in URLs (issue 12)."""

from __future__ import annotations

import pytest

from app.models import Role
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
