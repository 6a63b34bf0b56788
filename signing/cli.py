"""`flask log ...`: sign a checkpoint now, or re-walk the stored log and say what differs."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.extensions import db

log_cli = AppGroup("log", help="The audit log.")


@log_cli.command("checkpoint")
@click.option("--milestone", default=None, help="Label the checkpoint with a milestone (always signs).")
def checkpoint(milestone: str | None) -> None:
    """Sign a checkpoint of the log as it is now, unless the latest already covers it."""
    from signing import audit

    before = audit.latest_checkpoint()
    made = audit.make_checkpoint(milestone=milestone)
    db.session.commit()
    if before is not None and made.id == before.id:
        click.echo(f"the latest checkpoint already covers the log's {made.tree_size} entries", err=True)
    click.echo(made.note, nl=False)


@log_cli.command("verify")
def verify() -> None:
    """Recompute every leaf, node and checkpoint root from the entries; exit 1 on any difference."""
    from signing.logcheck import verify_log

    report = verify_log()
    for problem in report.problems:
        click.echo(f"MISMATCH {problem}", err=True)
    summary = f"{report.entries} entries, {report.checkpoints} checkpoints"
    if not report.ok:
        raise click.ClickException(f"the log does not verify ({len(report.problems)} problems; {summary})")
    click.echo(f"log verifies: {summary}")
