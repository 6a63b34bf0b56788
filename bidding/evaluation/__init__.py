"""Evaluation: the tender's rules, the expert panel's live room and score sheets, scoring and ranking,
the signed evaluation report, publicity of the candidates, objections and the award."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `ebid audit` imports the pure scoring code on users' machines, where Flask is not needed
    from flask import Flask


def init_app(app: Flask) -> None:
    # -- evaluation rules, publicity, objections and award (helper eval-score)
    from bidding.evaluation import award, rules  # noqa: F401  (registers the tables)
    from bidding.evaluation.award_api import bp as award_api
    from bidding.evaluation.award_pages import bp as award_pages
    from bidding.evaluation.rules_api import bp as rules_api

    app.register_blueprint(rules_api)
    app.register_blueprint(award_api)
    app.register_blueprint(award_pages)
    # -- evaluation room and score sheets (helper eval-room)
    from bidding.evaluation import models  # noqa: F401  (registers the room's tables)
    from bidding.evaluation.api import bp as evaluation_api
    from bidding.evaluation.events import NAMESPACE, EvaluationNamespace
    from bidding.evaluation.pages import bp as evaluation_pages
    from core.extensions import socketio

    app.register_blueprint(evaluation_api)
    app.register_blueprint(evaluation_pages)
    socketio.on_namespace(EvaluationNamespace(NAMESPACE))
