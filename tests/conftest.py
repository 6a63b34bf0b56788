"""Test fixtures: one application per session, schema by migrations, a rolled-back transaction per test.

`TEST_DATABASE_URL` picks PostgreSQL; the default is a SQLite file in a temporary folder.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from flask import Flask
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import create_engine, make_url, text

from app import create_app
from config import TestConfig
from core.extensions import db


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("EBID_CONFIG", "test")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> str:
    """The test database: a SQLite file per worker, or TEST_DATABASE_URL's PostgreSQL database.

    Under pytest-xdist each worker gets a PostgreSQL database of its own beside the named one
    (`<name>_gw0`, made afresh), since every worker wipes its schema at the start.
    """
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    if worker_id == "master":
        return url
    base = make_url(url)
    name = f"{base.database}_{worker_id}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[Flask]:
    instance = tmp_path_factory.mktemp("instance")
    application = create_app(
        TestConfig,
        INSTANCE_PATH=str(instance),
        SQLALCHEMY_DATABASE_URI=database_url,
        KEY_DIR=instance / "keys",
        BLOB_DIR=instance / "blobs",
        KEY_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        WTF_CSRF_ENABLED=False,
    )
    with application.app_context():
        reset_schema()
        from flask_migrate import upgrade

        upgrade()
        application.extensions["ebid.keys"].ensure()
        from signing.pki import ensure_pki

        ensure_pki(application.extensions["ebid.keys"], name=application.config["PLATFORM_NAME"])
    yield application
    with application.app_context():
        db.engine.dispose()


def reset_schema() -> None:
    """Start from an empty database (the test database is ours to wipe)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    else:
        db.drop_all()
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


class _ConnectionSession(FlaskSession):
    """Flask-SQLAlchemy's session looks engines up itself and ignores `bind=`; honour it here.

    Without this the test's connection (and so its rolled-back transaction) is bypassed and every
    commit is real (pallets-eco/flask-sqlalchemy#1167).
    """

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is not None:
            return bind
        if self.bind is not None:
            return self.bind
        return super().get_bind(mapper=mapper, clause=clause, **kwargs)


@pytest.fixture
def session(app: Flask) -> Iterator:
    """A session inside a transaction that is rolled back after the test; commits become savepoints."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        scoped = db._make_scoped_session(
            {"bind": connection, "join_transaction_mode": "create_savepoint", "class_": _ConnectionSession}
        )
        original = db.session
        db.session = scoped
        try:
            yield scoped
        finally:
            scoped.remove()
            db.session = original
            outer.rollback()
            connection.close()


@pytest.fixture
def client(app: Flask, session):
    return app.test_client()


@pytest.fixture
def csrf(app: Flask) -> Iterator[None]:
    """Turn CSRF protection on for a test (it is off for the rest, which post forms directly)."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
