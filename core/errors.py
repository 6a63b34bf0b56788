"""One error shape: `{"error": {"code", "message", "field"}}` for the API, a page for people."""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from core.extensions import db
from core.validation import ValidationError


class ConfigurationError(RuntimeError):
    """A critical setting is missing or out of range; the platform refuses to start."""


class Refused(Exception):
    """A request the platform understood and refuses (conflict with state, rule, or ownership)."""

    status = 409

    def __init__(
        self, message: str, *, code: str = "conflict", field: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        if status is not None:
            self.status = status


def wants_json() -> bool:
    """API paths, and clients that ask for JSON, get JSON errors."""
    if request.path.startswith("/api/") or request.path.startswith("/.well-known/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """The error as JSON or as a page, with the status."""
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message, "field": field}})
    else:
        response = Response(
            render_template("errors/error.html", status=status, code=code, message=message, field=field),
            mimetype="text/html",
        )
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def invalid(exc: ValidationError):
        db.session.rollback()
        return error_response(422, exc.code, exc.message, exc.field)

    @app.errorhandler(Refused)
    def refused(exc: Refused):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.field)

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError):
        return error_response(
            400, "csrf", _("The form expired or was not sent from this site; reload and try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()
        messages = {
            401: _("Sign in first."),
            403: _("You are not allowed to do this."),
            404: _("Not found."),
            405: _("This method is not allowed here."),
            413: _("The request is too large."),
        }
        code = (exc.name or "error").lower().replace(" ", "_")
        message = messages.get(exc.code or 500, exc.description or exc.name)
        if exc.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = _("The request is too large: the limit is %(limit)s bytes.", limit=limit)
        response = error_response(exc.code or 500, code, message)
        for name, value in exc.get_headers():  # e.g. a 405's Allow (RFC 9110 15.5.6)
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        db.session.rollback()
        if app.testing:
            raise exc
        app.logger.exception("unhandled error")
        return error_response(
            500, "internal_error", _("Something went wrong on our side; nothing was saved.")
        )
