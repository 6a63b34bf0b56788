"""The expert pool, the draw and the panel over HTTP: the JSON API and the pages, who may do what, and
every bad input refused with a clear message."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from sqlalchemy import func, select

from bidding.experts.models import Expert, MemberStatus, PanelMember
from core.models import Role
from core.orm import utcnow
from signing.models import LogEntry
from tests import factories
from tests.functional.helpers import assert_json_error, page_form
from tests.unit.bidding.experts.expert_builders import admin, closed_tender, employer, pool_of

DAY = (utcnow() + dt.timedelta(days=3)).date().isoformat()
YES = {"coi": {"no_employment": True, "no_interest": True, "no_involvement": True, "no_other_conflict": True,
               "confidentiality": True}}


@pytest.fixture
def world(session):
    office = factories.user(Role.TENDERING_OFFICE)
    bidders = [employer() for _ in range(3)]
    tender = closed_tender(office, bidders)
    administrator = admin()
    experts = pool_of(administrator, 6)
    supervisor = factories.user(Role.SUPERVISOR)
    bidder = factories.user(Role.BIDDER, organisation_=bidders[0])
    session.commit()
    return type("World", (), {"office": office, "tender": tender, "admin": administrator, "experts": experts,
                              "supervisor": supervisor, "bidder": bidder, "bidders": bidders})


def _count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def _draw(client, world, bearer, **body):
    data = {"specialties": ["A01"], "count": 3, "backups": 1, "evaluation_date": DAY, **body}
    return client.post(f"/api/tenders/{world.tender.id}/panels", json=data, headers=bearer(world.office))


# -- the pool ------------------------------------------------------------------------------------------------


def test_the_administrator_keeps_the_pool(client, session, world, bearer):
    auth = bearer(world.admin)
    work = employer()
    session.commit()
    made = client.post("/api/experts", headers=auth, json={
        "username": "huang.qiang", "display_name": "黄强", "password": factories.PASSWORD, "region": "350100",
        "specialties": ["C02", "B01"], "employer": work.credit_code, "title": "教授",
        "availability": [{"kind": "unavailable", "starts_on": "2026-12-01", "ends_on": "2026-12-03"}]})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert [s["code"] for s in body["specialties"]] == ["B01", "C02"]
    assert body["employer"]["credit_code"] == work.credit_code
    changed = client.patch(f"/api/experts/{body['id']}", headers=auth, json={"active": False})
    assert changed.status_code == 200 and changed.get_json()["active"] is False
    error = assert_json_error(client.patch(f"/api/experts/{body['id']}", headers=auth,
                                           json={"specialties": ["NOPE"]}), 422, field="specialties")
    assert "NOPE" in error["message"]
    assert_json_error(client.get("/api/experts/99999", headers=auth), 404, code="not_found")
    listed = client.get("/api/experts", headers=bearer(world.supervisor)).get_json()
    assert "黄强" in [e["name"] for e in listed]
    for who in (world.office, world.bidder, world.experts[0].user):
        assert_json_error(client.get("/api/experts", headers=bearer(who)), 403, code="forbidden")
        assert_json_error(client.post("/api/experts", headers=bearer(who), json={}), 403, code="forbidden")
    assert client.get("/api/experts/specialties").get_json()[0] == {"code": "A", "zh": "工程", "en": "Works"}


def test_csv_import_over_the_api(client, session, world, bearer):
    auth = bearer(world.admin)
    csv_text = ("username,display_name,region,specialties,employer_credit_code\n"
                "xu.ming,徐明,350100,A01,\n"
                "bad.region,坏,35,A01,\n")
    answer = client.post("/api/experts/import", headers=auth,
                         data={"file": (io.BytesIO(csv_text.encode()), "pool.csv")},
                         content_type="multipart/form-data")
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    reason = "an administrative division code is six digits, e.g. 350100"
    assert report["imported"] == 1
    assert report["rejected"] == [{"row": 3, "column": "region", "reason": reason}]
    before = _count(session, Expert)
    bad = client.post("/api/experts/import", headers={**auth, "Content-Type": "text/csv"},
                      data=b"name,region\nx,350100\n")
    assert "lacks the column" in assert_json_error(bad, 422, field="file")["message"]
    assert _count(session, Expert) == before


# -- the draw ------------------------------------------------------------------------------------------------


def test_the_office_draws_and_the_record_is_public_without_names(client, session, world, bearer):
    answer = _draw(client, world, bearer)
    assert answer.status_code == 201, answer.get_json()
    panel = answer.get_json()
    assert panel["state"] == "forming"
    assert [m["status"] for m in panel["members"]] == ["drawn"] * 3 + ["backup"]
    assert all("expert" not in m for m in panel["members"])
    record = client.get(f"/api/tenders/{world.tender.id}/panels/1/draws/1").get_json()
    text = json.dumps(record, ensure_ascii=False)
    assert all(e.user.display_name not in text and e.user.username not in text for e in world.experts)
    assert record["log_index"] == panel["draws"][0]["log_index"]
    public = client.get(f"/api/tenders/{world.tender.id}/panels").get_json()
    assert all("expert" not in m for m in public[0]["members"])
    as_bidder = client.get(f"/api/tenders/{world.tender.id}/panels", headers=bearer(world.bidder)).get_json()
    assert all("expert" not in m for m in as_bidder[0]["members"])
    as_supervisor = client.get(f"/api/tenders/{world.tender.id}/panels", headers=bearer(world.supervisor))
    assert all("expert" in m for m in as_supervisor.get_json()[0]["members"])
    assert_json_error(client.get(f"/api/tenders/{world.tender.id}/panels/1/draws/2"), 404, code="not_found")
    assert_json_error(client.get(f"/api/tenders/{world.tender.id}/panels/2/draws/1"), 404, code="not_found")


def test_only_the_owning_office_draws(client, world, bearer):
    url = f"/api/tenders/{world.tender.id}/panels"
    body = {"specialties": ["A01"], "count": 1, "evaluation_date": DAY}
    assert_json_error(client.post(url, json=body), 401)
    for who in (factories.user(Role.TENDERING_OFFICE), world.bidder, world.admin, world.experts[0].user,
                world.supervisor):
        assert_json_error(client.post(url, json=body, headers=bearer(who)), 403, code="forbidden")


def test_an_unsatisfiable_draw_names_the_constraint_and_leaves_nothing(client, session, world, bearer):
    entries = _count(session, LogEntry)
    error = assert_json_error(_draw(client, world, bearer, count=6, backups=2), 409, code="pool_exhausted",
                              field="slots")
    assert "needs 8 experts (6 + 2 backups)" in error["message"] and "'specialty' ran out" in error["message"]
    assert _count(session, PanelMember) == 0
    refused = session.scalars(select(LogEntry).where(LogEntry.event == "panel.refused")).all()
    assert len(refused) == 1 and _count(session, LogEntry) == entries + 1
    assert json.loads(refused[0].body)["data"]["reason"] == "pool_exhausted"
    assert_json_error(_draw(client, world, bearer, specialties=["ZZZ"]), 422, field="specialties")
    past = _draw(client, world, bearer, evaluation_date="2001-01-01")
    assert_json_error(past, 422, field="evaluation_date")
    assert _count(session, PanelMember) == 0


def test_experts_answer_their_own_seat_and_a_decline_calls_the_backup(client, session, world, bearer):
    panel = _draw(client, world, bearer).get_json()
    members = {m.id: m for m in session.scalars(select(PanelMember))}
    first, second, third, backup = (members[m["id"]] for m in panel["members"])
    stranger = next(e for e in world.experts if e.id not in {m.expert_id for m in members.values()})
    mine = client.get("/api/experts/me/invitations", headers=bearer(first.expert.user)).get_json()
    assert [i["id"] for i in mine] == [first.id] and mine[0]["answerable"] and mine[0]["bidders"] is None
    assert set(mine[0]["coi"]) == set(YES["coi"])
    refused = client.post(f"/api/panel-members/{first.id}/accept", json=YES, headers=bearer(stranger.user))
    assert "only the drawn expert" in assert_json_error(refused, 403, code="not_your_seat")["message"]
    assert_json_error(client.post(f"/api/panel-members/{first.id}/accept", json=YES,
                                  headers=bearer(world.office)), 403, code="forbidden")
    half = {"coi": {**YES["coi"], "confidentiality": False}}
    assert_json_error(client.post(f"/api/panel-members/{first.id}/accept", json=half,
                                  headers=bearer(first.expert.user)), 422, field="coi.confidentiality")
    ok = client.post(f"/api/panel-members/{first.id}/accept", json=YES, headers=bearer(first.expert.user))
    assert ok.status_code == 200 and ok.get_json()["status"] == "accepted"
    again = client.post(f"/api/panel-members/{first.id}/accept", json=YES, headers=bearer(first.expert.user))
    assert_json_error(again, 409, code="member_state")
    declined = client.post(f"/api/panel-members/{second.id}/decline", json={"reason": "我与投标人有亲属关系"},
                           headers=bearer(second.expert.user))
    assert declined.status_code == 200 and declined.get_json()["status"] == "declined"
    session.expire_all()
    assert session.get(PanelMember, backup.id).status == MemberStatus.DRAWN
    # the office replaces the third, who did not answer; no backup is left
    replaced = client.post(f"/api/panel-members/{third.id}/replace",
                           json={"reason": "no answer by the deadline"}, headers=bearer(world.office))
    assert replaced.status_code == 200 and replaced.get_json()["state"] == "short"
    other_office = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    assert_json_error(client.post(f"/api/panel-members/{first.id}/replace", json={"reason": "x"},
                                  headers=bearer(other_office)), 403, code="not_office")
    supplementary = _draw(client, world, bearer, count=1, backups=0)
    assert supplementary.status_code == 201, supplementary.get_json()
    assert supplementary.get_json()["state"] == "forming" and len(supplementary.get_json()["draws"]) == 2


# -- pages ---------------------------------------------------------------------------------------------------


def test_pool_pages(client, session, world, login, new_client):
    login(client, world.admin)
    assert "专家" in client.get("/experts").get_data(as_text=True)
    form = page_form(client.get("/experts/new").get_data(as_text=True))
    form.update(username="ma.li", display_name="马丽", password=factories.PASSWORD, region="350100",
                specialties="D01", relations="", availability="unavailable 2026-12-01 2026-12-02 出差")
    done = client.post("/experts/new", data=form)
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    made = session.scalar(select(Expert).join(Expert.user).where(Expert.user.has(username="ma.li")))
    assert made.specialty_codes == ["D01"] and made.availability[0].note == "出差"
    edit = page_form(client.get(f"/experts/{made.id}/edit").get_data(as_text=True))
    bad = client.post(f"/experts/{made.id}/edit", data={**edit, "region": "12"})
    assert bad.status_code == 422 and "six digits" in bad.get_data(as_text=True)
    imported = client.post("/experts/import", data={
        "file": (io.BytesIO("username,display_name,region,specialties,employer_credit_code\n"
                            "ye.fan,叶凡,350100,A01,\nno.code,无,350100,,\n".encode()), "p.csv")},
        content_type="multipart/form-data")
    page = imported.get_data(as_text=True)
    assert imported.status_code == 200 and 'id="rejected-rows"' in page and "specialties" in page
    outsider = new_client()
    login(outsider, world.bidder)
    assert outsider.get("/experts").status_code == 403
    assert outsider.get("/experts/new").status_code == 403


def test_office_and_expert_pages(client, session, world, login, new_client):
    login(client, world.office)
    page = client.get(f"/office/tenders/{world.tender.id}/panels")
    assert page.status_code == 200
    drawn = client.post(f"/office/tenders/{world.tender.id}/panels", data={
        "lot": "1", "evaluation_date": DAY, "slot0_specialties": "A01", "slot0_count": "2",
        "slot0_backups": "1"})
    assert drawn.status_code == 302, drawn.get_data(as_text=True)[:3000]
    refused = client.post(f"/office/tenders/{world.tender.id}/panels", data={
        "lot": "1", "evaluation_date": DAY, "slot0_specialties": "A01", "slot0_count": "2"})
    assert refused.status_code == 409 and "already drawn" in refused.get_data(as_text=True)
    member = session.scalars(select(PanelMember).order_by(PanelMember.id)).first()
    expert_client = new_client()
    login(expert_client, member.expert.user)
    invitations = expert_client.get("/experts/invitations").get_data(as_text=True)
    assert f'id="member-{member.id}"' in invitations
    partial = expert_client.post(f"/experts/invitations/{member.id}",
                                 data={"action": "accept", "coi_no_employment": "on"})
    assert partial.status_code == 302
    session.expire_all()
    assert session.get(PanelMember, member.id).status == MemberStatus.DRAWN
    everything = {f"coi_{key}": "on" for key in YES["coi"]}
    assert expert_client.post(f"/experts/invitations/{member.id}", data={"action": "accept", **everything}) \
        .status_code == 302
    session.expire_all()
    assert session.get(PanelMember, member.id).status == MemberStatus.ACCEPTED
    other = new_client()
    login(other, factories.user(Role.TENDERING_OFFICE))
    session.commit()
    assert other.get(f"/office/tenders/{world.tender.id}/panels").status_code == 403


# -- the API's request shapes (one model per body) -------------------------------------------------------


def test_a_misspelt_key_inside_an_experts_lists_is_refused_naming_it(client, session, world, bearer):
    auth = bearer(world.admin)
    expert = world.experts[0]
    work = employer()
    session.commit()
    typo = client.patch(f"/api/experts/{expert.id}", headers=auth,
                        json={"relations": [{"credit_code": work.credit_code, "knid": "employment"}]})
    assert_json_error(typo, 422, code="invalid", field="relations[0].knid")
    backwards = client.patch(f"/api/experts/{expert.id}", headers=auth, json={"availability": [
        {"kind": "unavailable", "starts_on": "2026-12-03", "ends_on": "2026-12-01"}]})
    assert_json_error(backwards, 422, field="availability[0].ends_on")
    session.expire_all()
    assert expert.relations == [] and expert.availability == []


def test_a_draw_of_the_wrong_shape_is_refused_naming_the_field_and_logged(client, session, world, bearer):
    response = _draw(client, world, bearer, count=3.5)
    assert_json_error(response, 422, code="invalid", field="count")
    session.expire_all()
    last = session.scalars(select(LogEntry).where(LogEntry.event == "panel.refused")
                           .order_by(LogEntry.index.desc())).first()
    assert last is not None
    data = json.loads(last.body)["data"]
    assert data["action"] == "draw" and data["reason"] == "invalid"
