"""The opening room's page (/tenders/<id>/opening): who sees it, what part each visitor plays there, the
state it starts from, and the envelope headers a bidder's browser unwraps its data key from."""

# ruff: noqa: F811  (the fixtures imported from test_opening are redefined as arguments)

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from bidding import envelope
from bidding.opening import pages, services
from bidding.opening.models import BidOpeningState, Opening, OpeningState
from core.models import Role
from signing.canonical import canonical_json
from tests import factories
from tests.functional.test_opening import (  # noqa: F401  (fixtures)
    ceremony,
    clock,
    data_key,
    hand_over,
    office,
    start,
    supervisor,
)


class _Room(HTMLParser):
    """The attributes of #opening-room and the page's <script> tags, as a browser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.room: dict[str, str] | None = None
        self.scripts: list[dict[str, str | None]] = []
        self.inline_script = False
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == "opening-room":
            self.room = {k: v or "" for k, v in a.items()}
        if tag == "script":
            self.scripts.append(a)
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_script = True


def room(response) -> _Room:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    parsed = _Room()
    parsed.feed(response.get_data(as_text=True))
    assert parsed.room is not None
    return parsed


def data(parsed: _Room, name: str):
    return json.loads(parsed.room[f"data-{name}"])


@pytest.fixture
def closed(session, client, bearer, office):
    """A closed tender with three sealed bids, its opening not started."""
    return ceremony(session, client, bearer, office)


# -- who sees the page --------------------------------------------------------------------------------------


def test_a_draft_or_unknown_tender_has_no_opening_page(client, login, session, office):
    draft = factories.tender(office)
    session.commit()
    assert client.get(f"/tenders/{draft.id}/opening").status_code == 404
    login(client, office)  # not even for its own office: a draft has no opening
    assert client.get(f"/tenders/{draft.id}/opening").status_code == 404
    assert client.get("/tenders/999999/opening").status_code == 404


def test_anyone_watches_a_published_tender_read_only_with_no_inline_script(client, session, office):
    tender = factories.tender(office, publish=True, title="鼓楼区背街小巷提升工程")
    session.commit()
    response = client.get(f"/tenders/{tender.id}/opening")
    parsed = room(response)
    assert parsed.room["data-role"] == "watcher" and parsed.room["data-signed-in"] == "false"
    assert data(parsed, "mine") == []
    snapshot = data(parsed, "snapshot")
    assert snapshot["tender"] == tender.id and snapshot["opening"] is None
    assert snapshot["tender_state"] == "published"
    assert snapshot["opening_time"] == tender.opening_time.isoformat()
    # The page's script is our own module; nothing inline (the CSP would refuse it anyway).
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    scripts = {s.get("src"): s for s in parsed.scripts}
    assert "/static/js/opening.js" in scripts and scripts["/static/js/opening.js"].get("type") == "module"
    assert all(src and src.startswith("/static/js/") for src in scripts)  # the room's own and the menu's
    assert not parsed.inline_script
    # No controls but the watcher's: the host's and the bidder's sections are hidden until the script
    # shows them for a visitor whose part allows them.
    html = response.get_data(as_text=True)
    for hidden in ("host-controls", "key-box", "share-box", "check-in-box", "objection-form"):
        assert re.search(rf'id="{hidden}"[^>]* hidden', html), hidden


def test_the_page_speaks_chinese_and_english(client, session, office):
    tender = factories.tender(office, publish=True)
    session.commit()
    response = client.get(f"/tenders/{tender.id}/opening")
    page = response.get_data(as_text=True)
    assert '<html lang="zh-CN"' in page and "开标室" in page and "Opening room" not in page
    labels = data(room(response), "labels")
    assert labels["bid"]["opened"] == "已解密" and labels["opening"]["none"] == "未开始"
    assert 'data-progress="{final}/{total} 份投标已有结果，{opened} 份已解密"' in page
    page = client.get(f"/tenders/{tender.id}/opening?lang=en").get_data(as_text=True)
    assert '<html lang="en"' in page and "Opening room" in page
    assert 'data-live="Live: you see every change as it happens."' in page
    en = room(client.get(f"/tenders/{tender.id}/opening"))
    assert data(en, "labels")["bid"]["opened"] == "Opened"
    # The texts with places to fill keep them for the script, in both languages.
    assert 'data-progress="{final} of {total} bids final, {opened} opened"' in page


def test_json_in_the_attributes_survives_quotes_and_markup_in_a_title(client, session, office):
    title = 'O\'Brien "路" <script>alert(1)</script> & 改造'
    tender = factories.tender(office, publish=True, title=title)
    session.commit()
    response = client.get(f"/tenders/{tender.id}/opening")
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    assert data(room(response), "snapshot")["title"] == title


# -- each visitor's part -------------------------------------------------------------------------------------


def test_each_visitor_plays_their_part(
    client, new_client, login, session, bearer, office, supervisor, closed
):
    tender = closed.tender
    path = f"/tenders/{tender.id}/opening"
    expected = {
        "host": office,
        "supervisor": supervisor,
        "bidder": closed.kits[0].user,
    }
    for part, user in expected.items():
        browser = new_client()
        login(browser, user)
        parsed = room(browser.get(path))
        assert parsed.room["data-role"] == part, part
        assert parsed.room["data-signed-in"] == "true"
        assert parsed.room["data-me-name"] == user.display_name

    others = [
        factories.user(Role.BIDDER),
        factories.user(Role.TENDERING_OFFICE),
        factories.user(Role.ADMINISTRATOR),
    ]
    session.commit()
    for user in others:  # a bidder with no bid here, another office, an administrator: they watch
        browser = new_client()
        login(browser, user)
        parsed = room(browser.get(path))
        assert parsed.room["data-role"] == "watcher", user.role
        assert data(parsed, "mine") == []


def test_a_bidder_gets_only_its_own_envelope_headers_and_they_unwrap_to_its_data_key(
    client, login, session, closed
):
    kit, made, bid_id = closed.kits[1], closed.sealed[1], closed.bids[1]
    login(client, kit.user)
    mine = data(room(client.get(f"/tenders/{closed.tender.id}/opening")), "mine")
    assert [m["bid"] for m in mine] == [bid_id]
    (own,) = mine
    assert own["lot"] == 1 and own["envelope_sha256"] == made.info.sha256
    # The header is exactly the envelope's (canonical JSON), and what the browser does with it, Python
    # does here: the bidder's own key unwraps the data key `ebid open-key` would print.
    header = envelope.Header.parse(canonical_json(own["header"]))
    assert header.raw == envelope.read_header(io.BytesIO(made.data)).raw
    unwrapped = envelope.unwrap(header, kit.x25519, "bidder")
    assert base64.b64encode(unwrapped).decode() == data_key(made, kit)


def test_the_page_starts_from_the_same_state_the_room_and_the_api_give(
    client, new_client, login, session, bearer, office, clock, closed
):
    tender = closed.tender
    clock(tender.opening_time)
    assert start(client, bearer, office, tender).status_code == 200
    kit = closed.kits[0]
    assert (
        hand_over(client, bearer, kit, tender, closed.bids[0], data_key(closed.sealed[0], kit)).status_code
        == 202
    )
    api = client.get(f"/api/tenders/{tender.id}/opening").get_json()
    page = data(room(new_client().get(f"/tenders/{tender.id}/opening")), "snapshot")
    api.pop("server_time")
    page.pop("server_time")
    assert page == api
    assert [b["state"] for b in page["bids"]] == ["opened", "waiting_key", "waiting_key"]
    assert page["bids"][0]["price"]["amount"] == "910000.00"


def test_an_envelope_whose_header_cannot_be_read_leaves_the_pasted_key_way(app, session, closed):
    assert pages.envelope_header("0" * 64) is None  # no such blob: the page says to paste the key
    assert pages.envelope_header(closed.sealed[0].info.sha256)["tender"] == closed.tender.id


def test_the_tender_page_leads_to_its_opening_room(client, session, office):
    tender = factories.tender(office, publish=True)
    draft = factories.tender(office)
    session.commit()
    page = client.get(f"/tenders/{tender.id}").get_data(as_text=True)
    assert f'id="opening-room-link" href="/tenders/{tender.id}/opening"' in page
    assert "opening-room-link" not in client.get(f"/tenders/{draft.id}").get_data(as_text=True)


# -- the states of the domain as it is now -------------------------------------------------------------------


def test_the_page_has_a_word_for_every_state_and_follows_the_domains_live_states(client, session, office):
    tender = factories.tender(office, publish=True)
    session.commit()
    response = client.get(f"/tenders/{tender.id}/opening")
    parsed = room(response)
    labels = data(parsed, "labels")
    # A state the domain adds without a word on the page fails here, not in front of a bidder.
    assert set(labels["opening"]) == {s.value for s in OpeningState} | {"none"}
    assert set(labels["bid"]) == {s.value for s in BidOpeningState}
    assert labels["opening"]["awaiting_conclusion"] == "待结束开标：不再接受密钥或份额"
    # The ceremony goes on (check-ins, objections, the host's Conclude) in every state but the two ends.
    assert data(parsed, "live-states") == ["decrypting", "remedy", "awaiting_conclusion"]
    page = response.get_data(as_text=True)
    for text in (
        'data-awaiting="已不再接受密钥或份额：等待主持人结束开标。"',
        'data-remedy-expired="已于 {at} 结束：仍未解密的投标文件视为撤销。"',
        "您的份额未被接受：密钥托管人补救已经结束",
    ):
        assert text in page, text
    en = client.get(f"/tenders/{tender.id}/opening?lang=en")
    assert data(room(en), "labels")["opening"]["awaiting_conclusion"] == (
        "Awaiting conclusion: no more keys or shares are taken"
    )
    assert "Your share was not taken: the custodians' remedy has already ended." in en.get_data(as_text=True)


def _end_window(session, tender) -> None:
    opening = session.scalar(select(Opening).where(Opening.tender_id == tender.id))
    services.opening_due(opening.window_ends_at)
    session.commit()


def test_without_a_remedy_the_page_goes_from_the_window_to_the_conclusion_then_failure_and_the_copy(
    client, new_client, login, session, bearer, office, clock
):
    c = ceremony(session, client, bearer, office, bidders=2, opening_remedy="none")
    tender = c.tender
    clock(tender.opening_time)
    assert start(client, bearer, office, tender).status_code == 200
    kit = c.kits[0]
    assert hand_over(client, bearer, kit, tender, c.bids[0], data_key(c.sealed[0], kit)).status_code == 202
    path = f"/tenders/{tender.id}/opening"
    _end_window(session, tender)  # the second bidder never comes, and there is no remedy

    host = new_client()
    login(host, office)
    snapshot = data(room(host.get(path)), "snapshot")
    # No "remedy" state in between: the page starts from "awaiting_conclusion", with no remedy deadline.
    assert snapshot["opening"]["state"] == "awaiting_conclusion"
    assert snapshot["opening"]["remedy_ends_at"] is None and snapshot["remedy"] == "none"
    assert [b["state"] for b in snapshot["bids"]] == ["opened", "revoked"]

    concluded = client.post(f"/api/tenders/{tender.id}/opening/conclude", headers=bearer(office)).get_json()
    assert concluded["opening"]["state"] == "failed"
    snapshot = data(room(new_client().get(path)), "snapshot")  # a watcher, not signed in
    notice = snapshot["opening"]["failure_notice_document"]
    assert notice and snapshot["opening"]["retendered_as"] is None and snapshot["tender_state"] == "failed"
    pdf = new_client().get(f"/documents/{notice}/pdf")  # the link the page draws works for anyone
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")

    copy = client.post(f"/api/tenders/{tender.id}/retender", headers=bearer(office)).get_json()
    for browser in (host, new_client()):
        linked = data(room(browser.get(path)), "snapshot")["opening"]
        assert linked["retendered_as"] == {
            "tender": copy["tender"],
            "reference": copy["reference"],
            "state": "draft",
        }
        assert linked["failure_notice_document"] == notice
    # Where the page links the copy: the office to its draft's edit page; to anyone else a draft is not
    # public yet, so the page gives its reference without a link.
    assert host.get(f"/office/tenders/{copy['tender']}/edit").status_code == 200
    assert new_client().get(f"/tenders/{copy['tender']}").status_code == 404
