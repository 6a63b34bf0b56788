"""Which audit-log events tell whom what: one rule per event, registered with `signing.audit` at start-up.

A rule runs inside the transaction that appended the entry (so a rollback takes its notifications
with it), finds the recipients in the database and calls `services.notify`. Nobody is told what they
may not know yet (docs/threat-model.md): a drawn expert learns only of their own seat, a bidder only of
its own guarantee, clarification or objection, the tenderee nothing of who bid or arranged a deposit
before the opening. docs/notifications.md lists every rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select

from bidding.evaluation.award import AwardObjection
from bidding.evaluation.models import Clarification
from bidding.experts.models import Draw, Expert, MemberStatus, Panel, PanelMember
from bidding.models import Tender
from bidding.opening.models import Objection as OpeningObjection
from bidding.submissions.models import Bid, BidState
from core.extensions import db
from core.models import Organisation, Role, User
from guarantees import issuers
from guarantees.models import Guarantee
from notifications.services import notify
from signing import audit

Rule = Callable[[str, dict[str, Any], dict[str, Any], User | None], None]


# -- recipients --------------------------------------------------------------------------------------------


def users_of(organisation_ids: Iterable[int | None], role: Role) -> list[User]:
    """The users with `role` of these organisations."""
    ids = {i for i in organisation_ids if i is not None}
    if not ids:
        return []
    return list(db.session.scalars(select(User).where(User.organisation_id.in_(ids), User.role == role)
                                   .order_by(User.id)))


def office_users(tender: Tender) -> list[User]:
    return users_of([tender.tendering_office_id], Role.TENDERING_OFFICE)


def bidder_organisations(tender_id: int) -> list[int]:
    """Organisations with an active bid in the tender (told only after the deadline, when the set is
    fixed; the office is never told who they are)."""
    return list(db.session.scalars(select(Bid.organisation_id).where(
        Bid.tender_id == tender_id, Bid.state == BidState.ACTIVE).distinct()))


def _tender(tender_id: Any) -> Tender | None:
    return db.session.get(Tender, tender_id) if type(tender_id) is int else None


def _about(tender: Tender, **more: Any) -> dict[str, Any]:
    return {"tender": tender.id, "reference": tender.reference, "title": tender.title, **more}


def _guarantee(key: Any) -> Guarantee | None:
    if not isinstance(key, str):
        return None
    return db.session.scalar(select(Guarantee).where(Guarantee.idempotency_key == key))


def _issuer_users(guarantee: Guarantee) -> list[User]:
    """The staff of the guarantee's issuer, where the issuer is an organisation on the platform (its
    GUARANTEE_ISSUERS entry's credit_code, as the issuer desk finds it)."""
    entry = issuers.registry().get(guarantee.issuer_code)
    code = (entry.credit_code if entry is not None else None) or guarantee.issuer_identification
    if not code:
        return []
    organisation = db.session.scalar(select(Organisation.id).where(Organisation.credit_code == code))
    return users_of([organisation], Role.ISSUER)


# -- rules -------------------------------------------------------------------------------------------------


def panel_drawn(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """Each expert given a seat by this draw learns of their own invitation (backups are told when called)."""
    panel = db.session.get(Panel, subject.get("panel"))
    if panel is None:
        return
    members = db.session.scalars(select(PanelMember).join(Draw, Draw.id == PanelMember.draw_id).where(
        Draw.panel_id == panel.id, Draw.number == data.get("draw"), PanelMember.status == MemberStatus.DRAWN))
    _invite(panel, list(members))


def backup_called(event: str, subject: dict, data: dict, actor: User | None) -> None:
    member = db.session.get(PanelMember, subject.get("member"))
    if member is not None and member.status == MemberStatus.DRAWN:
        _invite(member.panel, [member])


def _invite(panel: Panel, members: list[PanelMember]) -> None:
    users = db.session.scalars(select(User).join(Expert, Expert.user_id == User.id).where(
        Expert.id.in_([m.expert_id for m in members])))
    notify(list(users), "panel.invited", _about(panel.tender, lot=panel.lot_number,
                                                date=panel.evaluation_date.isoformat()),
           link="/experts/invitations")


def clarification_asked(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """The bidder whose bid is asked about (the room knows it by label only; the bidder is told)."""
    row = db.session.get(Clarification, data.get("clarification"))
    if row is None:
        return
    tender = db.session.get(Tender, row.tender_id)
    notify(users_of([row.bid.organisation_id], Role.BIDDER), "clarification.asked",
           _about(tender, deadline=row.deadline.isoformat()), link="/evaluation/clarifications")


def clarification_answered(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """Who asked, and the panel's seated members: told that an answer came, never by whom."""
    row = db.session.get(Clarification, data.get("clarification"))
    if row is None:
        return
    panel = db.session.get(Panel, subject.get("panel"))
    members = [] if panel is None else [m.expert_id for m in panel.members
                                        if m.status == MemberStatus.ACCEPTED]
    users = list(db.session.scalars(select(User).join(Expert, Expert.user_id == User.id)
                                    .where(Expert.id.in_(members))))
    asker = db.session.get(User, row.asked_by_id)
    tender = db.session.get(Tender, row.tender_id)
    link = f"/evaluation/panels/{panel.id}" if panel is not None else None
    notify([asker, *users], "clarification.answered", _about(tender, clarification=row.id), link=link)


def tender_question_answered(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """An answer to a question on a tender (答疑, issue 15): the bidders known to be interested, i.e. those
    who downloaded its documents or asked about it, each told privately (the office learns nothing)."""
    from bidding.tender_documents import TenderDocument, TenderDocumentDownload
    from bidding.tender_questions import TenderQuestion

    tender = _tender(subject.get("tender"))
    if tender is None:
        return
    downloaded = db.session.scalars(select(TenderDocumentDownload.organisation_id).join(TenderDocument)
                                    .where(TenderDocument.tender_id == tender.id))
    asked = db.session.scalars(select(TenderQuestion.asker_organisation_id)
                               .where(TenderQuestion.tender_id == tender.id))
    notify(users_of([*downloaded, *asked], Role.BIDDER), "tender_question.answered",
           _about(tender, number=subject.get("question")), link=f"/tenders/{tender.id}/questions")


def guarantee_decided(kind: str) -> Rule:
    """The applicant bidder learns its issuer's decision on its own guarantee."""

    def rule(event: str, subject: dict, data: dict, actor: User | None) -> None:
        guarantee = _guarantee(subject.get("guarantee"))
        if guarantee is None:
            return
        tender = _tender(guarantee.requirement.tender_id)
        if tender is None:
            return
        notify(users_of([guarantee.organisation_id], Role.BIDDER), kind,
               _about(tender, issuer=guarantee.issuer_name), link=f"/deposits/tenders/{tender.id}")

    return rule


def guarantee_claimed(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """A claim (made after the opening, in the open): the applicant and the issuer's staff."""
    guarantee = _guarantee(data.get("guarantee"))
    tender = _tender(subject.get("tender"))
    if guarantee is None or tender is None:
        return
    params = _about(tender, issuer=guarantee.issuer_name)
    notify(users_of([guarantee.organisation_id], Role.BIDDER), "guarantee.claimed", params,
           link=f"/deposits/tenders/{tender.id}")
    notify(_issuer_users(guarantee), "guarantee.claimed", params, link=None)


def claim_decided(kind: str) -> Rule:
    """The issuer paid or refused a claim: the applicant and the beneficiary's office."""

    def rule(event: str, subject: dict, data: dict, actor: User | None) -> None:
        guarantee = _guarantee(subject.get("guarantee"))
        if guarantee is None:
            return
        tender = _tender(guarantee.requirement.tender_id)
        if tender is None:
            return
        params = _about(tender, issuer=guarantee.issuer_name)
        notify(users_of([guarantee.organisation_id], Role.BIDDER), kind, params,
               link=f"/deposits/tenders/{tender.id}")
        notify(office_users(tender), kind, params, link=f"/deposits/office/tenders/{tender.id}")

    return rule


def objection_raised(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """The office that must answer (the objector's name is in the objection, not the notice)."""
    tender = _tender(subject.get("tender"))
    if tender is None:
        return
    link = f"/tenders/{tender.id}/award" if event.startswith("award.") else f"/tenders/{tender.id}/opening"
    notify(office_users(tender), "objection.raised", _about(tender), link=link)


def objection_answered(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """The bidder that objected: its users (an award objection) or the user who raised it (the opening)."""
    tender = _tender(subject.get("tender"))
    if tender is None:
        return
    if event == "award.objection_answered":
        row = db.session.get(AwardObjection, subject.get("objection"))
        users = users_of([row.organisation_id], Role.BIDDER) if row is not None else []
        link = f"/tenders/{tender.id}/award"
    else:
        row = db.session.get(OpeningObjection, data.get("objection"))
        users = [row.raised_by] if row is not None else []
        link = f"/tenders/{tender.id}/opening"
    notify(users, "objection.answered", _about(tender), link=link)


def award_publicised(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """Every bidder with an opened bid: the candidates are public and objections are open."""
    tender = _tender(subject.get("tender"))
    if tender is None:
        return
    notify(users_of(bidder_organisations(tender.id), Role.BIDDER), "award.publicised",
           _about(tender, ends=data.get("ends_at")), link=f"/tenders/{tender.id}/award")


def award_issued(event: str, subject: dict, data: dict, actor: User | None) -> None:
    """Winners are told they won (per lot); the other bidders that the result is published."""
    tender = _tender(subject.get("tender"))
    if tender is None:
        return
    link = f"/tenders/{tender.id}/award"
    winners: dict[int, list[int]] = {}
    for row in data.get("winners") or []:
        winners.setdefault(row.get("bidder"), []).append(row.get("lot"))
    for organisation, lots in winners.items():
        notify(users_of([organisation], Role.BIDDER), "award.won",
               _about(tender, lot=", ".join(str(lot) for lot in sorted(lots))), link=link)
    others = [o for o in bidder_organisations(tender.id) if o not in winners]
    notify(users_of(others, Role.BIDDER), "award.issued", _about(tender), link=link)


def complaint_step(kind: str, *, office: bool = True) -> Rule:
    """A complaint's step (issue 16): its parties, except whoever took the step: the complainant's users,
    every supervisor, and the tender's office (from the acceptance on: the authority sends the office the
    complaint once it is accepted). `due` is the next time limit, where there is one."""

    def rule(event: str, subject: dict, data: dict, actor: User | None) -> None:
        from supervision.complaints import Complaint

        complaint = db.session.get(Complaint, subject.get("complaint"))
        if complaint is None:
            return
        users = users_of([complaint.organisation_id], Role.BIDDER)
        users += list(db.session.scalars(select(User).where(User.role == Role.SUPERVISOR).order_by(User.id)))
        if office:
            users += office_users(complaint.tender)
        due = data.get("accept_by") or data.get("decide_by")
        notify([u for u in users if actor is None or u.id != actor.id], kind,
               _about(complaint.tender, complaint=complaint.id, due=due), link=f"/complaints/{complaint.id}")

    return rule


#: event -> rule. Guarantee decisions are logged as "guarantee.<new state>" (guarantees/services.py);
#: an issuer's request for more information, made at its desk, as "guarantee.desk_information_requested".
RULES: dict[str, Rule] = {
    "panel.drawn": panel_drawn,
    "panel.backup_called": backup_called,
    "evaluation.clarification_asked": clarification_asked,
    "evaluation.clarification_answered": clarification_answered,
    "tender_question.answered": tender_question_answered,
    "guarantee.issued": guarantee_decided("guarantee.issued"),
    "guarantee.declined": guarantee_decided("guarantee.declined"),
    "guarantee.desk_information_requested": guarantee_decided("guarantee.information_requested"),
    "deposit.claimed": guarantee_claimed,
    "guarantee.paid": claim_decided("guarantee.paid"),
    "guarantee.rejected": claim_decided("guarantee.rejected"),
    "opening.objection": objection_raised,
    "opening.answer": objection_answered,
    "award.objection_raised": objection_raised,
    "award.objection_answered": objection_answered,
    "award.publicised": award_publicised,
    "award.issued": award_issued,
    "complaint.filed": complaint_step("complaint.filed", office=False),
    "complaint.accepted": complaint_step("complaint.accepted"),
    "complaint.refused_acceptance": complaint_step("complaint.refused"),
    "complaint.tender_suspended": complaint_step("complaint.suspended"),
    "complaint.suspension_lifted": complaint_step("complaint.lifted"),
    "complaint.statement": complaint_step("complaint.statement"),
    "complaint.extended": complaint_step("complaint.extended"),
    "complaint.decided": complaint_step("complaint.decided"),
    "complaint.withdrawn": complaint_step("complaint.withdrawn"),
}


def register() -> None:
    """Hook every rule to its event (idempotent: a second application registers nothing twice)."""
    for event, rule in RULES.items():
        audit.add_listener(event, rule)
