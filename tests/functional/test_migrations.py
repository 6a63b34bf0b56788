"""The schema the migrations make is the schema the models describe: no drift, on either database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect

from core.extensions import db


def test_migrations_are_at_head(app: Flask):
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        heads = ScriptDirectory.from_config(config).get_heads()
        with db.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    assert tuple(current) == tuple(heads)


def test_models_and_migrations_do_not_drift(app: Flask):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_every_model_table_was_made_by_the_migrations(app: Flask):
    with app.app_context(), db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables
