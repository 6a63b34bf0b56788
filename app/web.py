"""Shared pages and machine endpoints: home, each role's start page, health, OpenAPI, language."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, session, url_for
from pydantic import ConfigDict
from sqlalchemy import text

from app.admin import bp as admin_bp
from app.security import safe_redirect_target
from bidding.services import search_public
from core.extensions import db
from core.identity import current_actor
from core.models import Role
from core.openapi import build_spec, document
from core.shapes import ResponseModel, respond

bp = Blueprint("web", __name__)

#: Where each role starts after signing in.
HOME_BY_ROLE = {
    Role.TENDERING_OFFICE: "bidding.office_tenders",
    Role.BIDDER: "my_bids.bids_page",
    Role.SUPERVISOR: "supervision.dashboard_page",
    Role.ADMINISTRATOR: "admin.organisations",
    Role.ISSUER: "issuer_desk.queue",
}


@bp.get("/")
def index():
    latest = search_public(page=1, per_page=5)
    return render_template("web/index.html", latest=latest.items)


@bp.get("/home")
def home():
    endpoint = HOME_BY_ROLE.get(current_actor().role)
    if endpoint:
        return redirect(url_for(endpoint))
    return render_template("web/home.html")


class Health(ResponseModel):
    status: Literal["ok"]
    database: str


class OpenApiDocument(ResponseModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""
    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@bp.get("/healthz")
@document(summary="Liveness and the database backend", public=True, response=Health)
def healthz():
    db.session.execute(text("SELECT 1"))
    return respond(Health(status="ok", database=db.engine.dialect.name))


@bp.get("/api/openapi.json")
@document(summary="This OpenAPI document", public=True, response=OpenApiDocument)
def openapi():
    return jsonify(build_spec(current_app))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        user = current_actor()
        if user is not None:
            user.locale = lang
            db.session.commit()
    return redirect(safe_redirect_target(request.form.get("next"), "/"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
