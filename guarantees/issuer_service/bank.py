"""The reference issuer's books: requests by idempotency key, decisions, and the events the platform awaits.

The banking itself (underwriting, premium, numbering, the signed PDF letter, URDG 758 demands,
releases, verification) is the sandbox issuer's (`guarantees/adapters/sandbox.py`), run here as
the core of a separate process, so every adapter under the contract suite decides alike. What
this module adds is what a remote issuer has and an in-process one does not:

* requests kept by idempotency key in the issuer's own SQLite file: the same key with the same
  request gets the same answer (never a second undertaking), with another request a conflict;
* asynchronous decisions (`async_decisions`): every request is answered `Pending` and decided by
  the back office (worker.py) after `decision_delay` seconds, as gateways that underwrite offline do;
* events: each decision the platform was told to wait for becomes an event with a stable id, pushed
  as a signed callback (worker.py), answered to polling, or written to the SWIFT folder
  (swift_desk.py). The id is the JWS `jti`, so a second delivery of the same event is recognisable.

Everything runs under one lock: the service stands in for a bank's gateway, it is not one.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from guarantees.adapters import codec
from guarantees.adapters.interface import (
    AmendmentRequest,
    DemandRequest,
    IdempotencyConflict,
    IssuerEvent,
    IssuerProtocolError,
    IssuerRequestRefused,
    Pending,
    ReleaseRequest,
    UndertakingApplication,
    UnknownUndertaking,
    VerificationAnswer,
)
from guarantees.adapters.sandbox import SandboxIssuer, Underwriting
from signing import jose

#: The JWS `typ` of every statement the issuer signs.
STATEMENT_TYPE = "issuer-statement+jws"
#: operation -> (the request type, the sandbox method, its keyword).
OPERATIONS: dict[str, tuple[type, str]] = {
    "apply": (UndertakingApplication, "application"),
    "amend": (AmendmentRequest, "amendment"),
    "demand": (DemandRequest, "demand"),
    "release": (ReleaseRequest, "release"),
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY, operation TEXT NOT NULL, fingerprint TEXT NOT NULL, body TEXT NOT NULL,
    reference TEXT NOT NULL, channel TEXT NOT NULL, state TEXT NOT NULL, decide_after TEXT NOT NULL,
    outcome TEXT, error TEXT, created_at TEXT NOT NULL, decided_at TEXT);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, key TEXT NOT NULL,
    body TEXT NOT NULL, channel TEXT NOT NULL, created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL, delivered_at TEXT,
    last_error TEXT);
CREATE INDEX IF NOT EXISTS ix_requests_state ON requests (state, decide_after);
CREATE INDEX IF NOT EXISTS ix_events_delivery ON events (channel, delivered_at, next_attempt_at);
"""

# Request states in the issuer's books.
QUEUED = "queued"  # accepted, answered Pending, to be decided by the back office
REVIEW = "review"  # the core wants a person to decide (manual review)
DECIDED = "decided"
FAILED = "failed"  # refused when it came to be decided (unknown undertaking...)


class BankError(Exception):
    """A request the issuer refuses; `status` is the HTTP status it answers with."""

    def __init__(self, message: str, *, status: int = 422, code: str = "invalid") -> None:
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def fingerprint(request: Any) -> str:
    """What the idempotency check compares: the request's canonical JSON, hashed."""
    data = json.dumps(codec.to_json(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


@dataclass
class Identity:
    """Who the issuer is and the key it signs statements with."""

    code: str
    name: str
    bic: str
    private_key: ec.EllipticCurvePrivateKey
    #: The `aud` of its statements: the platform it serves.
    audience: str = "ebid-platform"
    number_prefix: str = "RB"

    @property
    def kid(self) -> str:
        return key_id(self.private_key.public_key())

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwk(self) -> dict[str, str]:
        return jose.public_jwk(self.kid, self.private_key.public_key())


def load_or_make_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The issuer's ES256 key from a PEM file, made on first start (mode 0600)."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} does not hold an EC private key")
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    tmp.chmod(0o600)
    tmp.replace(path)
    return key


def key_id(public_key) -> str:
    """The kid: the first 16 bytes of the SPKI's SHA-256, base64url (as the platform names its own keys)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:16]).rstrip(b"=").decode()


class Bank:
    """The issuer's books in `home` (a SQLite file and the core's book and seal) and its back office."""

    def __init__(
        self,
        home: Path,
        identity: Identity,
        underwriting: Mapping[str, Any] | None = None,
        *,
        async_decisions: bool = False,
        decision_delay: float = 0.0,
    ) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.identity = identity
        self.async_decisions = async_decisions
        self.decision_delay = decision_delay
        #: Added to the issuer's clock (tests move it past an expiry date).
        self.clock_offset = dt.timedelta(0)
        #: Set when there is work for the back office (an event to push, a decision due).
        self.wake = threading.Event()
        #: Where the back office pushes callbacks (None: nowhere; the platform polls).
        self.callback_url: str | None = None
        self.core = SandboxIssuer.from_config(
            {
                "name": identity.name,
                "identification": identity.bic,
                "issuer_code": identity.code,
                "state_dir": self.home / "book",
                "number_prefix": identity.number_prefix,
                "clock": self.now,
                **dict(underwriting or {}),
            }
        )
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.home / "exchange.sqlite3", check_same_thread=False, isolation_level=None
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(SCHEMA)

    def now(self) -> dt.datetime:
        return utcnow() + self.clock_offset

    def set_underwriting(self, settings: Mapping[str, Any]) -> None:
        self.core.underwriting = Underwriting.from_settings(settings)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One serialised transaction, committed at the end, rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- requests --------------------------------------------------------------------------------

    def submit(
        self, operation: str, data: Any, *, header_key: str | None = None, channel: str = "http"
    ) -> tuple[int, Any]:
        """Take one request (tagged JSON or an interface object); (HTTP status, the answer object)."""
        request_type, _ = OPERATIONS[operation]
        request = data if isinstance(data, request_type) else self._decode(data, request_type)
        key = request.idempotency_key
        if channel == "http" and header_key != key:
            raise BankError(
                "the Idempotency-Key header must be sent and equal the request's idempotency_key",
                status=400,
                code="idempotency_key_required",
            )
        digest = fingerprint(request)
        with self.transaction() as db:
            row = db.execute("SELECT * FROM requests WHERE key = ?", (key,)).fetchone()
            if row is not None:
                if row["fingerprint"] != digest or row["operation"] != operation:
                    raise BankError(
                        f"idempotency key {key} was already used for a different request",
                        code="idempotency_conflict",
                    )
                return self._answer(row)
            reference = f"{self.identity.number_prefix}-REQ-{secrets.token_hex(5).upper()}"
            if self.async_decisions:
                if operation != "apply":
                    self._check_known(request.undertaking_identification)
                decide = utcnow() + dt.timedelta(seconds=self.decision_delay)
                self._insert(db, key, operation, digest, request, reference, channel, QUEUED, decide)
                self.wake.set()
                return 202, Pending(
                    key, issuer_reference=reference, retry_after=max(self.decision_delay, 0.5)
                )
            outcome = self._run_core(operation, request)
            if isinstance(outcome, Pending):
                self._insert(
                    db,
                    key,
                    operation,
                    digest,
                    request,
                    outcome.issuer_reference or reference,
                    channel,
                    REVIEW,
                    utcnow(),
                )
                return 202, outcome
            self._insert(db, key, operation, digest, request, reference, channel, DECIDED, utcnow(), outcome)
            return 200, outcome

    @staticmethod
    def _decode(data: Any, request_type: type) -> Any:
        try:
            return codec.from_json(data, request_type)
        except IssuerProtocolError as exc:
            raise BankError(
                f"not a valid {request_type.__name__}: {exc}", status=400, code="invalid"
            ) from exc

    def _check_known(self, number: str) -> None:
        answer = self.core.verify(undertaking_identification=number, letter_sha256="0" * 64)
        if answer.issuer_status is None:
            raise BankError(
                f"{self.identity.name} issued no undertaking {number}", status=404, code="unknown_undertaking"
            )

    def _run_core(self, operation: str, request: Any) -> Any:
        _, keyword = OPERATIONS[operation]
        try:
            return getattr(self.core, operation)(**{keyword: request})
        except UnknownUndertaking as exc:
            raise BankError(str(exc), status=404, code="unknown_undertaking") from exc
        except IdempotencyConflict as exc:
            raise BankError(str(exc), code="idempotency_conflict") from exc
        except (IssuerRequestRefused, IssuerProtocolError, ValueError) as exc:
            raise BankError(str(exc), code="refused") from exc

    @staticmethod
    def _insert(db, key, operation, digest, request, reference, channel, state, decide, outcome=None) -> None:
        db.execute(
            "INSERT INTO requests (key, operation, fingerprint, body, reference, channel, state, "
            "decide_after, outcome, created_at, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                operation,
                digest,
                json.dumps(codec.to_json(request)),
                reference,
                channel,
                state,
                _iso(decide),
                json.dumps(codec.to_json(outcome)) if outcome is not None else None,
                _iso(utcnow()),
                _iso(utcnow()) if outcome is not None else None,
            ),
        )

    def _answer(self, row: sqlite3.Row) -> tuple[int, Any]:
        if row["state"] == DECIDED:
            return 200, codec.from_json(json.loads(row["outcome"]))
        if row["state"] == FAILED:
            raise BankError(row["error"], code="refused")
        return 202, Pending(row["key"], issuer_reference=row["reference"])

    def outcomes(self, keys: list[str]) -> list[IssuerEvent]:
        """The final answers known for these keys (polling); keys still open or unknown are left out."""
        found = []
        with self._lock:
            for key in keys:
                row = self._db.execute(
                    "SELECT * FROM requests WHERE key = ? AND state = ?", (key, DECIDED)
                ).fetchone()
                if row is None:
                    continue
                event = self._db.execute("SELECT id FROM events WHERE key = ?", (key,)).fetchone()
                found.append(
                    IssuerEvent(
                        key,
                        codec.from_json(json.loads(row["outcome"])),
                        dt.datetime.fromisoformat(row["decided_at"]),
                        event["id"] if event else f"answer:{key}",
                    )
                )
        return found

    def verify(self, data: Any) -> VerificationAnswer:
        if not isinstance(data, dict):
            raise BankError("the verification query must be a JSON object", status=400)
        number, sha = data.get("undertaking_identification"), data.get("letter_sha256")
        if not isinstance(number, str) or not number.strip() or not isinstance(sha, str):
            raise BankError("undertaking_identification and letter_sha256 are required", status=400)
        return self.core.verify(undertaking_identification=number.strip(), letter_sha256=sha)

    # -- the back office -------------------------------------------------------------------------

    def decide_due(self) -> int:
        """Decide every queued request whose time has come; returns how many were decided."""
        with self._lock:
            keys = [
                r["key"]
                for r in self._db.execute(
                    "SELECT key FROM requests WHERE state = ? AND decide_after <= ? ORDER BY created_at",
                    (QUEUED, _iso(utcnow())),
                )
            ]
        for key in keys:
            self._decide(key)
        return len(keys)

    def _decide(self, key: str) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT * FROM requests WHERE key = ? AND state = ?", (key, QUEUED)).fetchone()
            if row is None:
                return
            request = codec.from_json(json.loads(row["body"]), OPERATIONS[row["operation"]][0])
            try:
                outcome = self._run_core(row["operation"], request)
            except BankError as exc:
                db.execute(
                    "UPDATE requests SET state = ?, error = ?, decided_at = ? WHERE key = ?",
                    (FAILED, exc.message, _iso(utcnow()), key),
                )
                return
            if isinstance(outcome, Pending):
                db.execute(
                    "UPDATE requests SET state = ?, reference = ? WHERE key = ?",
                    (REVIEW, outcome.issuer_reference or row["reference"], key),
                )
                return
            self._decided(db, row, outcome)

    def _decided(self, db: sqlite3.Connection, row: sqlite3.Row, outcome: Any) -> None:
        now = utcnow()
        db.execute(
            "UPDATE requests SET state = ?, outcome = ?, decided_at = ? WHERE key = ?",
            (DECIDED, json.dumps(codec.to_json(outcome)), _iso(now), row["key"]),
        )
        event_id = "EVT-" + secrets.token_hex(10).upper()
        event = IssuerEvent(row["key"], outcome, now, event_id)
        db.execute(
            "INSERT INTO events (id, key, body, channel, created_at, next_attempt_at) VALUES "
            "(?, ?, ?, ?, ?, ?)",
            (event_id, row["key"], json.dumps(codec.to_json(event)), row["channel"], _iso(now), _iso(now)),
        )
        self.wake.set()

    def review(self, *, approve: bool) -> int:
        """A person decides every application waiting for review; each decision becomes an event."""
        self.core.review_pending(approve=approve)
        with self.transaction() as db:
            rows = {r["key"]: r for r in db.execute("SELECT * FROM requests WHERE state = ?", (REVIEW,))}
            decided = self.core.poll(idempotency_keys=list(rows))
            for event in decided:
                self._decided(db, rows[event.idempotency_key], event.outcome)
        return len(decided)

    # -- events ----------------------------------------------------------------------------------

    def statement(self, row: sqlite3.Row, *, now: dt.datetime | None = None) -> str:
        """An event as a compact JWS signed now; `jti` is the event's id, so it never changes."""
        claims = {
            "iss": self.identity.code,
            "aud": self.identity.audience,
            "iat": int((now or utcnow()).timestamp()),
            "jti": row["id"],
            "event": json.loads(row["body"]),
        }
        return jose.sign(
            claims, kid=self.identity.kid, private_key=self.identity.private_key, typ=STATEMENT_TYPE
        )

    def event(self, row: sqlite3.Row) -> IssuerEvent:
        return codec.from_json(json.loads(row["body"]), IssuerEvent)

    def due_deliveries(self, channel: str = "http", limit: int = 50) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(
                "SELECT * FROM events WHERE channel = ? AND delivered_at IS NULL AND next_attempt_at <= ? "
                "ORDER BY seq LIMIT ?",
                (channel, _iso(utcnow()), limit),
            ).fetchall()

    def delivered(self, event_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE events SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
                (_iso(utcnow()), event_id),
            )

    def delivery_failed(self, event_id: str, error: str, *, base: float = 0.5, cap: float = 30.0) -> None:
        """Try again later: 0.5 s, 1 s, 2 s... at most `cap` seconds apart."""
        with self.transaction() as db:
            row = db.execute("SELECT attempts FROM events WHERE id = ?", (event_id,)).fetchone()
            wait = min(cap, base * 2 ** min(row["attempts"], 16))
            db.execute(
                "UPDATE events SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error[:500], _iso(utcnow() + dt.timedelta(seconds=wait)), event_id),
            )

    def _undertakings(self) -> int:
        with self.core.book.transaction() as book:
            return len(book["undertakings"])

    def redeliver(self) -> int:
        """Push every http event again, as if never delivered (the benchmark's second run); how many."""
        with self.transaction() as db:
            count = db.execute(
                "UPDATE events SET delivered_at = NULL, attempts = 0, last_error = NULL, "
                "next_attempt_at = ? WHERE channel = 'http'",
                (_iso(utcnow()),),
            ).rowcount
        self.wake.set()
        return count

    def counts(self) -> dict[str, int]:
        """What the books hold, for tests and the control panel."""
        with self._lock:

            def one(sql: str, *args: Any) -> int:
                return self._db.execute(sql, args).fetchone()[0]

            return {
                "requests": one("SELECT count(*) FROM requests"),
                "applications": one("SELECT count(*) FROM requests WHERE operation = 'apply'"),
                "queued": one("SELECT count(*) FROM requests WHERE state = ?", QUEUED),
                "review": one("SELECT count(*) FROM requests WHERE state = ?", REVIEW),
                "undertakings": self._undertakings(),
                "events": one("SELECT count(*) FROM events"),
                "undelivered": one(
                    "SELECT count(*) FROM events WHERE delivered_at IS NULL AND channel = 'http'"
                ),
            }
