"""Commands for operators: `flask keys ...`, `flask demo ...`, `flask users ...`. Each commits at its end."""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.seed import demo_logins, seed_if_empty
from core.extensions import db
from core.scheduler import scheduler
from signing.keys import KeyPurpose
from signing.pki import ensure_pki, rotate_ca

keys_cli = AppGroup("keys", help="The platform's signing keys.")
demo_cli = AppGroup("demo", help="Demo data for the embedded default.")


def _store():
    store = current_app.extensions.get("ebid.keys")
    if store is None:
        raise click.ClickException("KEY_ENCRYPTION_KEY is not configured")
    return store


@keys_cli.command("ensure")
def keys_ensure() -> None:
    """Make any platform key that is missing, and the CA, TSA and seal (run by `make run`)."""
    made = _store().ensure() + ensure_pki(_store(), name=current_app.config["PLATFORM_NAME"])
    for key in made:
        click.echo(f"made {key.purpose.value} key {key.kid} ({key.algorithm})")
    if not made:
        click.echo("platform keys present")


@keys_cli.command("rotate")
@click.argument("purpose")
def keys_rotate(purpose: str) -> None:
    """Make a new key for PURPOSE (jws, checkpoint or ca); the old one keeps verifying."""
    if purpose == KeyPurpose.CA.value:
        for key in rotate_ca(_store(), name=current_app.config["PLATFORM_NAME"]):
            click.echo(f"new {key.purpose.value} key {key.kid}")
        return
    try:
        kind = KeyPurpose(purpose)
    except ValueError as exc:
        raise click.BadParameter("one of: jws, checkpoint, ca") from exc
    if kind not in (KeyPurpose.JWS, KeyPurpose.CHECKPOINT):
        raise click.BadParameter("the TSA and seal keys follow the CA: rotate ca")
    key = _store().create(kind)
    click.echo(f"new {kind.value} key {key.kid}")


@keys_cli.command("list")
def keys_list() -> None:
    """List the platform's keys, oldest first."""
    for key in _store().all():
        state = "retired" if key.retired else "active"
        click.echo(f"{key.purpose.value:10} {key.kid} {key.algorithm:6} {key.created_at.isoformat()} {state}")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Seed the demo organisations, users and tenders if the database is empty; print the logins."""
    if current_app.config.get("ENV_NAME") == "production":
        raise click.ClickException("demo data is never seeded in production")
    created = seed_if_empty()
    db.session.commit()
    logins = demo_logins()
    click.echo("Demo data seeded." if created else "Database already has data; demo logins:")
    for entry in logins:
        click.echo(f"  {entry['role']:17} {entry['username']:12} {entry['password']}")


@demo_cli.command("logins")
def demo_logins_cmd() -> None:
    """Print the demo logins as JSON (the demo driver reads them)."""
    click.echo(json.dumps(demo_logins(), ensure_ascii=False))


scheduler_cli = AppGroup("scheduler", help="Jobs that run on the clock.")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in the foreground (production: one such process beside the web workers)."""
    click.echo(f"scheduler running: {', '.join(scheduler(current_app).jobs)}")
    scheduler(current_app._get_current_object()).loop()


@scheduler_cli.command("tick")
def scheduler_tick() -> None:
    """Run every job that is due once, and exit."""
    following = scheduler(current_app._get_current_object()).run_due()
    click.echo(f"next job due {following.isoformat()}")


def init_app(app: Flask) -> None:
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(demo_cli)
