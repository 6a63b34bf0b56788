"""Notifications (issue 14): each kind made once for the right people and not for others, the clock's
deadline and opening notices once, the live badge over the socket to its own user only, the page and
the API (read, all read, another user's refused and logged), the outbox drained by its sender, and one
contract over the senders."""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import re
from pathlib import Path

import pytest
from flask_socketio.test_client import SocketIOTestClient
from sqlalchemy import func, select

from bidding.evaluation.models import Clarification, EvaluationRoom, RoomState
from bidding.experts.models import Panel, PanelMember, PanelState
from bidding.opening.models import Objection as OpeningObjection
from bidding.submissions.models import Bid, Upload
from core.extensions import db, socketio
from core.models import OrganisationKind, Role
from core.orm import utcnow
from guarantees.lifecycle import GuaranteeState
from notifications import jobs, senders, services
from notifications.models import Notification, OutboxMessage, OutboxState
from signing import audit
from signing.api_tokens import issue_token
from signing.models import LogEntry
from tests import factories
from tests.functional.helpers import assert_json_error, page_form
from tests.unit.bidding.experts.expert_builders import admin, closed_tender, employer, pool_of
from tests.unit.guarantees import deposit_helpers as deposits
from tests.unit.guarantees.test_guarantee_services import apply_and_send

NS = services.NAMESPACE
DAY = (utcnow() + dt.timedelta(days=3)).date().isoformat()


def kinds(session, user) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Notification.kind).where(Notification.user_id == user.id)
                                .order_by(Notification.id)))


def total(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Notification.id)))


@pytest.fixture
def world(session):
    """A closed tender with three bidder organisations' bids, a pool of experts, an office, a supervisor."""
    office = factories.user(Role.TENDERING_OFFICE)
    organisations = [employer() for _ in range(3)]
    tender = closed_tender(office, organisations)
    experts = pool_of(admin(), 5)
    bidders = [factories.user(Role.BIDDER, organisation_=o) for o in organisations]
    stranger = factories.user(Role.BIDDER)
    supervisor = factories.user(Role.SUPERVISOR)
    session.commit()
    return type("World", (), {"office": office, "tender": tender, "experts": experts, "bidders": bidders,
                              "organisations": organisations, "stranger": stranger,
                              "supervisor": supervisor})


# -- the audit log's listener hook ------------------------------------------------------------------------


def test_a_listener_runs_in_the_appending_transaction_and_a_rollback_undoes_its_work(session):
    seen = []
    office = factories.user(Role.TENDERING_OFFICE)

    def listener(event, subject, data, actor):
        seen.append((event, subject, data, actor))
        services.notify([office], "opening.soon", {"reference": "T"})

    audit.add_listener("test.hooked", listener)
    audit.add_listener("test.hooked", listener)  # registering twice calls it once
    try:
        audit.record("test.hooked", actor=office, subject={"tender": 1}, data={"x": 1})
        assert seen == [("test.hooked", {"tender": 1}, {"x": 1}, office)]
        assert kinds(session, office) == ["opening.soon"]
        with session.begin_nested() as nested:
            audit.record("test.hooked", actor=None, subject={"tender": 2})
            nested.rollback()
        assert kinds(session, office) == ["opening.soon"]
    finally:
        audit.listeners.pop("test.hooked")


# -- kinds made from events -------------------------------------------------------------------------------


def test_a_draw_invites_only_the_drawn_experts_and_a_called_backup_later(client, session, world, bearer):
    answer = client.post(f"/api/tenders/{world.tender.id}/panels", headers=bearer(world.office),
                         json={"specialties": ["A01"], "count": 2, "backups": 1, "evaluation_date": DAY})
    assert answer.status_code == 201, answer.get_json()
    members = {m.id: m for m in session.scalars(select(PanelMember))}
    first, second, backup = (members[m["id"]] for m in answer.get_json()["members"])
    drawn = {first.expert.user_id, second.expert.user_id}
    for expert in world.experts:
        expected = ["panel.invited"] if expert.user_id in drawn else []
        assert kinds(session, expert.user) == expected, expert.user.username
    assert all(kinds(session, u) == [] for u in [world.office, *world.bidders, world.supervisor])
    invitation = session.scalar(select(Notification).where(Notification.user_id == first.expert.user_id))
    assert invitation.link == "/experts/invitations" and invitation.params["tender"] == world.tender.id
    declined = client.post(f"/api/panel-members/{second.id}/decline", json={"reason": "亲属关系"},
                           headers=bearer(second.expert.user))
    assert declined.status_code == 200, declined.get_json()
    assert kinds(session, backup.expert.user) == ["panel.invited"]
    assert kinds(session, second.expert.user) == ["panel.invited"]


def test_a_clarification_tells_its_bidder_and_the_answer_tells_the_panel(session, world):
    panel = Panel(tender_id=world.tender.id, lot_number=1, state=PanelState.CONSTITUTED, seats=1,
                  evaluation_date=utcnow().date(), created_by_id=world.office.id)
    db.session.add(panel)
    db.session.flush()
    room = EvaluationRoom(panel_id=panel.id, tender_id=world.tender.id, state=RoomState.SCORING,
                          label_key="0" * 32, opened_at=utcnow())
    db.session.add(room)
    db.session.flush()
    bid = session.scalar(select(Bid).where(Bid.organisation_id == world.organisations[0].id))
    asker = world.experts[0].user
    row = Clarification(room_id=room.id, tender_id=world.tender.id, bid_id=bid.id, asked_by_id=asker.id,
                        label="A", question="?", asked_at=utcnow(), deadline=utcnow() + dt.timedelta(days=1))
    db.session.add(row)
    db.session.flush()
    audit.record("evaluation.clarification_asked", actor=None, subject={"panel": panel.id},
                 data={"clarification": row.id, "label": "A"})
    assert kinds(session, world.bidders[0]) == ["clarification.asked"]
    assert all(kinds(session, u) == [] for u in [*world.bidders[1:], world.office, asker])
    audit.record("evaluation.clarification_answered", actor=None, subject={"panel": panel.id},
                 data={"clarification": row.id, "label": "A"})
    assert kinds(session, asker) == ["clarification.answered"]
    assert kinds(session, world.bidders[0]) == ["clarification.asked"]
    answered = session.scalar(select(Notification).where(Notification.user_id == asker.id))
    assert world.organisations[0].name not in json.dumps(answered.params, ensure_ascii=False)


def test_guarantee_decisions_tell_only_their_applicant(app, session):
    requirement = deposits.requirement()
    applicant, other = deposits.bidder(), deposits.bidder()
    issued = apply_and_send(requirement, applicant)
    assert issued.state == GuaranteeState.ISSUED
    assert kinds(session, applicant) == ["guarantee.issued"]
    issuer = app.extensions["ebid.issuers"]["sandbox-insurer"].adapter
    object.__setattr__(issuer.underwriting, "refused_applicants", frozenset({other.organisation.credit_code}))
    try:
        declined = apply_and_send(requirement, other, issuer_code="sandbox-insurer")
    finally:
        object.__setattr__(issuer.underwriting, "refused_applicants", frozenset())
    assert declined.state == GuaranteeState.DECLINED
    assert kinds(session, other) == ["guarantee.declined"]
    assert kinds(session, applicant) == ["guarantee.issued"]
    office_users = factories.user(Role.TENDERING_OFFICE)
    assert kinds(session, office_users) == []


def test_a_claim_tells_the_applicant_and_the_issuers_staff_and_its_payment_the_office(app, session):
    from core.organisations import register
    from guarantees import claims, issuers
    from tests.unit.guarantees.test_guarantee_services import send_all

    office = deposits.office()
    requirement = deposits.requirement(office_user=office)
    applicant = deposits.bidder()
    bank = register(name="沙箱银行", kind=OrganisationKind.ISSUER, region="350100",
                    credit_code=issuers.registry()["sandbox-bank"].credit_code)
    staff, other_bank = factories.user(Role.ISSUER, organisation_=bank), factories.user(Role.ISSUER)
    guarantee = apply_and_send(requirement, applicant)
    audit.record("guarantee.desk_information_requested", actor=staff,
                 subject={"guarantee": guarantee.idempotency_key}, data={})
    deposits.move_deadline(requirement, utcnow() - dt.timedelta(hours=1))
    claims.claim_guarantee(guarantee, reason="withdrawal_after_deadline", amount=None, actor=office,
                           statement="The bidder withdrew its bid after the deadline.")
    send_all(guarantee, "demand")
    assert guarantee.state == GuaranteeState.PAID
    assert kinds(session, applicant) == ["guarantee.issued", "guarantee.information_requested",
                                         "guarantee.claimed", "guarantee.paid"]
    assert kinds(session, staff) == ["guarantee.claimed"] and kinds(session, other_bank) == []
    assert kinds(session, office) == ["guarantee.paid"]


def test_objections_go_to_the_office_and_answers_to_the_objector(session, world):
    raiser = world.bidders[1]
    row = OpeningObjection(tender_id=world.tender.id, raised_by_id=raiser.id, text="异议", raised_at=utcnow())
    db.session.add(row)
    db.session.flush()
    audit.record("opening.objection", actor=raiser, subject={"tender": world.tender.id},
                 data={"objection": row.id})
    assert kinds(session, world.office) == ["objection.raised"]
    audit.record("opening.answer", actor=world.office, subject={"tender": world.tender.id},
                 data={"objection": row.id})
    assert kinds(session, raiser) == ["objection.answered"]
    assert all(kinds(session, u) == [] for u in [world.bidders[0], world.bidders[2], world.stranger])


def test_publicity_and_award_tell_the_tenders_bidders_and_the_winner_apart(session, world):
    tender, office = world.tender, world.office
    audit.record("award.publicised", actor=office, subject={"tender": tender.id},
                 data={"ends_at": (utcnow() + dt.timedelta(days=3)).isoformat()})
    audit.record("award.issued", actor=office, subject={"tender": tender.id},
                 data={"winners": [{"lot": 1, "bidder": world.organisations[2].id}]})
    assert kinds(session, world.bidders[2]) == ["award.publicised", "award.won"]
    for bidder in world.bidders[:2]:
        assert kinds(session, bidder) == ["award.publicised", "award.issued"]
    assert kinds(session, world.stranger) == [] and kinds(session, office) == []


# -- on the clock -----------------------------------------------------------------------------------------


def test_the_deadline_job_gives_24h_and_1h_notices_once_to_interested_bidders_only(session):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    interested, idle = factories.user(Role.BIDDER), factories.user(Role.BIDDER)
    colleague = factories.user(Role.BIDDER, organisation_=interested.organisation)
    now = utcnow()
    db.session.add(Upload(id="n" * 32, user_id=interested.id, tender_id=tender.id, lot_number=1, size=10,
                          created_at=now, expires_at=tender.submission_deadline))
    session.commit()
    deadline = tender.submission_deadline
    assert jobs.deadlines(deadline - dt.timedelta(hours=25)) <= deadline - dt.timedelta(hours=24)
    assert total(session) == 0
    for moment in (deadline - dt.timedelta(hours=23), deadline - dt.timedelta(hours=2)):
        jobs.deadlines(moment)
        session.commit()
    assert kinds(session, interested) == ["deadline.24h"] and kinds(session, colleague) == ["deadline.24h"]
    for moment in (deadline - dt.timedelta(minutes=50), deadline - dt.timedelta(minutes=5)):
        jobs.deadlines(moment)
        session.commit()
    assert kinds(session, interested) == ["deadline.24h", "deadline.1h"]  # no bid: no opening notice
    assert kinds(session, idle) == []
    assert kinds(session, office) == ["opening.soon"]  # the factories' opening is at the deadline
    notice = session.scalar(select(Notification).where(Notification.user_id == interested.id))
    assert notice.params["deadline"] == deadline.isoformat()


def test_the_opening_notice_goes_once_to_the_tenders_bidders_and_office(session, world):
    opening = world.tender.opening_time
    for moment in (opening - dt.timedelta(minutes=14), opening - dt.timedelta(minutes=3)):
        jobs.deadlines(moment)
        session.commit()
    for user in [*world.bidders, world.office]:
        assert kinds(session, user) == ["opening.soon"], user.username
    assert kinds(session, world.stranger) == [] and kinds(session, world.supervisor) == []


def test_an_opening_at_the_deadline_is_announced_while_bids_are_still_taken(session):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = factories.tender(office, publish=True)
    assert tender.opening_time == tender.submission_deadline
    early, late = factories.user(Role.BIDDER), factories.user(Role.BIDDER)

    def bid(user, n):
        digest = f"{n:064x}"
        db.session.add(Bid(tender_id=tender.id, lot_number=1, organisation_id=user.organisation_id,
                           user_id=user.id, envelope_sha256=digest, envelope_hash=digest, commitment=digest,
                           size=1, opening_kid="0" * 64, bidder_x25519_kid=digest, bidder_ed25519_kid=digest,
                           submitted_at=utcnow(), log_index=0))

    bid(early, 1)
    session.commit()
    jobs.deadlines(tender.opening_time - dt.timedelta(minutes=12))
    session.commit()
    bid(late, 2)  # in the last minutes: told at the next run, the others not again
    session.commit()
    jobs.deadlines(tender.opening_time - dt.timedelta(minutes=6))
    session.commit()
    assert kinds(session, early) == ["deadline.1h", "opening.soon"]
    assert kinds(session, late) == ["deadline.1h", "opening.soon"]
    assert kinds(session, office) == ["opening.soon"]


# -- reading, marking, refusals ---------------------------------------------------------------------------


def test_the_api_pages_newest_first_marks_read_and_refuses_anothers_notification(client, session, bearer):
    me, other = factories.user(Role.BIDDER), factories.user(Role.BIDDER)
    for n in range(22):
        services.notify([me], "opening.soon", {"reference": f"R{n}", "title": "t"},
                        now=utcnow() + dt.timedelta(seconds=n))
    (theirs,) = services.notify([other], "opening.soon", {"reference": "X", "title": "t"})
    session.commit()
    first = client.get("/api/notifications", headers=bearer(me)).get_json()
    assert (first["total"], first["pages"], first["unread"], len(first["items"])) == (22, 2, 22, 20)
    assert first["items"][0]["params"]["reference"] == "R21"
    assert client.get("/api/notifications?page=2", headers=bearer(me)).get_json()["items"][-1]["params"][
        "reference"] == "R0"
    newest = first["items"][0]["id"]
    done = client.post(f"/api/notifications/{newest}/read", headers=bearer(me))
    assert done.status_code == 200 and done.get_json()["read_at"] is not None
    entries = session.scalar(select(func.count(LogEntry.index)))
    refused = client.post(f"/api/notifications/{theirs.id}/read", headers=bearer(me))
    assert_json_error(refused, 404, code="not_found")
    missing = client.post("/api/notifications/2147483000/read", headers=bearer(me))
    assert_json_error(missing, 404, code="not_found")
    assert refused.get_json()["error"]["message"] == missing.get_json()["error"]["message"]
    session.expire_all()
    assert session.get(Notification, theirs.id).read_at is None
    logged = session.scalars(select(LogEntry).where(LogEntry.event == "notification.refused")).all()
    assert len(logged) == 2 and session.scalar(select(func.count(LogEntry.index))) == entries + 2
    assert json.loads(logged[0].body)["actor"]["user"] == me.id
    assert_json_error(client.get("/api/notifications?page=0", headers=bearer(me)), 422, field="page")
    assert_json_error(client.get("/api/notifications"), 401)
    all_read = client.post("/api/notifications/read-all", headers=bearer(me)).get_json()
    assert all_read == {"marked": 21, "unread": 0}


def test_the_page_shows_ones_own_and_marks_read_with_csrf(app, client, session, login):
    me, other = factories.user(Role.EXPERT), factories.user(Role.EXPERT)
    (mine,) = services.notify([me], "panel.invited", {"reference": "ZB-1", "title": "路"},
                              link="/experts/invitations")
    (theirs,) = services.notify([other], "panel.invited", {"reference": "ZB-2", "title": "桥"})
    session.commit()
    login(client, me)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get("/notifications?lang=en").get_data(as_text=True)
        assert "ZB-1" in page and "ZB-2" not in page
        assert re.search(r'id="notification-badge"[^>]* data-count="1">1<', page)
        assert "js/notifications.js" in page
        assert client.post(f"/notifications/{mine.id}/read").status_code == 400  # no CSRF token
        token = page_form(page, -1)["csrf_token"]
        followed = client.post(f"/notifications/{mine.id}/read", data={"csrf_token": token, "follow": "1"})
        assert followed.status_code == 302 and followed.headers["Location"].endswith("/experts/invitations")
        assert client.post(f"/notifications/{theirs.id}/read", data={"csrf_token": token}).status_code == 404
        again = client.get("/notifications").get_data(as_text=True)
        assert re.search(r'id="notification-badge"[^>]* data-count="0" hidden>', again)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    session.expire_all()
    assert session.get(Notification, mine.id).read_at is not None
    assert session.get(Notification, theirs.id).read_at is None


def test_the_summary_counts_by_role_for_supervisors_only(client, session, bearer):
    expert, supervisor = factories.user(Role.EXPERT), factories.user(Role.SUPERVISOR)
    before = client.get("/api/notifications/summary", headers=bearer(supervisor)).get_json()["roles"]
    services.notify([expert], "panel.invited", {})
    session.commit()
    after = client.get("/api/notifications/summary", headers=bearer(supervisor)).get_json()["roles"]
    assert after["expert"] == {"total": before["expert"]["total"] + 1,
                               "unread": before["expert"]["unread"] + 1}
    assert_json_error(client.get("/api/notifications/summary", headers=bearer(expert)), 403)


def test_the_demo_prints_the_counts_by_role_read_through_the_summary(client, session, bearer, tmp_path):
    from app.demo import Demo
    from tests.functional.test_guarantees_demo import ClientDemo

    users = {"supervisor": factories.user(Role.SUPERVISOR)}
    services.notify([factories.user(Role.ISSUER)], "guarantee.claimed", {})
    session.commit()
    demo = ClientDemo(client, users, bearer, tmp_path)
    Demo.notification_counts(demo)
    issuer_line = next(line for line in demo.lines if " issuer " in line)
    assert int(issuer_line.split()[-2]) >= 1 and int(issuer_line.split()[-1]) >= 1
    assert "tendering_office" in "\n".join(demo.lines)
    saved = json.loads((tmp_path / "notification-counts.json").read_text())
    assert set(saved) == {r.value for r in Role} and saved["issuer"]["unread"] >= 1


# -- live -------------------------------------------------------------------------------------------------


class ScopedSocketClient(SocketIOTestClient):
    """Each packet outside the test's application context (see test_opening_socket.py)."""

    def connect(self, *args, **kwargs):
        return contextvars.Context().run(super().connect, *args, **kwargs)

    def disconnect(self, *args, **kwargs):
        return contextvars.Context().run(super().disconnect, *args, **kwargs)


def unread_events(c) -> list[int]:
    return [e["args"][0]["count"] for e in c.get_received(NS) if e["name"] == "unread"]


def test_the_socket_pushes_the_count_to_its_own_user_only_after_the_commit(app, session):
    me, other = factories.user(Role.BIDDER), factories.user(Role.BIDDER)
    session.commit()
    mine = ScopedSocketClient(app, socketio, namespace=NS, auth={"token": issue_token(me)[0]})
    theirs = ScopedSocketClient(app, socketio, namespace=NS, auth={"token": issue_token(other)[0]})
    anonymous = ScopedSocketClient(app, socketio, namespace=NS)
    try:
        assert mine.is_connected(NS) and not anonymous.is_connected(NS)
        assert unread_events(mine) == [0] and unread_events(theirs) == [0]
        with session.begin_nested() as nested:
            services.notify([me], "opening.soon", {})
            nested.rollback()
        assert unread_events(mine) == []  # rolled back: nothing pushed
        services.notify([me], "opening.soon", {})
        assert unread_events(mine) == []  # not before the commit
        session.commit()
        assert unread_events(mine) == [1] and unread_events(theirs) == []
    finally:
        for c in (mine, theirs):
            if c.is_connected(NS):
                c.disconnect(namespace=NS)


# -- the outbox and its senders ---------------------------------------------------------------------------


@pytest.fixture(params=["file", "memory"])
def a_sender(request, app, tmp_path):
    if request.param == "file":
        before = app.config.get("NOTIFICATION_OUTBOX_DIR")
        app.config["NOTIFICATION_OUTBOX_DIR"] = str(tmp_path)
        made = senders.FileSender(app)
        app.config["NOTIFICATION_OUTBOX_DIR"] = before

        def delivered():
            return [json.loads(line) for f in sorted(Path(tmp_path).glob("*.jsonl"))
                    for line in f.read_text(encoding="utf-8").splitlines()]
    else:
        made = senders.MemorySender(app)

        def delivered():
            return [vars(m) if not hasattr(m, "__dataclass_fields__") else
                    {k: getattr(m, k) for k in m.__dataclass_fields__} for m in made.sent]
    return made, delivered


def test_every_sender_keeps_the_contract(a_sender):
    """A sender names its channel and delivers each message whole, or raises to have it retried."""
    sender, delivered = a_sender
    assert isinstance(sender.channel, str) and sender.channel
    message = senders.OutgoingMessage(id=7, channel=sender.channel, recipient="bidder1",
                                      subject="主题 subject", body="正文 body\nline 2",
                                      created_at="2026-12-06T10:00:00+00:00")
    sender.send(message)
    sender.send(senders.OutgoingMessage(**{**vars_of(message), "id": 8}))
    got = delivered()
    assert [g["id"] for g in got] == [7, 8]
    assert got[0] == vars_of(message)


def test_a_sender_setting_that_names_no_class_stops_the_start_up(app):
    from core.errors import ConfigurationError

    assert senders.load("notifications.senders:MemorySender") is senders.MemorySender
    for wrong in ("notifications.senders", "no.such.module:Sender", "notifications.senders:Nothing",
                  "notifications.senders:DEFAULT_SENDER"):
        with pytest.raises(ConfigurationError, match="NOTIFICATION_SENDER"):
            senders.load(wrong)


def vars_of(message) -> dict:
    return {k: getattr(message, k) for k in message.__dataclass_fields__}


def test_the_outbox_is_drained_by_the_file_sender_with_retries(app, session, tmp_path):
    me = factories.user(Role.BIDDER)
    me.locale = "en"
    folder = app.config.get("NOTIFICATION_OUTBOX_DIR")
    app.config["NOTIFICATION_OUTBOX_DIR"] = str(tmp_path)
    original = app.extensions.pop("ebid.notification_sender", None)
    try:
        (made,) = services.notify([me], "deadline.1h", {"reference": "ZB-9", "title": "Bridge",
                                                        "deadline": "2026-12-07T02:00:00+00:00"})
        session.commit()
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.notification_id == made.id))
        assert (message.channel, message.recipient) == ("file", me.username)
        assert message.state == OutboxState.PENDING
        assert "ZB-9" in message.body and "Bids close in one hour" == message.subject
        now = utcnow()
        jobs.drain(now)
        jobs.drain(now)  # a second run sends nothing twice
        session.expire_all()
        message = session.get(OutboxMessage, message.id)
        assert message.state == OutboxState.SENT and message.attempts == 1 and message.sent_at is not None
        lines = [json.loads(line) for f in tmp_path.glob("*.jsonl") for line in f.read_text().splitlines()]
        assert [(m["id"], m["recipient"]) for m in lines] == [(message.id, me.username)]
        # a failing gateway: retried later, given up after MAX_ATTEMPTS
        flaky = senders.MemorySender(app)
        flaky.channel = "file"
        flaky.fail = jobs.MAX_ATTEMPTS
        senders.use(app, flaky)
        (again,) = services.notify([me], "opening.soon", {})
        session.commit()
        pending = session.scalar(select(OutboxMessage).where(OutboxMessage.notification_id == again.id))
        moment = utcnow()
        for _ in range(jobs.MAX_ATTEMPTS):
            jobs.drain(moment)
            moment += dt.timedelta(hours=1)
        session.expire_all()
        pending = session.get(OutboxMessage, pending.id)
        assert pending.state == OutboxState.FAILED and pending.attempts == jobs.MAX_ATTEMPTS
        assert "unavailable" in pending.last_error and flaky.sent == []
    finally:
        app.config["NOTIFICATION_OUTBOX_DIR"] = folder
        app.extensions.pop("ebid.notification_sender", None)
        if original is not None:
            app.extensions["ebid.notification_sender"] = original
