"""Deposit pages: a bidder applies for a guarantee, an office sets its requirement, an admin imports."""

from __future__ import annotations

import io
import re

from core.models import Role
from guarantees import tenders
from tests import factories
from tests.functional.helpers import page_form
from tests.unit.guarantees import deposit_helpers as h


def test_a_bidder_applies_for_a_guarantee_on_the_page(client, login, session):
    requirement = h.requirement()
    session.commit()
    bidder = factories.user(Role.BIDDER)
    login(client, bidder)
    page = client.get(f"/deposits/tenders/{requirement.tender_id}")
    assert page.status_code == 200 and 'data-state="not_covered"' in page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    form = next(f for f in (page_form(html, i) for i in range(html.count("<form"))) if "issuer" in f)
    assert form["issuer"] == "sandbox-bank" and form["amount"] == "20000.00"
    done = client.post(
        f"/deposits/tenders/{requirement.tender_id}/guarantees", data=form, follow_redirects=True
    )
    text = done.get_data(as_text=True)
    assert done.status_code == 200 and 'data-state="covered"' in text and "SBXBG" in text


def test_an_office_records_its_requirement_and_sees_nothing_before_the_opening(client, login, session):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    form = page_form(client.get(f"/deposits/office/tenders/{tender.id}").get_data(as_text=True))
    form.update(
        reference="ZB-PAGE-1",
        jurisdiction="350102",
        project_type="construction",
        estimated_price="1000000.00",
        deposit_amount="30000.00",
    )
    refused = client.post(f"/deposits/office/tenders/{tender.id}", data=form)
    assert refused.status_code == 422 and "over the cap of 2%" in refused.get_data(as_text=True)
    form["deposit_amount"] = "20000.00"
    done = client.post(f"/deposits/office/tenders/{tender.id}", data=form, follow_redirects=True)
    assert 'id="hidden-until-opening"' in done.get_data(as_text=True)
    assert tenders.requirement_for(tender.id).deposit_amount == 20000


def test_the_office_end_of_tender_form_names_its_fields(client, login, session):
    """Each field of the "end of the tender" form sits in its label (axe-core: a select without a name is a
    critical violation; a placeholder is no label)."""
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office)
    session.commit()
    login(client, office)
    form = page_form(client.get(f"/deposits/office/tenders/{tender.id}").get_data(as_text=True))
    form.update(reference="ZB-PAGE-2", jurisdiction="350102", project_type="construction",
                estimated_price="1000000.00", deposit_amount="20000.00")
    html = client.post(f"/deposits/office/tenders/{tender.id}", data=form,
                       follow_redirects=True).get_data(as_text=True)
    assert re.search(r'<label>[^<]+<select name="outcome">', html)
    assert re.search(r'<label>[^<]+<input name="credit_code">', html)


def test_an_administrator_imports_rules_on_the_page(client, login, session):
    login(client, factories.user(Role.ADMINISTRATOR))
    assert client.get("/deposits/admin").status_code == 200
    csv = (
        b"jurisdiction,rating_scheme,grade,reduction_percent,source,valid_from\n"
        b"350000,page-credit,A,40,page rule,2026-01-01\n350000,page-credit,B,abc,bad,2026-01-01\n"
    )
    page = client.post(
        "/deposits/admin/import/waiver_rules",
        data={"file": (io.BytesIO(csv), "w.csv")},
        follow_redirects=True,
    )
    text = page.get_data(as_text=True)
    assert "page rule" in text and "reduction_percent" in text


def test_the_public_verification_page_is_there(client, session):
    assert client.get("/guarantees/verify").status_code == 200


def test_the_verification_page_says_what_a_commitment_is(client, session):
    page = client.get("/guarantees/verify").get_data(as_text=True)
    assert 'id="commitments"' in page and "RFC 8785" in page and "SHA-256" in page
    assert 'id="letter-required"' in page
