"""The audit log's one-at-a-time append path (issue 3), kept only as the reference for equivalence tests.

Issue 17 replaced it with batched appends (`signing.audit.record` over `signing.logstore.claim`).
This is the old code unchanged in effect: per entry, an `UPDATE log_head ... RETURNING` through the
ORM, the entry added to the session and flushed, then `MerkleTree.append` over `DbNodeStore`, which
reads each sibling it needs and inserts each node with its own statement. The tests append the same
sequence both ways and require the same entries, leaf hashes, nodes and roots. The platform never
calls it.
"""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.models import User
from core.orm import utcnow
from signing import audit, logstore
from signing.canonical import canonical_json
from signing.merkle import leaf_hash
from signing.models import LogEntry


def record_one_at_a_time(event: str, *, actor: User | None, subject: dict[str, Any],
                         data: dict[str, Any] | None = None,
                         ip: str | None | audit.IpDefault = audit.FROM_REQUEST) -> LogEntry:
    """Append one entry the pre-issue-17 way (no checkpoint option: the tests sign their own)."""
    fields: dict[str, Any] = {
        "v": audit.FORMAT_VERSION, "event": event, "actor": audit.actor_json(actor),
        "ip": audit.request_context_ip() if ip is audit.FROM_REQUEST else ip, "subject": subject,
        "data": data or {},
    }
    canonical_json({**fields, "index": 0, "time": ""})
    index = logstore.claim_index()
    now = utcnow()
    fields.update(index=index, time=now.strftime(audit.TIME_FORMAT))
    body = canonical_json(fields)
    entry = LogEntry(index=index, body=body.decode(), leaf_hash=leaf_hash(body), event=event, created_at=now)
    db.session.add(entry)
    db.session.flush()
    logstore.tree(index).append(entry.leaf_hash)
    return entry
