"""The evaluation room's JSON API (bearer tokens): the same services as the Socket.IO room, for scripts
and for clients without a live connection. Thin: find the panel, call a service under
`refusals_logged`, commit, push the change to the room, answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint
from pydantic import RootModel

from bidding.evaluation import events, schemas, services
from bidding.experts.models import Panel
from core.extensions import csrf, db
from core.identity import current_actor
from core.openapi import document
from core.shapes import RequestModel, read_body, respond
from core.validation import ValidationError

bp = Blueprint("evaluation_api", __name__, url_prefix="/api/evaluation")
csrf.exempt(bp)  # bearer tokens only

T = TypeVar("T", bound=RequestModel)


def _read(model: type[T], panel_id: int | None, action: str, subject: dict[str, Any] | None = None) -> T:
    """The body as `model`; a refusal is logged as the room's own refusals are (422 `invalid`, the field)."""
    with services.refusals_logged(panel_id, current_actor(), action, subject):
        try:
            return read_body(model)
        except ValidationError as exc:
            raise services.refuse(exc.code, exc.message, status=422, field=exc.field) from None


def _state(panel: Panel):
    return respond(schemas.RoomStateOut.model_validate(services.snapshot(panel)))


def _sheet(panel: Panel):
    return respond(schemas.SheetOut.model_validate(services.sheet_view(panel, current_actor())))


def _clarification(row: Any, status: int = 200):
    return respond(schemas.ClarificationOut.model_validate(services.clarification_view(row)), status)


class ClarificationList(RootModel[list[schemas.ClarificationOut]]):
    pass


def _panel(panel_id: int, action: str) -> Panel:
    with services.refusals_logged(panel_id, current_actor(), action):
        panel = services.panel_or_404(panel_id)
        services.require_watcher(panel, current_actor())
    return panel


def _change(panel_id: int, action: str, call: Callable[[Panel], services.Outcome]) -> Panel:
    with services.refusals_logged(panel_id, current_actor(), action):
        panel = services.panel_or_404(panel_id)
        outcome = call(panel)
    db.session.commit()
    events.publish_safely(panel, outcome)
    return panel


@bp.get("/panels/<int:panel_id>")
@document(
    summary="The evaluation room's state: who has submitted (never what), then the aggregate, "
    "flags, result and report (panel members, the tender's office, supervisors)",
    response=schemas.RoomStateOut,
)
def state(panel_id: int):
    panel = _panel(panel_id, "state")
    if services.open_if_live(panel):  # the anonymous labels need the room's key
        db.session.commit()
    return _state(panel)


@bp.get("/panels/<int:panel_id>/sheet")
@document(summary="One's own score sheet (a panel member)", response=schemas.SheetOut)
def sheet(panel_id: int):
    with services.refusals_logged(panel_id, current_actor(), "sheet"):
        panel = services.panel_or_404(panel_id)
        view = schemas.SheetOut.model_validate(services.sheet_view(panel, current_actor()))
    return respond(view)


@bp.put("/panels/<int:panel_id>/sheet")
@document(
    summary="Save scores on one's own sheet as a draft; every entry is checked, all or nothing",
    request=schemas.ScoresIn,
    response=schemas.SheetOut,
)
def save_sheet(panel_id: int):
    body = _read(schemas.ScoresIn, panel_id, "save")
    scores = [entry.model_dump(exclude_unset=True) for entry in body.scores]
    panel = _change(panel_id, "save", lambda p: services.save_draft(p, current_actor(), scores))
    return _sheet(panel)


@bp.post("/panels/<int:panel_id>/sheet/submit")
@document(
    summary="Submit one's complete sheet; it is locked. The last submission opens the review",
    response=schemas.SheetOut,
)
def submit_sheet(panel_id: int):
    panel = _change(panel_id, "submit", lambda p: services.submit(p, current_actor()))
    return _sheet(panel)


@bp.post("/panels/<int:panel_id>/flags/<int:flag_id>/justify")
@document(
    summary="Keep a flagged score and say why (its expert)",
    request=schemas.JustificationIn,
    response=schemas.SheetOut,
)
def justify(panel_id: int, flag_id: int):
    text = _read(schemas.JustificationIn, panel_id, "justify").justification
    panel = _change(panel_id, "justify", lambda p: services.justify(p, current_actor(), flag_id, text))
    return _sheet(panel)


@bp.post("/panels/<int:panel_id>/flags/<int:flag_id>/revise")
@document(
    summary="Change a flagged score (its expert); the panel's scores are checked again",
    request=schemas.RevisionIn,
    response=schemas.SheetOut,
)
def revise(panel_id: int, flag_id: int):
    body = _read(schemas.RevisionIn, panel_id, "revise")
    panel = _change(
        panel_id,
        "revise",
        lambda p: services.revise(p, current_actor(), flag_id, body.score, body.comment),
    )
    return _sheet(panel)


@bp.post("/panels/<int:panel_id>/report/sign")
@document(
    summary="Sign one's field of the evaluation report (a panel member; the password confirms it)",
    request=schemas.PasswordIn,
    response=schemas.RoomStateOut,
)
def sign_report(panel_id: int):
    password = _read(schemas.PasswordIn, panel_id, "sign").password
    panel = _change(panel_id, "sign", lambda p: services.sign(p, current_actor(), password))
    return _state(panel)


@bp.post("/panels/<int:panel_id>/clarifications")
@document(
    summary="Put a question to a bidder on the panel's behalf (a member, or the tender's office)",
    request=schemas.QuestionIn,
    response=schemas.ClarificationOut,
    status=201,
)
def ask(panel_id: int):
    body = _read(schemas.QuestionIn, panel_id, "ask").model_dump(exclude_unset=True)
    holder: dict[str, Any] = {}

    def call(panel: Panel) -> services.Outcome:
        outcome = services.ask(panel, current_actor(), body)
        holder["row"] = outcome.result
        return outcome

    _change(panel_id, "ask", call)
    return _clarification(holder["row"], 201)


@bp.get("/clarifications")
@document(
    summary="The questions the panels put to one's company, with their deadlines and answers (a bidder)",
    response=ClarificationList,
)
def my_clarifications():
    rows = services.clarifications_for_bidder(current_actor())
    return respond(ClarificationList([schemas.ClarificationOut.model_validate(services.clarification_view(c))
                                      for c in rows]))


@bp.post("/clarifications/<int:clarification_id>/answer")
@document(
    summary="Answer a question about one's own bid before its deadline (a bidder); late answers are refused",
    request=schemas.AnswerIn,
    response=schemas.ClarificationOut,
)
def answer(clarification_id: int):
    text = _read(schemas.AnswerIn, None, "answer", {"clarification": clarification_id}).answer
    row = services.clarification_or_404_logged(clarification_id, current_actor())
    room = row.room_id
    panel_id = services.panel_of_room(room)
    holder: dict[str, Any] = {}

    def call(panel: Panel) -> services.Outcome:
        found = services.clarification_or_404(clarification_id)
        holder["row"] = found
        return services.answer(found, current_actor(), text)

    _change(panel_id, "answer", call)
    return _clarification(holder["row"])
