"""The panel, its members and the tender's rules: who may enter the room (members, the tender's office,
supervisors), who scores, how members are numbered, the evaluation rules the room applies, and whether
the panel may evaluate now (constituted, its tender under evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bidding.evaluation import rules as tender_rules
from bidding.evaluation import scoring
from bidding.evaluation.services.common import refuse
from bidding.experts.models import MemberStatus, Panel, PanelMember, PanelState
from bidding.lifecycle import TenderState
from bidding.models import Tender
from core.extensions import db
from core.models import Role, User


def panel_or_404(panel_id: Any) -> Panel:
    if not isinstance(panel_id, int) or isinstance(panel_id, bool):
        raise refuse("bad_request", 'name the panel: {"panel": <id>}', status=400, field="panel")
    panel = db.session.get(Panel, panel_id)
    if panel is None:
        raise refuse("not_found", f"no such panel: {panel_id}", status=404)
    return panel


def members(panel: Panel) -> list[PanelMember]:
    """The members who accepted their seat, in the order they are numbered in the room."""
    return sorted(
        (m for m in panel.members if m.status == MemberStatus.ACCEPTED),
        key=lambda m: (m.slot, m.position, m.id),
    )


def member_of(panel: Panel, user: User | None) -> PanelMember | None:
    """The user's accepted seat on the panel, if any."""
    if user is None or user.role != Role.EXPERT:
        return None
    return next((m for m in members(panel) if m.expert.user_id == user.id), None)


def number_of(panel: Panel, member: PanelMember) -> int:
    return 1 + [m.id for m in members(panel)].index(member.id)


def is_office(user: User | None, tender: Tender) -> bool:
    return (
        user is not None
        and user.role == Role.TENDERING_OFFICE
        and user.organisation_id == tender.tendering_office_id
    )


def watcher_kind(panel: Panel, user: User | None) -> str | None:
    """How the user may be in the room: "member", "office" (read-only, asks questions), "supervisor"
    (read-only), or None."""
    if user is None:
        return None
    if member_of(panel, user) is not None:
        return "member"
    if is_office(user, panel.tender):
        return "office"
    if user.role == Role.SUPERVISOR:
        return "supervisor"
    return None


def require_watcher(panel: Panel, user: User | None) -> str:
    kind = watcher_kind(panel, user)
    if kind is None:
        if user is not None and user.role == Role.EXPERT:
            raise refuse(
                "not_on_panel",
                "you were not drawn for this panel, or have not accepted your seat: only its members "
                "take part in its evaluation",
                status=403,
            )
        raise refuse(
            "forbidden",
            "only the panel's members, the tender's office and supervisors are let into an evaluation room",
            status=403,
        )
    return kind


def require_member(panel: Panel, user: User | None) -> PanelMember:
    member = member_of(panel, user)
    if member is None:
        raise refuse(
            "not_on_panel",
            "you were not drawn for this panel, or have not accepted your seat: only its members score",
            status=403,
        )
    return member


@dataclass(frozen=True)
class RoomRules:
    """What the room needs of the tender's evaluation rules."""

    anonymous_technical: bool
    outlier_threshold: Decimal
    scoring: scoring.ScoringRules


def rules_for(tender: Tender) -> RoomRules:
    """The tender's evaluation rules (bidding/evaluation/rules.py; its defaults when the office set none)."""
    row = tender_rules.rules_for(tender)
    made = row.to_scoring_rules()
    return RoomRules(bool(row.anonymise_technical), made.outlier_threshold, made)


def is_live(panel: Panel) -> bool:
    return panel.tender.state == TenderState.EVALUATING and panel.state == PanelState.CONSTITUTED


def live(panel: Panel) -> None:
    """The panel may evaluate: constituted, and its tender under evaluation."""
    tender = panel.tender
    if tender.state != TenderState.EVALUATING:
        raise refuse(
            "not_evaluating",
            f"tender {tender.reference} is {tender.state.value}: its evaluation room is open only while "
            "it is being evaluated",
        )
    if panel.state != PanelState.CONSTITUTED:
        raise refuse(
            "panel_not_constituted",
            f"the panel is {panel.state.value}: scoring starts when every seat has been accepted",
        )
