"""One error shape: `{"error": {"code", "message", "field"}}` for the API, a page for people."""

from __future__ import annotations

import contextlib

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError
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


#: SQLSTATEs that say the server is gone or going, not that the statement was wrong: class 08
#: (connection exception) and the operator's interventions (admin or crash shutdown, starting up).
_UNREACHABLE_STATES = ("08", "57P01", "57P02", "57P03")
#: Seconds a client is told to wait before trying again when the database is not reachable.
DATABASE_RETRY_AFTER = 5


def database_unreachable(exc: BaseException) -> bool:
    """Whether a database error means the database cannot be reached now (a restart, a network cut),
    rather than a fault in the statement: SQLAlchemy invalidated the connection, or the driver failed
    to connect or lost the server (psycopg's errors without a SQLSTATE are the client's own, such as
    "connection failed" and "server closed the connection unexpectedly")."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not hasattr(exc.orig, "sqlstate"):  # not psycopg (SQLite: its file is always there)
        return False
    state = exc.orig.sqlstate
    return state is None or state.startswith(_UNREACHABLE_STATES)


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

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        if not database_unreachable(exc):
            return unexpected(exc)
        # The transaction is gone with its connection: nothing of it was written. Rolling back returns
        # the session to a clean state, and SQLAlchemy's pool (pool_pre_ping) replaces the dead
        # connections, so service resumes by itself once the database answers again.
        with contextlib.suppress(Exception):
            db.session.rollback()
        # Who is signed in cannot be looked up now: the answer is drawn for an anonymous visitor.
        g._login_user = app.login_manager.anonymous_user()
        app.logger.warning("the database is not reachable: %s", exc.orig)
        response = error_response(503, "database_unavailable",
                                  _("The database is not reachable; try again shortly."))
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
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
