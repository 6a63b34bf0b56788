"""Sign in and out on the web, and bearer tokens for the API."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from pydantic import Field

from app.auth.forms import LoginForm
from app.security import safe_redirect_target
from core.accounts import LoginRefused, authenticate
from core.errors import error_response
from core.extensions import csrf, db
from core.openapi import document
from core.shapes import RequestModel, ResponseModel, respond, validate
from signing.api_tokens import issue_token

bp = Blueprint("auth", __name__)
api = Blueprint("auth_api", __name__, url_prefix="/api/auth")
csrf.exempt(api)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = authenticate(form.username.data, form.password.data)
        except LoginRefused:
            db.session.commit()  # the failure count must survive the refusal
            form.username.errors.append(_("Wrong username or password."))
            return render_template("auth/login.html", form=form), 401
        db.session.commit()
        session.clear()
        session.permanent = True
        login_user(user)
        flash(_("Welcome, %(name)s.", name=user.display_name), "success")
        return redirect(safe_redirect_target(request.args.get("next"), url_for("web.home")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("web.index"))


class TokenIn(RequestModel):
    """A username and password, within the sign-in form's lengths; one left out is a wrong one (401)."""

    username: Annotated[str, Field(max_length=64)] = ""
    password: Annotated[str, Field(max_length=200)] = ""


class TokenOut(ResponseModel):
    """A bearer token (an ES256 JWT) and its lifetime in seconds."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme's name, not a secret
    expires_in: int


@api.route("/token", methods=["POST"])
@document(summary="Exchange a username and password for a short-lived bearer token",
          request=TokenIn,
          response=TokenOut, public=True)
def token():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return error_response(400, "bad_request", "send a JSON object with username and password")
    body = validate(TokenIn, data)
    try:
        user = authenticate(body.username, body.password)
    except LoginRefused as exc:
        db.session.commit()
        return error_response(401, "unauthorized", str(exc))
    db.session.commit()
    access_token, expires_in = issue_token(user)
    current_app.logger.info("API token issued to user %s", user.id)
    return respond(TokenOut(access_token=access_token, expires_in=expires_in))
