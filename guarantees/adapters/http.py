"""The `http` adapter: an issuer reached over REST, answering later by signed callbacks or polling.

Requests go out as the interface's objects in the codec's tagged JSON, each with an
`Idempotency-Key` header equal to the request's own key, so a retry after a timeout gets the
issuer's first answer and never a second undertaking. Timeouts, refused connections and 5xx
answers are retried within the call with exponential backoff (`attempts`, `backoff`), then raised
as `IssuerUnavailable` for the guarantee service to retry later with the same key. An answer that
is not a valid one (not JSON, wrong shape, another request's key) is `IssuerProtocolError`, logged.

Final answers the issuer could not give at once arrive as callbacks: a compact JWS (ES256 only,
through signing/jose.py) signed by the issuer's key, which is pinned in configuration (no key
discovery, no other algorithm); its `iss` and `aud` must be the configured ones, its `iat` within
`callback_window_seconds` of now, its `jti` never seen before (the replay store), and the request it
answers one this adapter sent. `poll()` is the fallback: answers already taken (from responses or
callbacks) come from the exchange log, the rest are asked of the issuer.

Settings (`GUARANTEE_ISSUERS[code]["settings"]`):

    base_url                 the issuer's API root, e.g. https://gateway.bank.example/
    public_key               the issuer's ES256 public key, PEM (or public_key_file: a path to it)
    kid                      optional: the key id the issuer signs with (default: derived from the key)
    api_key                  optional: sent as `Authorization: Bearer ...`
    issuer_id                the `iss` of its callbacks (default: the issuer code)
    audience                 the `aud` it addresses the platform by (default "ebid-platform")
    timeout                  seconds per HTTP attempt (default 5)
    attempts, backoff        tries per call (default 3) and the first pause (default 0.25 s, doubling)
    callback_window_seconds  how far a callback's iat may be from now (default 300)

The platform may hand over `replay_store` and `exchange_log`; by default both are its database
(`guarantees.adapters.models`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from guarantees.adapters import codec
from guarantees.adapters.interface import (
    AdapterConfigurationError,
    AmendedUndertaking,
    AmendmentOutcome,
    AmendmentRequest,
    CallbackRejected,
    Declined,
    DemandOutcome,
    DemandPaid,
    DemandRejected,
    DemandRequest,
    IdempotencyConflict,
    IssuanceOutcome,
    IssuedUndertaking,
    IssuerEvent,
    IssuerProtocolError,
    IssuerRequestRefused,
    IssuerUnavailable,
    Pending,
    Released,
    ReleaseOutcome,
    ReleaseRequest,
    ReplayStore,
    UndertakingApplication,
    UnknownUndertaking,
    VerificationAnswer,
)
from guarantees.adapters.models import (
    Channel,
    DatabaseExchangeLog,
    DatabaseReplayStore,
    Direction,
    Exchange,
    ExchangeLog,
    ExchangeStatus,
    body_hash,
    summary,
)
from signing import jose

#: What each operation may be answered with, now or later.
ANSWERS: dict[str, tuple[type, ...]] = {
    "apply": (IssuedUndertaking, Declined, Pending),
    "amend": (AmendedUndertaking, Declined, Pending),
    "demand": (DemandPaid, DemandRejected, Pending),
    "release": (Released, Pending),
}
#: The issuer's error codes that mean "do not retry", with the error each becomes.
REFUSALS: dict[str, type[IssuerRequestRefused]] = {
    "unknown_undertaking": UnknownUndertaking,
    "idempotency_conflict": IdempotencyConflict,
}
#: HTTP statuses worth another try: the issuer is busy or broken, not saying no.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def load_public_key(settings: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """The issuer's pinned ES256 public key, from `public_key` (PEM) or `public_key_file`."""
    pem = settings.get("public_key")
    if not pem and settings.get("public_key_file"):
        try:
            pem = Path(settings["public_key_file"]).read_text(encoding="ascii")
        except OSError as exc:
            raise AdapterConfigurationError(f"cannot read the issuer's public key: {exc}") from exc
    if not pem:
        raise AdapterConfigurationError("the http adapter needs the issuer's public key (public_key, PEM)")
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise AdapterConfigurationError(f"the issuer's public key is not a PEM public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise AdapterConfigurationError(
            "the issuer's key must be an EC P-256 key (ES256 is the only algorithm)"
        )
    return key


def derived_kid(public_key: ec.EllipticCurvePublicKey) -> str:
    """The key id as the reference issuer (and the platform) derive it: SHA-256 of the SPKI, 16 bytes."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:16]).rstrip(b"=").decode()


def _number(value: Any, name: str, default: float) -> float:
    try:
        number = float(value) if value is not None else default
    except (TypeError, ValueError) as exc:
        raise AdapterConfigurationError(f"http adapter setting {name} is not a number: {value!r}") from exc
    if number < 0:
        raise AdapterConfigurationError(f"http adapter setting {name} cannot be negative")
    return number


#: Check-and-take of an answer is one step in a process (callbacks arrive on request threads).
_TAKING = threading.Lock()

class HttpIssuer:
    """An issuer's REST gateway, implementing `IssuerAdapter` and `CallbackReceiver`."""

    def __init__(
        self,
        *,
        issuer_code: str,
        base_url: str,
        public_key: ec.EllipticCurvePublicKey,
        replay_store: ReplayStore,
        exchange_log: ExchangeLog | None = None,
        kid: str | None = None,
        api_key: str | None = None,
        issuer_id: str | None = None,
        audience: str = "ebid-platform",
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.25,
        backoff_cap: float = 4.0,
        callback_window: dt.timedelta = dt.timedelta(minutes=5),
        clock: Callable[[], dt.datetime] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise AdapterConfigurationError(f"base_url must be an http(s) URL, not {base_url!r}")
        if attempts < 1:
            raise AdapterConfigurationError("attempts must be at least 1")
        self.issuer_code = issuer_code
        self.base_url = base_url.rstrip("/") + "/"
        self.public_key = public_key
        self.kid = kid or derived_kid(public_key)
        self.api_key = api_key
        self.issuer_id = issuer_id or issuer_code
        self.audience = audience
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.callback_window = callback_window
        self.replay_store = replay_store
        self.log = exchange_log if exchange_log is not None else DatabaseExchangeLog()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.http = session or requests.Session()

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> HttpIssuer:
        code = settings.get("issuer_code")
        if not code:
            raise AdapterConfigurationError("the http adapter needs its issuer_code (platform-provided)")
        if not settings.get("base_url"):
            raise AdapterConfigurationError(f"issuer {code}: the http adapter needs base_url")
        return cls(
            issuer_code=code,
            base_url=str(settings["base_url"]),
            public_key=load_public_key(settings),
            # The platform's database is the replay store unless the platform hands over another.
            replay_store=settings.get("replay_store") or DatabaseReplayStore(),
            exchange_log=settings.get("exchange_log"),
            kid=settings.get("kid"),
            api_key=settings.get("api_key"),
            issuer_id=settings.get("issuer_id"),
            audience=settings.get("audience") or "ebid-platform",
            timeout=_number(settings.get("timeout"), "timeout", 5.0),
            attempts=int(_number(settings.get("attempts"), "attempts", 3)),
            backoff=_number(settings.get("backoff"), "backoff", 0.25),
            callback_window=dt.timedelta(
                seconds=_number(settings.get("callback_window_seconds"), "callback_window_seconds", 300)
            ),
            clock=settings.get("clock"),
        )

    # -- IssuerAdapter ---------------------------------------------------------------------------

    def apply(self, *, application: UndertakingApplication) -> IssuanceOutcome:
        return self._submit("apply", "v1/undertakings/applications", application, None)

    def amend(self, *, amendment: AmendmentRequest) -> AmendmentOutcome:
        return self._submit(
            "amend",
            self._path(amendment.undertaking_identification, "amendments"),
            amendment,
            amendment.undertaking_identification,
        )

    def demand(self, *, demand: DemandRequest) -> DemandOutcome:
        return self._submit(
            "demand",
            self._path(demand.undertaking_identification, "demands"),
            demand,
            demand.undertaking_identification,
        )

    def release(self, *, release: ReleaseRequest) -> ReleaseOutcome:
        return self._submit(
            "release",
            self._path(release.undertaking_identification, "releases"),
            release,
            release.undertaking_identification,
        )

    def verify(self, *, undertaking_identification: str, letter_sha256: str) -> VerificationAnswer:
        body = {"undertaking_identification": undertaking_identification, "letter_sha256": letter_sha256}
        response = self._post(
            "verify", "v1/undertakings/verifications", body, key=None, undertaking=undertaking_identification
        )
        answer = self._read(response, "verify", (VerificationAnswer,), None, undertaking_identification)
        if answer.undertaking_identification != undertaking_identification:
            raise self._garbage(
                "verify",
                None,
                f"the issuer answered about {answer.undertaking_identification!r}, "
                f"not {undertaking_identification!r}",
                response,
            )
        self._record(
            "verify",
            Direction.OUT,
            ExchangeStatus.ANSWERED,
            undertaking=undertaking_identification,
            detail=f"genuine={answer.genuine}: {answer.detail}",
            body=response.content,
        )
        return answer

    def poll(self, *, idempotency_keys: Sequence[str]) -> list[IssuerEvent]:
        events: list[IssuerEvent] = []
        ask: list[str] = []
        for key in dict.fromkeys(idempotency_keys):
            if self.log.sent(issuer=self.issuer_code, idempotency_key=key) is None:
                continue  # never sent through this adapter: nothing to wait for
            taken = self.log.answer(issuer=self.issuer_code, idempotency_key=key)
            if taken is not None:
                events.append(IssuerEvent(key, codec.from_json(taken.outcome), taken.at, taken.message_id))
            else:
                ask.append(key)
        if not ask:
            return events
        try:
            response = self._post("poll", "v1/requests/outcomes", {"idempotency_keys": ask}, key=None)
        except IssuerUnavailable:
            if events:
                return events  # what is known now; the rest at the next poll
            raise
        try:
            data = response.json()
            items = data["events"]
            if not isinstance(items, list):
                raise TypeError("events is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise self._garbage("poll", None, f"not an outcomes list: {exc}", response) from exc
        wanted = set(ask)
        for item in items:
            event = codec.from_json(item, IssuerEvent) if isinstance(item, dict) else None
            if event is None or event.idempotency_key not in wanted or isinstance(event.outcome, Pending):
                raise self._garbage("poll", None, "an outcome for a key that was not asked about", response)
            self._check_answer(event.outcome, event.idempotency_key, response)
            if not self._take(event, kind="poll", body=response.content):
                # a callback took the answer while the poll was on its way: that one stands
                taken = self.log.answer(issuer=self.issuer_code, idempotency_key=event.idempotency_key)
                event = IssuerEvent(event.idempotency_key, codec.from_json(taken.outcome), taken.at,
                                    taken.message_id)
            events.append(event)
        return events

    # -- CallbackReceiver ------------------------------------------------------------------------

    def receive_callback(self, *, headers: Mapping[str, str], body: bytes) -> IssuerEvent:
        """Check one callback (signature, issuer, audience, time window, replay, request) and take it."""
        token = (
            body.decode("ascii", errors="replace").strip() if isinstance(body, bytes) else str(body).strip()
        )
        if token.count(".") != 2 or len(token) > 4 * 1024 * 1024:
            raise CallbackRejected("malformed", "the body is not a compact JWS")  # junk: counted, no row

        def pinned(kid: str):
            if kid != self.kid:
                raise KeyError(kid)
            return self.public_key

        try:
            claims = jose.verify(token, pinned)
        except jose.TokenError as exc:
            raise CallbackRejected("bad_signature", f"signature refused: {exc}") from exc  # counted, no row
        jti = claims.get("jti")
        if claims.get("iss") != self.issuer_id or claims.get("aud") != self.audience:
            raise self._rejection(
                "malformed",
                f"addressed from {claims.get('iss')!r} to {claims.get('aud')!r}, not from "
                f"{self.issuer_id!r} to {self.audience!r}",
                body,
                jti,
            )
        iat = claims.get("iat")
        if (
            not isinstance(jti, str)
            or not 1 <= len(jti) <= 128
            or not isinstance(iat, int)
            or isinstance(iat, bool)
        ):
            raise self._rejection("malformed", "the callback needs a jti (text) and an iat (seconds)", body)
        now = self.clock()
        issued = dt.datetime.fromtimestamp(iat, dt.UTC)
        if abs(now - issued) > self.callback_window:
            raise self._rejection(
                "outside_time_window",
                f"signed at {issued.isoformat()}, more than "
                f"{int(self.callback_window.total_seconds())} s from now",
                body,
                jti,
            )
        try:
            event = codec.from_json(claims.get("event"), IssuerEvent)
        except IssuerProtocolError as exc:
            raise self._rejection("malformed", f"the event cannot be read: {exc}", body, jti) from exc
        key = event.idempotency_key
        if event.message_id not in (None, jti):
            raise self._rejection(
                "malformed", "the event's message id differs from the JWS jti", body, jti, key
            )
        sent = self.log.sent(issuer=self.issuer_code, idempotency_key=key)
        if sent is None:
            raise self._rejection(
                "unknown_request",
                f"no request with idempotency key {key} was sent to this issuer",
                body,
                jti,
                key,
            )
        expected = ANSWERS.get(sent.kind, ())
        if isinstance(event.outcome, Pending) or not isinstance(event.outcome, expected):
            raise self._rejection(
                "malformed",
                f"a {type(event.outcome).__name__} does not answer a {sent.kind} request",
                body,
                jti,
                key,
            )
        if getattr(event.outcome, "idempotency_key", key) != key:
            raise self._rejection(
                "malformed", "the outcome names another request than the event", body, jti, key
            )
        if self.log.answer(issuer=self.issuer_code, idempotency_key=key) is not None:
            raise self._rejection("replayed", f"request {key} already has its answer", body, jti, key)
        if not self.replay_store.remember(
            issuer=self.issuer_code, message_id=jti, expires_at=issued + self.callback_window
        ):
            raise self._rejection("replayed", f"callback {jti} was already received", body, jti, key)
        event = IssuerEvent(key, event.outcome, event.occurred_at or issued, jti)
        if not self._take(event, kind="callback", body=body):
            raise self._rejection("replayed", f"request {key} already has its answer", body, jti, key)
        return event

    # -- the exchange ----------------------------------------------------------------------------

    @staticmethod
    def _path(number: str, what: str) -> str:
        return f"v1/undertakings/{quote(number, safe='')}/{what}"

    def _submit(self, operation: str, path: str, request: Any, undertaking: str | None) -> Any:
        key = request.idempotency_key
        taken = self.log.answer(issuer=self.issuer_code, idempotency_key=key)
        if taken is not None and taken.kind == operation and taken.detail == _fingerprint(request):
            return codec.from_json(taken.outcome)  # answered before: no need to ask again
        response = self._post(
            operation,
            path,
            codec.to_json(request),
            key=key,
            undertaking=undertaking,
            fingerprint=_fingerprint(request),
        )
        outcome = self._read(response, operation, ANSWERS[operation], key, undertaking)
        self._check_answer(outcome, key, response)
        if isinstance(outcome, Pending):
            self._record(
                operation,
                Direction.OUT,
                ExchangeStatus.SENT,
                key=key,
                undertaking=undertaking,
                message_id=outcome.issuer_reference,
                detail=_fingerprint(request),
                body=response.content,
            )
        else:
            self._record(
                operation,
                Direction.OUT,
                ExchangeStatus.ANSWERED,
                key=key,
                undertaking=_undertaking_of(outcome) or undertaking,
                detail=_fingerprint(request),
                outcome=codec.to_json(outcome),
                body=response.content,
            )
        return outcome

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _post(
        self,
        kind: str,
        path: str,
        body: Any,
        *,
        key: str | None,
        undertaking: str | None = None,
        fingerprint: str | None = None,
    ) -> requests.Response:
        """POST with retries on silence and 5xx; the 2xx or 4xx response, or IssuerUnavailable."""
        data = json.dumps(body, separators=(",", ":")).encode()
        url = self.base_url + path
        problem, retry_after = "", None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.backoff_cap, self.backoff * 2 ** (attempt - 1)))
            try:
                response = self.http.post(url, data=data, headers=self._headers(key), timeout=self.timeout)
            except requests.Timeout:
                problem = f"no answer within {self.timeout:g} s"
                continue
            except requests.ConnectionError as exc:
                problem = f"cannot connect: {type(exc).__name__}"
                continue
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRYABLE:
                problem = f"HTTP {response.status_code}"
                retry_after = _retry_after(response)
                continue
            if 400 <= response.status_code < 500:
                self._refused(kind, key, undertaking, response)
            return response
        message = f"issuer {self.issuer_code} did not answer {kind} after {self.attempts} attempts: {problem}"
        self._record(
            kind,
            Direction.OUT,
            ExchangeStatus.UNAVAILABLE,
            key=key,
            undertaking=undertaking,
            detail=message if fingerprint is None else f"{fingerprint} {message}"[:2000],
            body=data,
        )
        raise IssuerUnavailable(message, retry_after=retry_after)

    def _refused(
        self, kind: str, key: str | None, undertaking: str | None, response: requests.Response
    ) -> None:
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError) as exc:
            raise self._garbage(
                kind, key, f"HTTP {response.status_code} without an error object", response
            ) from exc
        self._record(
            kind,
            Direction.OUT,
            ExchangeStatus.REFUSED,
            key=key,
            undertaking=undertaking,
            detail=f"HTTP {response.status_code} {code}: {message}"[:2000],
            body=response.content,
        )
        if response.status_code in (401, 403):
            raise IssuerRequestRefused(
                f"issuer {self.issuer_code} refused the platform's credentials: {message}"
            )
        raise REFUSALS.get(code, IssuerRequestRefused)(
            f"issuer {self.issuer_code} refused the {kind}: {message}"
        )

    def _read(
        self,
        response: requests.Response,
        kind: str,
        expected: tuple[type, ...],
        key: str | None,
        undertaking: str | None,
    ) -> Any:
        try:
            data = response.json()
        except ValueError:
            raise self._garbage(
                kind,
                key,
                f"HTTP {response.status_code} {response.headers.get('Content-Type')}, "
                f"not JSON: {response.text[:80]!r}",
                response,
            ) from None
        try:
            return codec.from_json(data, expected)
        except IssuerProtocolError as exc:
            raise self._garbage(kind, key, str(exc), response) from exc

    def _check_answer(self, outcome: Any, key: str, response: requests.Response) -> None:
        answered = getattr(outcome, "idempotency_key", key)
        if answered != key:
            raise self._garbage("answer", key, f"the answer is for request {answered}, not {key}", response)

    def _garbage(
        self, kind: str, key: str | None, detail: str, response: requests.Response
    ) -> IssuerProtocolError:
        message = f"issuer {self.issuer_code} answered {kind} with something that is not an answer: {detail}"
        self._record(
            kind,
            Direction.OUT,
            ExchangeStatus.PROTOCOL_ERROR,
            key=key,
            detail=message[:2000],
            body=response.content,
        )
        return IssuerProtocolError(message)

    def _take(self, event: IssuerEvent, *, kind: str, body: bytes) -> bool:
        """Take the answer unless one was taken already (a callback and a poll can cross): one answer only."""
        with _TAKING:
            if self.log.answer(issuer=self.issuer_code, idempotency_key=event.idempotency_key) is not None:
                return False
            self._take_now(event, kind=kind, body=body)
            return True

    def _take_now(self, event: IssuerEvent, *, kind: str, body: bytes) -> None:
        self._record(
            kind,
            Direction.IN,
            ExchangeStatus.ACCEPTED,
            key=event.idempotency_key,
            message_id=event.message_id,
            undertaking=_undertaking_of(event.outcome),
            detail=json.dumps(summary(event.outcome), ensure_ascii=False),
            outcome=codec.to_json(event.outcome),
            body=body,
        )

    def _rejection(
        self, reason: str, message: str, body: bytes, jti: str | None = None, key: str | None = None
    ) -> CallbackRejected:
        self._record(
            "callback",
            Direction.IN,
            ExchangeStatus.REJECTED,
            key=key,
            message_id=jti,
            detail=f"{reason}: {message}"[:2000],
            body=body,
        )
        return CallbackRejected(reason, message)

    def _record(
        self,
        kind: str,
        direction: Direction,
        status: ExchangeStatus,
        *,
        key: str | None = None,
        message_id: str | None = None,
        undertaking: str | None = None,
        detail: str | None = None,
        outcome: dict | None = None,
        body: bytes | None = None,
    ) -> None:
        sha, size = body_hash(body)
        self.log.record(
            Exchange(
                self.issuer_code,
                Channel.HTTP,
                direction,
                kind,
                status,
                key,
                message_id,
                undertaking,
                detail,
                outcome,
                sha,
                size,
                self.clock(),
            )
        )


def _fingerprint(request: Any) -> str:
    """The request's hash: an answer is reused only for the very request it answered."""
    data = json.dumps(codec.to_json(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "request:" + hashlib.sha256(data.encode()).hexdigest()


def _undertaking_of(outcome: Any) -> str | None:
    return getattr(outcome, "undertaking_identification", None)


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
