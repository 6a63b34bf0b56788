"""The sandbox issuer: a bank (or insurer) that lives in the platform's process; the embedded default.

It does what a real issuer does, by configurable rules: underwrites (amount limits, exposure per
applicant, a refusal list, grades it declines), prices the premium (a rate per grade, a minimum),
numbers and issues the undertaking with a letter it signs itself as PAdES (its own CA, seal and
time-stamping unit, nothing borrowed from the platform), answers demands under URDG 758 (refused
after expiry, after release, or a second time), acknowledges releases and reductions, answers
verification by its own book, and keeps virtual sub-accounts for cash deposits.

Its book is a JSON file (and its keys PEM files) under `state_dir`, or memory when `state_dir`
is unset (tests). Settings (all optional but `name`):

    name, identification (BIC or credit code), country, number_prefix, state_dir
    max_undertaking_amount, max_exposure_per_applicant   decimal strings
    refused_applicants      identifications declined outright
    applicant_grades        {identification: grade}; default_grade; decline_grades [grades]
    premium_rates           {grade: percent of the amount}; minimum_premium; premium_currency
    max_validity_days       the longest validity it issues
    manual_review_above     amounts above this answer Pending; `review_pending()` decides them
    manual                  true: the issuer's staff decide every application and examine every
                            demand by hand (Pending until `decide_application` / `decide_demand`,
                            which the issuer desk calls: guarantees/desk.py)
    clock                   a callable giving aware UTC now (platform-provided; tests move time)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509

from core.money import Money
from guarantees.adapters import codec
from guarantees.adapters.interface import (
    AdapterConfigurationError,
    AmendedUndertaking,
    AmendmentOutcome,
    AmendmentRequest,
    CashReceipt,
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
    Party,
    Pending,
    RefundDone,
    RefundInstruction,
    Released,
    ReleaseOutcome,
    ReleaseRequest,
    UndertakingApplication,
    UnknownUndertaking,
    VerificationAnswer,
    check_idempotency_key,
)

#: The issuer's place of business: its dates (issue, expiry) are calendar days here.
ISSUER_TZ = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")

# The issuer's own record of an undertaking moves through these; the platform keeps its own lifecycle.
IN_FORCE = "issued"
STATUSES = ("issued", "amended", "paid", "released", "expired")


def _dec(value: Any, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise AdapterConfigurationError(f"sandbox setting {name} is not a number: {value!r}") from exc


@dataclass(frozen=True)
class Underwriting:
    """The sandbox issuer's rules: what it declines, what it charges, what it reviews by hand."""

    max_undertaking_amount: Decimal | None = None
    max_exposure_per_applicant: Decimal | None = None
    refused_applicants: frozenset[str] = frozenset()
    applicant_grades: Mapping[str, str] | None = None
    default_grade: str = "B"
    decline_grades: frozenset[str] = frozenset({"C", "D"})
    premium_rates: Mapping[str, Decimal] | None = None
    minimum_premium: Decimal = Decimal("100.00")
    max_validity_days: int = 730
    manual_review_above: Decimal | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Underwriting:
        rates = settings.get("premium_rates") or {"A": "0.10", "B": "0.20", "C": "0.50"}
        return cls(
            max_undertaking_amount=_dec(settings.get("max_undertaking_amount"), "max_undertaking_amount"),
            max_exposure_per_applicant=_dec(
                settings.get("max_exposure_per_applicant"), "max_exposure_per_applicant"
            ),
            refused_applicants=frozenset(settings.get("refused_applicants") or ()),
            applicant_grades=dict(settings.get("applicant_grades") or {}),
            default_grade=str(settings.get("default_grade", "B")),
            decline_grades=frozenset(settings.get("decline_grades", ("C", "D"))),
            premium_rates={g: _dec(r, f"premium_rates.{g}") for g, r in rates.items()},
            minimum_premium=_dec(settings.get("minimum_premium", "100.00"), "minimum_premium"),
            max_validity_days=int(settings.get("max_validity_days", 730)),
            manual_review_above=_dec(settings.get("manual_review_above"), "manual_review_above"),
        )

    def grade(self, applicant: Party) -> str:
        return (self.applicant_grades or {}).get(applicant.identification, self.default_grade)

    def premium(self, applicant: Party, amount: Money) -> Money:
        rate = (self.premium_rates or {}).get(self.grade(applicant))
        if rate is None:
            rate = max((self.premium_rates or {"": Decimal("0.20")}).values())
        value = (amount.amount * rate / 100).quantize(CENT, ROUND_HALF_UP)
        return Money(max(value, self.minimum_premium), amount.currency)


# -- the issuer's seal: its own CA, document seal and time-stamping unit ---------------------------


class IssuerSeal:
    """The keys with which the sandbox issuer signs its letters (kept apart from the platform's)."""

    def __init__(self, name: str, state_dir: Path | None) -> None:
        self.name = name
        path = state_dir / "seal.json" if state_dir else None
        if path is None:
            self._load(self._create(name))
            return
        if not path.exists():
            # Several processes may start at once: the first file to appear wins, the others read it.
            _write_new(path, json.dumps(self._create(name)).encode(), mode=0o600)
        self._load(json.loads(path.read_text()))

    @staticmethod
    def _create(name: str) -> dict[str, str]:
        from signing.ca import CertificateAuthority, certificate_pem, private_bytes_pem

        now = dt.datetime.now(dt.UTC)
        ca = CertificateAuthority.create(f"{name} Root CA", now=now, organisation=name)
        key, cert = ca.issue(f"{name} Guarantee Seal", organisation=name, kind="document_signer", now=now)
        tsa_key, tsa_cert = ca.issue(
            f"{name} Time-Stamping Unit", organisation=name, kind="timestamping", now=now
        )
        return {
            "ca_cert": certificate_pem(ca.certificate).decode(),
            "ca_key": private_bytes_pem(ca.private_key).decode(),
            "seal_cert": certificate_pem(cert).decode(),
            "seal_key": private_bytes_pem(key).decode(),
            "tsa_cert": certificate_pem(tsa_cert).decode(),
            "tsa_key": private_bytes_pem(tsa_key).decode(),
        }

    def _load(self, data: dict[str, str]) -> None:
        from signing.ca import CertificateAuthority, load_certificate_pem, load_private_pem

        self.ca = CertificateAuthority(
            load_certificate_pem(data["ca_cert"].encode()), load_private_pem(data["ca_key"].encode())
        )
        self.key = load_private_pem(data["seal_key"].encode())
        self.cert = load_certificate_pem(data["seal_cert"].encode())
        self.tsa_key = load_private_pem(data["tsa_key"].encode())
        self.tsa_cert = load_certificate_pem(data["tsa_cert"].encode())

    @property
    def trust_root(self) -> x509.Certificate:
        return self.ca.certificate

    def sign(self, pdf: bytes, *, reason: str) -> bytes:
        from signing.pdf import sign_pdf
        from signing.timestamps import LocalTimestamper

        return sign_pdf(
            pdf,
            signer_key=self.key,
            signer_cert=self.cert,
            ca_cert=self.ca.certificate,
            timestamper=LocalTimestamper(self.tsa_cert, self.tsa_key, chain=[self.ca.certificate]),
            field_name="issuer",
            signer_label=self.name,
            certify=True,
            reason=reason,
        )


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file whole, only if it does not exist yet (a concurrent first writer wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# -- the book ----------------------------------------------------------------------------------


class Book:
    """The issuer's records: requests by idempotency key, undertakings by number, virtual accounts."""

    def __init__(self, state_dir: Path | None) -> None:
        self.path = state_dir / "book.json" if state_dir else None
        self._memory: dict[str, Any] = self._empty()
        self._lock = threading.RLock()

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {"sequence": 0, "requests": {}, "undertakings": {}, "accounts": {}, "refunds": {}}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """The book, locked against other threads and processes; saved if the block ends normally."""
        with self._lock:
            if self.path is None:
                snapshot = json.loads(json.dumps(self._memory))
                yield snapshot
                self._memory = snapshot
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    data = json.loads(self.path.read_text()) if self.path.exists() else self._empty()
                    yield data
                    _write_atomic(self.path, json.dumps(data, sort_keys=True).encode())
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)


# -- the issuer --------------------------------------------------------------------------------


def _fingerprint(request: Any) -> str:
    return hashlib.sha256(json.dumps(codec.to_json(request), sort_keys=True).encode()).hexdigest()


def _money_json(value: Money) -> dict[str, str]:
    return value.to_json()


def _money(data: Mapping[str, str]) -> Money:
    return Money(Decimal(data["amount"]), data["currency"])


class SandboxIssuer:
    """An in-process issuer implementing `IssuerAdapter` and `DepositAccountAdapter`."""

    def __init__(
        self,
        *,
        name: str,
        identification: str,
        country: str = "CN",
        number_prefix: str = "SBX",
        underwriting: Underwriting | None = None,
        state_dir: Path | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        manual: bool = False,
    ) -> None:
        self.party = Party(name=name, identification=identification, country=country)
        #: Its staff decide applications and examine demands by hand (the issuer desk).
        self.manual = manual
        self.number_prefix = number_prefix
        self.underwriting = underwriting or Underwriting()
        self.book = Book(state_dir)
        self.seal = IssuerSeal(name, state_dir)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._faults: list[Exception] = []
        self._outage: Exception | None = None

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> SandboxIssuer:
        name = settings.get("name")
        if not name:
            raise AdapterConfigurationError("the sandbox issuer needs a name")
        state_dir = settings.get("state_dir")
        if not state_dir and settings.get("instance_path") and settings.get("issuer_code"):
            state_dir = Path(settings["instance_path"]) / "sandbox-issuers" / settings["issuer_code"]
        if settings.get("state_dir") == ":memory:":
            state_dir = None
        return cls(
            name=name,
            identification=settings.get("identification") or f"SANDBOX-{settings.get('issuer_code', 'X')}",
            country=settings.get("country", "CN"),
            number_prefix=settings.get("number_prefix") or "SBX",
            underwriting=Underwriting.from_settings(settings),
            state_dir=Path(state_dir) if state_dir else None,
            clock=settings.get("clock"),
            manual=bool(settings.get("manual")),
        )

    # -- testing and demonstration: make the next calls fail the way a remote issuer can --------

    def fail_next(self, error: Exception, times: int = 1) -> None:
        """The next `times` calls raise `error` (IssuerUnavailable, IssuerProtocolError...)."""
        self._faults.extend([error] * times)

    @contextlib.contextmanager
    def simulate(self, error: Exception) -> Iterator[None]:
        """While inside, every call raises `error` (an outage, a garbled answer)."""
        self._outage = error
        try:
            yield
        finally:
            self._outage = None

    def _check_faults(self) -> None:
        if self._outage is not None:
            raise self._outage
        if self._faults:
            raise self._faults.pop(0)

    def _today(self) -> dt.date:
        return self.clock().astimezone(ISSUER_TZ).date()

    # -- idempotency -------------------------------------------------------------------------

    def _replayed(self, book: dict[str, Any], key: str, op: str, request: Any) -> Any | None:
        """The stored answer to a request seen before, or None; refuses a key reused elsewhere."""
        check_idempotency_key(key)
        seen = book["requests"].get(key)
        if seen is None:
            return None
        if seen["op"] != op or seen["fingerprint"] != _fingerprint(request):
            raise IdempotencyConflict(f"idempotency key {key} was already used for a different request")
        if seen.get("outcome") is None:
            return Pending(key, issuer_reference=seen.get("reference"))
        return codec.from_json(seen["outcome"])

    def _remember(self, book: dict[str, Any], key: str, op: str, request: Any, outcome: Any) -> Any:
        book["requests"][key] = {
            "op": op,
            "fingerprint": _fingerprint(request),
            "request": codec.to_json(request),
            "outcome": None if isinstance(outcome, Pending) else codec.to_json(outcome),
            "reference": outcome.issuer_reference if isinstance(outcome, Pending) else None,
            "decided_at": None if isinstance(outcome, Pending) else self.clock().isoformat(),
        }
        return outcome

    # -- IssuerAdapter -----------------------------------------------------------------------

    def apply(self, *, application: UndertakingApplication) -> IssuanceOutcome:
        self._check_faults()
        with self.book.transaction() as book:
            seen = self._replayed(book, application.idempotency_key, "apply", application)
            if seen is not None:
                return seen
            outcome = self._underwrite(book, application, reviewed=False)
            return self._remember(book, application.idempotency_key, "apply", application, outcome)

    def _exposure(self, book: dict[str, Any], applicant: str, currency: str) -> Decimal:
        today = self._today()
        return sum(
            (
                Decimal(u["amount"]["amount"])
                for u in book["undertakings"].values()
                if u["applicant"]["identification"] == applicant
                and u["amount"]["currency"] == currency
                and u["status"] in ("issued", "amended")
                and dt.date.fromisoformat(u["expiry_date"]) >= today
            ),
            Decimal(0),
        )

    def _underwrite(
        self, book: dict[str, Any], application: UndertakingApplication, *, reviewed: bool
    ) -> IssuanceOutcome:
        rules = self.underwriting
        key = application.idempotency_key
        amount = application.undertaking_amount
        applicant = application.applicant
        today = self._today()
        if applicant.identification in rules.refused_applicants:
            return Declined(
                key, f"{self.party.name} does not issue guarantees for {applicant.name}", "refused_applicant"
            )
        grade = rules.grade(applicant)
        if grade in rules.decline_grades:
            return Declined(
                key, f"the applicant's grade {grade} is below what {self.party.name} accepts", "grade"
            )
        if rules.max_undertaking_amount is not None and amount.amount > rules.max_undertaking_amount:
            return Declined(
                key,
                f"{amount} is over the limit of {rules.max_undertaking_amount:,.2f} "
                f"{amount.currency} per guarantee",
                "over_limit",
            )
        if rules.max_exposure_per_applicant is not None:
            exposure = self._exposure(book, applicant.identification, amount.currency)
            if exposure + amount.amount > rules.max_exposure_per_applicant:
                return Declined(
                    key,
                    f"{applicant.name} already holds {exposure:,.2f} {amount.currency} of "
                    f"guarantees; the limit is {rules.max_exposure_per_applicant:,.2f}",
                    "exposure_limit",
                )
        if application.expiry_date <= today:
            return Declined(key, f"the expiry date {application.expiry_date} is not after today", "expiry")
        if (application.expiry_date - today).days > rules.max_validity_days:
            return Declined(key, f"validity longer than {rules.max_validity_days} days", "validity_too_long")
        if application.governing_rules != "URDG 758":
            return Declined(key, "only undertakings subject to URDG 758 are issued", "rules")
        review = rules.manual_review_above
        if not reviewed and (self.manual or (review is not None and amount.amount > review)):
            book["sequence"] += 1
            return Pending(key, issuer_reference=f"{self.number_prefix}-REV-{book['sequence']:06d}")
        book["sequence"] += 1
        number = f"{self.number_prefix}{today:%Y}{book['sequence']:06d}"
        letter = self._letter(number, application, today, amendment=None)
        sha = hashlib.sha256(letter).hexdigest()
        issued = IssuedUndertaking(
            idempotency_key=key,
            undertaking_identification=number,
            issuer=self.party,
            applicant=applicant,
            beneficiary=application.beneficiary,
            undertaking_amount=amount,
            issue_date=today,
            expiry_date=application.expiry_date,
            governing_rules=application.governing_rules,
            letter_pdf=letter,
            letter_sha256=sha,
            premium=rules.premium(applicant, amount),
        )
        book["undertakings"][number] = {
            "applicant": applicant.to_json(),
            "beneficiary": application.beneficiary.to_json(),
            "amount": _money_json(amount),
            "issue_date": today.isoformat(),
            "expiry_date": application.expiry_date.isoformat(),
            "status": IN_FORCE,
            "letters": [sha],
            "amendments": 0,
            "demanded": False,
            "tender_reference": application.tender_reference,
            "instrument": application.instrument,
        }
        return issued

    def _letter(
        self,
        number: str,
        application: UndertakingApplication,
        today: dt.date,
        *,
        amendment: tuple[int, Money, dt.date] | None,
    ) -> bytes:
        from signing.pdf import render_document

        amount = application.undertaking_amount if amendment is None else amendment[1]
        expiry = application.expiry_date if amendment is None else amendment[2]
        kind = "投标保函" if application.instrument == "bank_guarantee" else "投标保证保险保单"
        title = f"{kind} {number}" + (f" 修改第{amendment[0]}号" if amendment else "")
        paragraphs = [
            f"致受益人：{application.beneficiary.name}（{application.beneficiary.identification}）",
            f"鉴于申请人 {application.applicant.name}（{application.applicant.identification}）参加项目 "
            f"{application.tender_reference} 的投标，应申请人要求，"
            f"我方 {self.party.name} 在此不可撤销地承诺："
            f"在收到受益人书面索赔及声明申请人在投标有效期内撤回投标、或中标后拒绝签订合同的情况下，"
            f"向受益人支付不超过 {amount} 的款项。",
            f"本保函自 {today.isoformat()} 起生效，至 {expiry.isoformat()} 失效；索赔须在失效日前送达我方。",
            "本保函适用国际商会《见索即付保函统一规则》（URDG 758）。",
            f"Bid guarantee no. {number}: {self.party.name} irrevocably undertakes to pay the beneficiary "
            f"any sum up to {amount} upon its complying demand stating that the applicant withdrew its bid "
            f"within the bid validity or, as the successful bidder, refused to sign the contract. "
            f"Expiry: {expiry.isoformat()}. Subject to URDG 758.",
        ]
        table = [
            ["项目 Field", "内容 Value"],
            ["保函编号 Undertaking number", number],
            ["申请人 Applicant", application.applicant.name],
            ["受益人 Beneficiary", application.beneficiary.name],
            ["担保金额 Amount", str(amount)],
            ["开立日 Issue date", today.isoformat()],
            ["失效日 Expiry date", expiry.isoformat()],
            ["适用规则 Governing rules", application.governing_rules],
        ]
        pdf = render_document(title, paragraphs, table, lang="zh_CN")
        return self.seal.sign(pdf, reason=f"Issued undertaking {number} under URDG 758")

    def _undertaking(self, book: dict[str, Any], number: str) -> dict[str, Any]:
        record = book["undertakings"].get(number)
        if record is None:
            raise UnknownUndertaking(f"{self.party.name} issued no undertaking {number}")
        expiry = dt.date.fromisoformat(record["expiry_date"])
        if record["status"] in ("issued", "amended") and expiry < self._today():
            record["status"] = "expired"
        return record

    def amend(self, *, amendment: AmendmentRequest) -> AmendmentOutcome:
        self._check_faults()
        with self.book.transaction() as book:
            seen = self._replayed(book, amendment.idempotency_key, "amend", amendment)
            if seen is not None:
                return seen
            record = self._undertaking(book, amendment.undertaking_identification)
            key = amendment.idempotency_key
            outcome: AmendmentOutcome
            amount = amendment.new_undertaking_amount or _money(record["amount"])
            expiry = amendment.new_expiry_date or dt.date.fromisoformat(record["expiry_date"])
            rules = self.underwriting
            if record["status"] not in ("issued", "amended"):
                outcome = Declined(
                    key,
                    f"undertaking {amendment.undertaking_identification} is {record['status']}, not in force",
                    "not_in_force",
                )
            elif amount.currency != record["amount"]["currency"]:
                outcome = Declined(key, "an amendment cannot change the currency", "currency")
            elif rules.max_undertaking_amount is not None and amount.amount > rules.max_undertaking_amount:
                outcome = Declined(key, f"{amount} is over the limit per guarantee", "over_limit")
            elif expiry <= self._today():
                outcome = Declined(key, f"the new expiry date {expiry} is not after today", "expiry")
            else:
                record["amendments"] += 1
                application = UndertakingApplication(
                    idempotency_key=key,
                    applicant=Party(**record["applicant"]),
                    beneficiary=Party(**record["beneficiary"]),
                    undertaking_amount=amount,
                    expiry_date=expiry,
                    tender_reference=record["tender_reference"],
                    instrument=record["instrument"],
                )
                letter = self._letter(
                    amendment.undertaking_identification,
                    application,
                    self._today(),
                    amendment=(record["amendments"], amount, expiry),
                )
                sha = hashlib.sha256(letter).hexdigest()
                record.update(amount=_money_json(amount), expiry_date=expiry.isoformat(), status="amended")
                record["letters"].append(sha)
                outcome = AmendedUndertaking(
                    key,
                    amendment.undertaking_identification,
                    record["amendments"],
                    amount,
                    expiry,
                    letter,
                    sha,
                )
            return self._remember(book, key, "amend", amendment, outcome)

    def demand(self, *, demand: DemandRequest) -> DemandOutcome:
        self._check_faults()
        with self.book.transaction() as book:
            seen = self._replayed(book, demand.idempotency_key, "demand", demand)
            if seen is not None:
                return seen
            number = demand.undertaking_identification
            record = self._undertaking(book, number)
            key = demand.idempotency_key
            outcome: DemandOutcome
            amount = _money(record["amount"])
            received = self.clock().astimezone(ISSUER_TZ).date()
            if record["demanded"] or record["status"] == "paid":
                outcome = DemandRejected(
                    key, number, f"undertaking {number} has already been demanded", "already_demanded"
                )
            elif record["status"] == "released":
                outcome = DemandRejected(key, number, f"undertaking {number} was released", "released")
            elif record["status"] == "expired" or received > dt.date.fromisoformat(record["expiry_date"]):
                outcome = DemandRejected(
                    key,
                    number,
                    f"the demand arrived on {received}, after the expiry date {record['expiry_date']}",
                    "expired",
                )
            elif demand.beneficiary.identification != record["beneficiary"]["identification"]:
                outcome = DemandRejected(
                    key, number, "the demand is not made by the beneficiary", "not_complying"
                )
            elif (
                demand.demand_amount.currency != amount.currency
                or demand.demand_amount.amount > amount.amount
            ):
                outcome = DemandRejected(
                    key,
                    number,
                    f"{demand.demand_amount} exceeds the undertaking amount {amount}",
                    "not_complying",
                )
            elif self.manual:  # a complying presentation: the staff examine it (URDG 758 art. 20)
                record["demanded"] = True
                book["sequence"] += 1
                outcome = Pending(key, issuer_reference=f"{self.number_prefix}-EXM-{book['sequence']:06d}")
            else:
                record["demanded"] = True
                record["status"] = "paid"
                book["sequence"] += 1
                outcome = DemandPaid(
                    key,
                    number,
                    demand.demand_amount,
                    self.clock(),
                    f"{self.number_prefix}-PAY-{book['sequence']:06d}",
                )
            return self._remember(book, key, "demand", demand, outcome)

    def release(self, *, release: ReleaseRequest) -> ReleaseOutcome:
        self._check_faults()
        with self.book.transaction() as book:
            seen = self._replayed(book, release.idempotency_key, "release", release)
            if seen is not None:
                return seen
            number = release.undertaking_identification
            record = self._undertaking(book, number)
            amount = _money(record["amount"])
            if release.reduction_amount is not None and record["status"] in ("issued", "amended"):
                if release.reduction_amount.currency != amount.currency:
                    raise IssuerProtocolError("a reduction is in the undertaking's currency")
                remaining = Money(
                    max(amount.amount - release.reduction_amount.amount, Decimal(0)), amount.currency
                )
                record["amount"] = _money_json(remaining)
                if remaining.amount == 0:
                    record["status"] = "released"
            else:
                if record["status"] in ("issued", "amended", "expired"):
                    record["status"] = "released"
                remaining = Money(Decimal("0.00"), amount.currency)
            outcome = Released(release.idempotency_key, number, remaining, self._today())
            return self._remember(book, release.idempotency_key, "release", release, outcome)

    def verify(self, *, undertaking_identification: str, letter_sha256: str) -> VerificationAnswer:
        self._check_faults()
        with self.book.transaction() as book:
            record = book["undertakings"].get(undertaking_identification)
            number = undertaking_identification
            if record is None:
                return VerificationAnswer(number, False, f"{self.party.name} issued no undertaking {number}")
            record = self._undertaking(book, undertaking_identification)
            letters = record["letters"]
            details = dict(
                issuer_status=record["status"],
                undertaking_amount=_money(record["amount"]),
                expiry_date=dt.date.fromisoformat(record["expiry_date"]),
                beneficiary=Party(**record["beneficiary"]),
                letter_sha256=letters[-1],
            )
            if letter_sha256 not in letters:
                return VerificationAnswer(
                    undertaking_identification,
                    False,
                    f"{self.party.name} issued undertaking {number}, "
                    "but not this letter: the document differs from the one issued",
                    **details,
                )
            note = "" if letter_sha256 == letters[-1] else f" (superseded by amendment {len(letters) - 1})"
            return VerificationAnswer(
                number, True, f"issued by {self.party.name}; status {record['status']}{note}", **details
            )

    def poll(self, *, idempotency_keys: Sequence[str]) -> list[IssuerEvent]:
        self._check_faults()
        events = []
        with self.book.transaction() as book:
            for key in idempotency_keys:
                seen = book["requests"].get(key)
                if seen is not None and seen.get("outcome") is not None:
                    decided = seen.get("decided_at")
                    occurred = dt.datetime.fromisoformat(decided) if decided else None
                    events.append(IssuerEvent(key, codec.from_json(seen["outcome"]), occurred, f"poll:{key}"))
        return events

    def review_pending(self, *, approve: bool = True, reason: str = "declined after manual review") -> int:
        """Decide every application waiting for manual review (what the issuer's staff would do)."""
        decided = 0
        with self.book.transaction() as book:
            for key, seen in book["requests"].items():
                if seen["op"] != "apply" or seen.get("outcome") is not None:
                    continue
                application = codec.from_json(seen["request"], UndertakingApplication)
                outcome = (
                    self._underwrite(book, application, reviewed=True)
                    if approve
                    else Declined(key, reason, "review")
                )
                seen["outcome"] = codec.to_json(outcome)
                seen["decided_at"] = self.clock().isoformat()
                decided += 1
        return decided

    # -- the issuer's staff, one request at a time (manual mode; the issuer desk calls these) ---------

    def _waiting(self, book: dict[str, Any], key: str, op: str) -> dict[str, Any]:
        seen = book["requests"].get(key)
        if seen is None or seen["op"] != op:
            raise IssuerRequestRefused(f"{self.party.name} holds no {op} request {key}")
        if seen.get("outcome") is not None:
            decided = codec.from_json(seen["outcome"])
            raise IssuerRequestRefused(
                f"request {key} was already decided ({type(decided).__name__}) on {seen.get('decided_at')}"
            )
        return seen

    def applicant_grade(self, identification: str) -> str:
        """The grade the issuer's own rules give an applicant (what its underwriters see)."""
        return (self.underwriting.applicant_grades or {}).get(identification, self.underwriting.default_grade)

    def information_requests(self, key: str) -> list[dict[str, str]]:
        """The notes in which the staff asked the applicant for more about application `key`."""
        with self.book.transaction() as book:
            seen = book["requests"].get(key) or {}
            return list(seen.get("information_requests") or [])

    def request_information(self, key: str, *, note: str) -> None:
        """The staff ask the applicant for more before deciding; the application stays with them."""
        with self.book.transaction() as book:
            seen = self._waiting(book, key, "apply")
            seen.setdefault("information_requests", []).append({"note": note, "at": self.clock().isoformat()})

    def decide_application(self, key: str, *, approve: bool, reason: str = "") -> IssuanceOutcome:
        """The staff issue (the issuer's rules still apply, as a second pair of eyes) or decline."""
        with self.book.transaction() as book:
            seen = self._waiting(book, key, "apply")
            application = codec.from_json(seen["request"], UndertakingApplication)
            outcome = (
                self._underwrite(book, application, reviewed=True)
                if approve
                else Declined(key, reason or "declined after manual review", "review")
            )
            seen["outcome"] = codec.to_json(outcome)
            seen["decided_at"] = self.clock().isoformat()
            return outcome

    def decide_demand(self, key: str, *, pay: bool, reason: str = "") -> DemandOutcome:
        """The staff pay a demand or refuse it as non-complying, with the reasons (URDG 758 art. 24)."""
        with self.book.transaction() as book:
            seen = self._waiting(book, key, "demand")
            demand = codec.from_json(seen["request"], DemandRequest)
            number = demand.undertaking_identification
            record = self._undertaking(book, number)
            outcome: DemandOutcome
            if pay:
                record["status"] = "paid"
                book["sequence"] += 1
                outcome = DemandPaid(
                    key, number, demand.demand_amount, self.clock(),
                    f"{self.number_prefix}-PAY-{book['sequence']:06d}",
                )
            else:
                outcome = DemandRejected(key, number, reason or "the demand does not comply", "not_complying")
            seen["outcome"] = codec.to_json(outcome)
            seen["decided_at"] = self.clock().isoformat()
            return outcome

    # -- DepositAccountAdapter ----------------------------------------------------------------

    def credit(
        self,
        *,
        virtual_account: str,
        amount: Money,
        payer_name: str = "",
        payer_account: str = "",
        value_date: dt.date | None = None,
    ) -> CashReceipt:
        """A transfer into a virtual account arrives (what the bidder's own bank would cause)."""
        with self.book.transaction() as book:
            book["sequence"] += 1
            reference = f"{self.number_prefix}-CR-{book['sequence']:06d}"
            receipt = CashReceipt(
                virtual_account, amount, value_date or self._today(), reference, payer_name, payer_account
            )
            book["accounts"].setdefault(virtual_account, []).append(codec.to_json(receipt))
            return receipt

    def receipts(self, *, virtual_account: str) -> list[CashReceipt]:
        self._check_faults()
        with self.book.transaction() as book:
            return [codec.from_json(r, CashReceipt) for r in book["accounts"].get(virtual_account, [])]

    def refund(self, *, instruction: RefundInstruction) -> RefundDone:
        self._check_faults()
        check_idempotency_key(instruction.idempotency_key)
        with self.book.transaction() as book:
            done = book["refunds"].get(instruction.idempotency_key)
            if done is not None:
                return codec.from_json(done, RefundDone)
            book["sequence"] += 1
            reference = f"{self.number_prefix}-RF-{book['sequence']:06d}"
            result = RefundDone(instruction.idempotency_key, reference, self._today())
            book["refunds"][instruction.idempotency_key] = codec.to_json(result)
            return result

    def trust_roots(self) -> list[x509.Certificate]:
        """The certificates a letter's signature must chain to (the issuer publishes its root)."""
        return [self.seal.trust_root]
