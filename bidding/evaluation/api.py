"""The evaluation room's JSON API (bearer tokens): the same services as the Socket.IO room, for scripts
and for clients without a live connection. Thin: find the panel, call a service under
`refusals_logged`, commit, push the change to the room, answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request

from app.auth.identity import current_actor
from app.extensions import csrf, db
from app.openapi import document
from bidding.evaluation import events, services
from bidding.experts.models import Panel

bp = Blueprint("evaluation_api", __name__, url_prefix="/api/evaluation")
csrf.exempt(bp)  # bearer tokens only

PLACE = {"bid": "integer", "label": "string", "criterion": "integer"}
FLAG = {
    **PLACE,
    "id": "integer",
    "expert": "integer",
    "score": "money",
    "mean": "money",
    "deviation_pct": "string",
    "threshold": "string",
    "state": "string",
    "justification": "string",
    "revised_to": "money",
}
CLARIFICATION = {
    "id": "integer",
    "tender": "integer",
    "reference": "string",
    "bid": "integer",
    "bidder": "string",
    "question": "string",
    "asked_at": "datetime",
    "deadline": "datetime",
    "state": "string",
    "answer": "string",
    "answered_at": "datetime",
}
STATE = {
    "panel": "integer",
    "tender": "integer",
    "reference": "string",
    "title": "string",
    "lot": "integer",
    "tender_state": "string",
    "panel_state": "string",
    "state": "string",
    "server_time": "datetime",
    "anonymous_technical": "boolean",
    "outlier_threshold": "string",
    "criteria": [
        {
            "id": "integer",
            "name": "string",
            "category": "string",
            "weight": "string",
            "max_score": "string",
            "scored_by": "string",
            "anonymous": "boolean",
        }
    ],
    "experts": [{"expert": "integer", "submitted": "boolean", "submitted_at": "datetime"}],
    "bids": [
        {
            "bid": "integer",
            "label": "string",
            "bidder": "string",
            "price": {"amount": "money", "currency": "string"},
            "duration_days": "integer",
            "responses": "object",
        }
    ],
    "technical": [{"label": "string", "responses": "object"}],
    "aggregate": [{**PLACE, "n": "integer", "score": "money", "trimmed": "boolean"}],
    "flags": [FLAG],
    "result": {
        "inputs_digest": "string",
        "lowest_price": "money",
        "benchmark_price": "money",
        "ranking": [
            {
                "bid": "integer",
                "bidder": "string",
                "rank": "integer",
                "total": "money",
                "price_points": "money",
                "commercial": "money",
                "technical": "money",
            }
        ],
    },
    "report": {
        "document": "integer",
        "sha256": "string",
        "signatures": [{"expert": "integer", "field": "string", "signed": "boolean"}],
    },
    "clarifications": [CLARIFICATION],
}
SHEET = {
    "panel": "integer",
    "expert": "integer",
    "state": "string",
    "submitted_at": "datetime",
    "updated_at": "datetime",
    "scores": [{**PLACE, "score": "money", "comment": "string"}],
    "flags": [FLAG],
}
SCORES = {"scores": [{**PLACE, "score": "money", "comment": "string"}]}


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


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
    response=STATE,
)
def state(panel_id: int):
    panel = _panel(panel_id, "state")
    if services.open_if_live(panel):  # the anonymous labels need the room's key
        db.session.commit()
    return jsonify(services.snapshot(panel))


@bp.get("/panels/<int:panel_id>/sheet")
@document(summary="One's own score sheet (a panel member)", response=SHEET)
def sheet(panel_id: int):
    with services.refusals_logged(panel_id, current_actor(), "sheet"):
        panel = services.panel_or_404(panel_id)
        view = services.sheet_view(panel, current_actor())
    return jsonify(view)


@bp.put("/panels/<int:panel_id>/sheet")
@document(
    summary="Save scores on one's own sheet as a draft; every entry is checked, all or nothing",
    request=SCORES,
    response=SHEET,
)
def save_sheet(panel_id: int):
    scores = _body().get("scores")
    panel = _change(panel_id, "save", lambda p: services.save_draft(p, current_actor(), scores))
    return jsonify(services.sheet_view(panel, current_actor()))


@bp.post("/panels/<int:panel_id>/sheet/submit")
@document(
    summary="Submit one's complete sheet; it is locked. The last submission opens the review", response=SHEET
)
def submit_sheet(panel_id: int):
    panel = _change(panel_id, "submit", lambda p: services.submit(p, current_actor()))
    return jsonify(services.sheet_view(panel, current_actor()))


@bp.post("/panels/<int:panel_id>/flags/<int:flag_id>/justify")
@document(
    summary="Keep a flagged score and say why (its expert)",
    request={"justification": "string"},
    response=SHEET,
)
def justify(panel_id: int, flag_id: int):
    text = _body().get("justification")
    panel = _change(panel_id, "justify", lambda p: services.justify(p, current_actor(), flag_id, text))
    return jsonify(services.sheet_view(panel, current_actor()))


@bp.post("/panels/<int:panel_id>/flags/<int:flag_id>/revise")
@document(
    summary="Change a flagged score (its expert); the panel's scores are checked again",
    request={"score": "money", "comment": "string"},
    response=SHEET,
)
def revise(panel_id: int, flag_id: int):
    body = _body()
    panel = _change(
        panel_id,
        "revise",
        lambda p: services.revise(p, current_actor(), flag_id, body.get("score"), body.get("comment")),
    )
    return jsonify(services.sheet_view(panel, current_actor()))


@bp.post("/panels/<int:panel_id>/report/sign")
@document(
    summary="Sign one's field of the evaluation report (a panel member; the password confirms it)",
    request={"password": "string"},
    response=STATE,
)
def sign_report(panel_id: int):
    password = _body().get("password")
    panel = _change(panel_id, "sign", lambda p: services.sign(p, current_actor(), password))
    return jsonify(services.snapshot(panel))


@bp.post("/panels/<int:panel_id>/clarifications")
@document(
    summary="Put a question to a bidder on the panel's behalf (a member, or the tender's office)",
    request={"bid": "integer", "label": "string", "question": "string", "deadline": "datetime"},
    response=CLARIFICATION,
    status=201,
)
def ask(panel_id: int):
    body = _body()
    holder: dict[str, Any] = {}

    def call(panel: Panel) -> services.Outcome:
        outcome = services.ask(panel, current_actor(), body)
        holder["row"] = outcome.result
        return outcome

    _change(panel_id, "ask", call)
    return jsonify(services.clarification_view(holder["row"])), 201


@bp.get("/clarifications")
@document(
    summary="The questions the panels put to one's company, with their deadlines and answers (a bidder)",
    response=[CLARIFICATION],
)
def my_clarifications():
    return jsonify(
        [services.clarification_view(c) for c in services.clarifications_for_bidder(current_actor())]
    )


@bp.post("/clarifications/<int:clarification_id>/answer")
@document(
    summary="Answer a question about one's own bid before its deadline (a bidder); late answers are refused",
    request={"answer": "string"},
    response=CLARIFICATION,
)
def answer(clarification_id: int):
    text = _body().get("answer")
    row = services.clarification_or_404_logged(clarification_id, current_actor())
    room = row.room_id
    panel_id = services.panel_of_room(room)
    holder: dict[str, Any] = {}

    def call(panel: Panel) -> services.Outcome:
        found = services.clarification_or_404(clarification_id)
        holder["row"] = found
        return services.answer(found, current_actor(), text)

    _change(panel_id, "answer", call)
    return jsonify(services.clarification_view(holder["row"]))
