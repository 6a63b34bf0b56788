"""Alembic environment: the schema is made only by these migrations, on SQLite and PostgreSQL alike."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

import bidding.evaluation.award  # noqa: F401
import bidding.evaluation.models  # noqa: F401
import bidding.evaluation.rules  # noqa: F401
import bidding.experts.models  # noqa: F401
import bidding.models  # noqa: F401
import bidding.opening.models  # noqa: F401
import bidding.submissions.models  # noqa: F401

# Every model module, so autogenerate and `flask db check` see the whole schema.
import core.models  # noqa: F401
import guarantees.adapters.models  # noqa: F401
import guarantees.models  # noqa: F401
import signing.models  # noqa: F401

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def _skip_empty(context, revision, directives):
    """An autogenerate with no changes writes no file."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("no changes in the schema")


def run_migrations_offline() -> None:
    context.configure(url=str(db.engine.url), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", _skip_empty)
    conf_args.setdefault("render_as_batch", True)
    conf_args.setdefault("compare_type", True)
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=target_metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        return
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
