"""The `swift` adapter: an issuer reached by SWIFT MT messages exchanged through a configured directory.

The platform writes its requests to `outbox/` and reads the issuer's messages from `inbox/`, one FIN
message per `.fin` file (swift_mt.py renders and parses them); the folder stands in for the bank's
SWIFT interface (Alliance Access or a service bureau exchanging files). Every write is atomic (a
hidden temporary file, fsync, rename), so a reader never sees half a message.

The bilateral profile, both directions in this one module so the two sides cannot disagree (the
reference issuer's SWIFT desk, guarantees/issuer_service/swift_desk.py, uses the issuer's half):

    application    MT760 (request form: :20: our reference)   -> MT760 issued (:23: our reference,
                                                                  the letter as a FileAct PDF named in
                                                                  :23X:) or MT799 /DECLINED/
    amendment      MT767 (:21: the undertaking)                -> MT767 amended (:21: our reference)
                                                                  or MT799 /DECLINED/
    demand         MT765                                       -> MT799 /PAID/ or /REJECTED/
    release        MT769 (:33B: reduction, or :39C: in full)   -> MT799 /RELEASED/
    any request the issuer cannot take                         -> MT799 /REFUSED/<code>

Our transaction reference (TRN, field 20, 16 characters) is derived from the idempotency key
(`EB` and 14 base32 characters of its SHA-256), so a request sent twice carries the same TRN and the
issuer answers it once. Every answer is read at most once: a file is moved to `processed/` only once
its message is in the exchange log (at the next poll, after the caller's commit), so an answer read
in a transaction that was then rolled back is read again; a file that cannot be read goes to
`quarantine/` with a `.reason.txt` beside it, and the poll that found it raises `IssuerProtocolError`.

Verification asks no one: SWIFT authenticates its messages, so an undertaking is genuine when it
(and a letter with that hash) came from the issuer over this channel. The shared folder is only as
trustworthy as its permissions; docs/guarantees.md says so.

Settings: `directory` (with outbox/, inbox/, processed/, quarantine/ made beneath it; or each of
`outbox`, `inbox`, `processed`, `quarantine` given), `platform_bic` (the sender), `issuer_bic` (the
receiver and field 52A), `resend_after_seconds` (a request unanswered this long is written again,
with the same TRN; default 900).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.money import Money
from guarantees.adapters import codec
from guarantees.adapters.interface import (
    URDG_758,
    AdapterConfigurationError,
    AmendedUndertaking,
    AmendmentOutcome,
    AmendmentRequest,
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
    Party,
    Pending,
    Released,
    ReleaseOutcome,
    ReleaseRequest,
    UndertakingApplication,
    UnknownUndertaking,
    VerificationAnswer,
)
from guarantees.adapters.models import (
    Channel,
    DatabaseExchangeLog,
    Direction,
    Exchange,
    ExchangeLog,
    ExchangeStatus,
    body_hash,
    summary,
)
from guarantees.adapters.swift_mt import (
    MTFormatError,
    MTMessage,
    amount,
    code_lines,
    date6,
    escape,
    parse,
    parse_amount,
    parse_date6,
    render,
    text_lines,
    wrap,
)

#: Field 40C codes for the governing rules.
RULES = {URDG_758: "URDG", "ISP98": "ISPR"}
RULES_BACK = {v: k for k, v in RULES.items()}
#: Instruments in the bilateral code of field 72Z.
INSTRUMENTS = {"bank_guarantee": "BANK", "guarantee_insurance": "INSU"}
INSTRUMENTS_BACK = {v: k for k, v in INSTRUMENTS.items()}
#: What each operation may be answered with.
ANSWERS: dict[str, tuple[type, ...]] = {
    "apply": (IssuedUndertaking, Declined),
    "amend": (AmendedUndertaking, Declined),
    "demand": (DemandPaid, DemandRejected),
    "release": (Released,),
}
#: Operations by the MT that carries them.
REQUEST_TYPES = {"760": "apply", "767": "amend", "765": "demand", "769": "release"}
REQUEST_TYPES_BACK = {v: k for k, v in REQUEST_TYPES.items()}
REFUSALS: dict[str, type[IssuerRequestRefused]] = {
    "unknown_undertaking": UnknownUndertaking,
    "idempotency_conflict": IdempotencyConflict,
}


def trn(idempotency_key: str) -> str:
    """A request's 16-character transaction reference: `EB` and 14 base32 characters of its key's hash."""
    return "EB" + base64.b32encode(hashlib.sha256(idempotency_key.encode()).digest()).decode()[:14]


def answer_reference(related: str) -> str:
    """The issuer's own reference for its answer to `related` (any 16x; derived so it is stable)."""
    return "R" + related[1:16]


def _party_code(party: Party) -> str:
    return f"{party.country}/{party.identification}"


def _party(name: str | None, code: str | None, where: str) -> Party:
    if not code or "/" not in code:
        raise MTFormatError(f"{where}: the party's /COUNTRY/identification code is missing")
    country, _, identification = code.partition("/")
    try:
        return Party(name=name or identification, identification=identification, country=country)
    except ValueError as exc:
        raise MTFormatError(f"{where}: {exc}") from exc


def _name_lines(name: str) -> list[str]:
    """A name in 4*35x; a longer one is cut (the identification in 72Z is what identifies the party)."""
    return wrap(escape(name), 35)[:4]


def _money(value: str | None, where: str) -> Money:
    if value is None:
        raise MTFormatError(f"{where} is missing")
    currency, number = parse_amount(value)
    try:
        return Money(number, currency)
    except ValueError as exc:
        raise MTFormatError(f"{where}: {exc}") from exc


def _fit_72z(pairs: list[tuple[str, str]]) -> list[str]:
    """Structured 72Z lines; the last pair (free text) is cut so the field keeps its 6 lines."""
    lines = code_lines(pairs)
    while len(lines) > 6 and pairs:
        code, text = pairs[-1]
        pairs = [*pairs[:-1], (code, text[:-10])] if len(text) > 10 else pairs[:-1]
        lines = code_lines(pairs)
    return lines


# -- the platform's requests (and how the issuer reads them) -------------------------------------------


def mt760_request(
    application: UndertakingApplication, *, reference: str, sender: str, receiver: str, today: dt.date
) -> MTMessage:
    """An application: MT760 whose :20: carries our reference (the SR 2021 usage for a request to issue)."""
    message = MTMessage("760", sender, receiver, mur=reference)
    message.add("15A", "").add("27", "1/1").add("22A", "ISSU")
    message.add(
        "72Z",
        code_lines(
            [
                ("APPL", _party_code(application.applicant)),
                ("BENE", _party_code(application.beneficiary)),
                ("INSTR", INSTRUMENTS[application.instrument]),
                ("PURP", application.purpose),
            ]
        ),
    )
    message.add("15B", "").add("20", reference).add("30", date6(today)).add(
        "22D", application.undertaking_type
    )
    message.add(
        "40C", RULES.get(application.governing_rules, "OTHR/" + escape(application.governing_rules)[:30])
    )
    message.add("23B", "FIXD").add("31E", date6(application.expiry_date))
    message.add("50", _name_lines(application.applicant.name)).add("52A", receiver)
    message.add("59", _name_lines(application.beneficiary.name))
    message.add("32B", amount(application.undertaking_amount.currency, application.undertaking_amount.amount))
    message.add("77U", text_lines(application.terms_and_conditions or "As per the applicant's request.", 65))
    message.add("44J", application.applicable_law[:2].upper())
    message.add("45L", text_lines(application.tender_reference, 65))
    return message


def read_mt760_request(message: MTMessage) -> UndertakingApplication:
    codes = message.codes()
    rules = message.require("40C")
    try:
        return UndertakingApplication(
            idempotency_key=message.require("20", "B"),
            applicant=_party(message.text("50"), codes.get("APPL"), "applicant"),
            beneficiary=_party(message.text("59"), codes.get("BENE"), "beneficiary"),
            undertaking_amount=_money(message.get("32B"), "32B"),
            expiry_date=parse_date6(message.require("31E")),
            tender_reference=message.text("45L") or "",
            instrument=INSTRUMENTS_BACK.get(codes.get("INSTR", "BANK"), "bank_guarantee"),
            governing_rules=RULES_BACK.get(rules, rules.partition("/")[2]),
            applicable_law=(message.get("44J") or "CN")[:2],
            undertaking_type=message.require("22D"),
            purpose=codes.get("PURP", "TEND"),
            terms_and_conditions=message.text("77U") or "",
        )
    except ValueError as exc:
        raise MTFormatError(f"MT760: {exc}") from exc


def mt767_request(
    amendment: AmendmentRequest,
    *,
    reference: str,
    sender: str,
    receiver: str,
    sequence: int,
    current: Money,
    today: dt.date,
) -> MTMessage:
    """An amendment request: the change as an increase or decrease (32B/33B) and a new expiry (31E)."""
    message = MTMessage("767", sender, receiver, mur=reference)
    message.add("15A", "").add("27", "1/1").add("20", reference)
    message.add("21", amendment.undertaking_identification).add("22A", "ISSU")
    message.add("15B", "").add("20", amendment.undertaking_identification).add("26E", str(sequence))
    message.add("30", date6(today)).add("52A", receiver)
    _amount_change(message, current, amendment.new_undertaking_amount)
    if amendment.new_expiry_date is not None:
        message.add("23B", "FIXD").add("31E", date6(amendment.new_expiry_date))
    if amendment.reason:
        message.add("77U", text_lines(amendment.reason, 65))
    return message


def _amount_change(message: MTMessage, current: Money, new: Money | None) -> None:
    if new is None or new.amount == current.amount:
        return
    if new.currency != current.currency:
        raise ValueError("an amendment cannot change the currency")
    delta = new.amount - current.amount
    message.add("32B" if delta > 0 else "33B", amount(current.currency, abs(delta)))


def _changed_amount(message: MTMessage, current: Money) -> Money | None:
    up, down = message.get("32B", "B"), message.get("33B", "B")
    if up is None and down is None:
        return None
    value = current.amount
    if up is not None:
        value += _money(up, "32B").amount
    if down is not None:
        value -= _money(down, "33B").amount
    if value <= 0:
        raise MTFormatError("the amendment leaves no positive amount")
    return Money(value, current.currency)


def read_mt767_request(message: MTMessage, current: Money) -> AmendmentRequest:
    expiry = message.get("31E", "B")
    try:
        return AmendmentRequest(
            idempotency_key=message.require("20", "A"),
            undertaking_identification=message.require("21"),
            new_undertaking_amount=_changed_amount(message, current),
            new_expiry_date=parse_date6(expiry) if expiry else None,
            reason=message.text("77U") or "",
        )
    except ValueError as exc:
        raise MTFormatError(f"MT767: {exc}") from exc


def mt765_request(demand: DemandRequest, *, reference: str, sender: str, receiver: str) -> MTMessage:
    """A demand (pay only, 22G PAYM), with the beneficiary's statement in 49A."""
    message = MTMessage("765", sender, receiver, mur=reference)
    message.add("27", "1/1").add("20", reference).add("21", demand.undertaking_identification)
    message.add("22G", "PAYM").add("52A", receiver).add("59", _name_lines(demand.beneficiary.name))
    message.add("32B", amount(demand.demand_amount.currency, demand.demand_amount.amount))
    message.add("49A", text_lines(demand.statement, 65)[:50])
    message.add(
        "72Z",
        code_lines(
            [
                ("BENE", _party_code(demand.beneficiary)),
                ("REASON", demand.reason),
                ("DEMANDAT", demand.demanded_at.astimezone(dt.UTC).isoformat()),
            ]
        ),
    )
    return message


def read_mt765_request(message: MTMessage) -> DemandRequest:
    codes = message.codes()
    try:
        demanded = dt.datetime.fromisoformat(codes.get("DEMANDAT", ""))
        return DemandRequest(
            idempotency_key=message.require("20"),
            undertaking_identification=message.require("21"),
            beneficiary=_party(message.text("59"), codes.get("BENE"), "beneficiary"),
            demand_amount=_money(message.get("32B"), "32B"),
            reason=codes.get("REASON", "other_breach"),
            statement=message.text("49A") or "",
            demanded_at=demanded,
        )
    except ValueError as exc:
        raise MTFormatError(f"MT765: {exc}") from exc


def mt769_request(
    release: ReleaseRequest, *, reference: str, sender: str, receiver: str, today: dt.date
) -> MTMessage:
    """A release in full (39C) or a reduction by an amount (33B), with the reason in 72Z."""
    message = MTMessage("769", sender, receiver, mur=reference)
    message.add("20", reference).add("21", release.undertaking_identification).add("52A", receiver)
    message.add("30", date6(today))
    if release.reduction_amount is not None:
        message.add("33B", amount(release.reduction_amount.currency, release.reduction_amount.amount))
    else:
        message.add("39C", "RELEASED IN FULL")
    message.add("72Z", _fit_72z([("REASON", release.reason)]))
    return message


def read_mt769_request(message: MTMessage) -> ReleaseRequest:
    reduction = message.get("33B")
    try:
        return ReleaseRequest(
            idempotency_key=message.require("20"),
            undertaking_identification=message.require("21"),
            reason=message.codes().get("REASON", "released"),
            reduction_amount=_money(reduction, "33B") if reduction else None,
        )
    except ValueError as exc:
        raise MTFormatError(f"MT769: {exc}") from exc


def read_request(message: MTMessage, current: Callable[[str], Money | None]) -> tuple[str, Any]:
    """(operation, the interface request) of a platform's message; `current(number)` gives an amount."""
    operation = REQUEST_TYPES.get(message.mt)
    if operation is None:
        raise MTFormatError(f"MT{message.mt} is not a request")
    if operation == "apply":
        return operation, read_mt760_request(message)
    if operation == "amend":
        number = message.require("21")
        now = current(number)
        if now is None:
            raise UnknownUndertaking(f"no undertaking {number}")
        return operation, read_mt767_request(message, now)
    if operation == "demand":
        return operation, read_mt765_request(message)
    return operation, read_mt769_request(message)


# -- the issuer's answers (and how the platform reads them) ---------------------------------------------


def answer_message(
    outcome: Any,
    *,
    related: str,
    sender: str,
    receiver: str,
    letter_file: str | None = None,
    previous: Money | None = None,
    today: dt.date | None = None,
) -> MTMessage:
    """The issuer's answer to our request `related` (its TRN)."""
    mine = answer_reference(related)
    if isinstance(outcome, IssuedUndertaking):
        message = MTMessage("760", sender, receiver, mur=related)
        message.add("15A", "").add("27", "1/1").add("22A", "ISSU")
        pairs = [("APPL", _party_code(outcome.applicant)), ("BENE", _party_code(outcome.beneficiary))]
        if outcome.premium is not None:
            pairs.append(("PREMIUM", amount(outcome.premium.currency, outcome.premium.amount)))
        pairs.append(("ISSNAME", outcome.issuer.name))
        message.add("72Z", _fit_72z(pairs))
        message.add("23X", f"FACT/{letter_file}")
        message.add("15B", "").add("20", outcome.undertaking_identification).add(
            "30", date6(outcome.issue_date)
        )
        message.add("22D", "DGAR").add("40C", RULES.get(outcome.governing_rules, "OTHR"))
        message.add("23B", "FIXD").add("31E", date6(outcome.expiry_date))
        message.add("50", _name_lines(outcome.applicant.name)).add("52A", outcome.issuer.identification)
        message.add("59", _name_lines(outcome.beneficiary.name)).add("23", related)
        message.add("32B", amount(outcome.undertaking_amount.currency, outcome.undertaking_amount.amount))
        message.add(
            "77U",
            text_lines(
                f"Subject to {outcome.governing_rules}; the letter is the attached file {letter_file}.", 65
            ),
        )
        return message
    if isinstance(outcome, AmendedUndertaking):
        message = MTMessage("767", sender, receiver, mur=related)
        message.add("15A", "").add("27", "1/1").add("20", mine).add("21", related).add("22A", "ISSU")
        # The new amount in full too (bilateral): 32B/33B say the change only to one who knows the old one.
        message.add(
            "72Z",
            code_lines(
                [("NEWAMT", amount(outcome.undertaking_amount.currency, outcome.undertaking_amount.amount))]
            ),
        )
        message.add("23X", f"FACT/{letter_file}")
        message.add("15B", "").add("20", outcome.undertaking_identification)
        message.add("26E", str(outcome.amendment_sequence))
        message.add("30", date6(today or dt.datetime.now(dt.UTC).date()))
        message.add("52A", sender)
        if previous is not None:
            _amount_change(message, previous, outcome.undertaking_amount)
        message.add("23B", "FIXD").add("31E", date6(outcome.expiry_date))
        return message
    if isinstance(outcome, Declined):
        pairs = [("DECLINED", outcome.code), ("TEXT", outcome.reason)]
    elif isinstance(outcome, DemandPaid):
        pairs = [
            ("PAID", outcome.payment_reference),
            ("AMOUNT", amount(outcome.paid_amount.currency, outcome.paid_amount.amount)),
            ("PAIDAT", outcome.paid_at.astimezone(dt.UTC).isoformat()),
        ]
    elif isinstance(outcome, DemandRejected):
        pairs = [("REJECTED", outcome.code), ("TEXT", outcome.reason)]
    elif isinstance(outcome, Released):
        pairs = [
            ("RELEASED", ""),
            ("REMAINING", amount(outcome.remaining_amount.currency, outcome.remaining_amount.amount)),
            ("EFFECTIVE", outcome.effective_date.isoformat()),
        ]
    else:
        raise TypeError(f"no MT for a {type(outcome).__name__}")
    return _mt799(pairs, mine=mine, related=related, sender=sender, receiver=receiver)


def refusal_message(code: str, text: str, *, related: str, sender: str, receiver: str) -> MTMessage:
    """MT799 /REFUSED/: the issuer cannot take the request at all (unknown undertaking, conflict...)."""
    return _mt799(
        [("REFUSED", code), ("TEXT", text)],
        mine=answer_reference(related),
        related=related,
        sender=sender,
        receiver=receiver,
    )


def _mt799(pairs: list[tuple[str, str]], *, mine: str, related: str, sender: str, receiver: str) -> MTMessage:
    message = MTMessage("799", sender, receiver, mur=related)
    lines = code_lines(pairs, width=50)[:35]
    return message.add("20", mine).add("21", related).add("79", lines)


def related_reference(message: MTMessage) -> str:
    """Which of our requests an issuer's message answers."""
    if message.mt == "760":
        return message.require("23")
    if message.mt in ("767", "799"):
        return message.require("21")
    raise MTFormatError(f"MT{message.mt} is not an answer to the platform")


@dataclass(frozen=True)
class Refusal:
    """The issuer refused the request itself (MT799 /REFUSED/)."""

    code: str
    text: str


def read_answer(
    message: MTMessage,
    *,
    key: str,
    operation: str,
    number: str | None,
    previous: Money | None,
    letter: bytes | None,
) -> Any:
    """The outcome (or `Refusal`) an issuer's message gives for our request `key`."""
    try:
        outcome = _read_answer(message, key=key, number=number, previous=previous, letter=letter)
    except ValueError as exc:
        raise MTFormatError(f"MT{message.mt}: {exc}") from exc
    if not isinstance(outcome, Refusal) and not isinstance(outcome, ANSWERS[operation]):
        raise MTFormatError(f"MT{message.mt} ({type(outcome).__name__}) does not answer a {operation}")
    return outcome


def _read_answer(
    message: MTMessage, *, key: str, number: str | None, previous: Money | None, letter: bytes | None
) -> Any:
    if message.mt == "760":
        codes = message.codes()
        if letter is None:
            raise MTFormatError("the letter named in 23X is missing")
        rules = message.require("40C")
        issuer_bic = message.require("52A")
        return IssuedUndertaking(
            idempotency_key=key,
            undertaking_identification=message.require("20", "B"),
            issuer=Party(codes.get("ISSNAME") or issuer_bic, issuer_bic, issuer_bic[4:6]),
            applicant=_party(message.text("50"), codes.get("APPL"), "applicant"),
            beneficiary=_party(message.text("59"), codes.get("BENE"), "beneficiary"),
            undertaking_amount=_money(message.get("32B"), "32B"),
            issue_date=parse_date6(message.require("30")),
            expiry_date=parse_date6(message.require("31E")),
            governing_rules=RULES_BACK.get(rules, rules),
            letter_pdf=letter,
            letter_sha256=hashlib.sha256(letter).hexdigest(),
            premium=_money(codes["PREMIUM"], "/PREMIUM/") if "PREMIUM" in codes else None,
        )
    if message.mt == "767":
        if letter is None:
            raise MTFormatError("the letter named in 23X is missing")
        if previous is None:
            raise MTFormatError("an amendment of an undertaking the platform never received")
        stated = message.codes().get("NEWAMT")
        new_amount = _money(stated, "/NEWAMT/") if stated else _changed_amount(message, previous) or previous
        return AmendedUndertaking(
            idempotency_key=key,
            undertaking_identification=message.require("20", "B"),
            amendment_sequence=int(message.require("26E")),
            undertaking_amount=new_amount,
            expiry_date=parse_date6(message.require("31E", "B")),
            letter_pdf=letter,
            letter_sha256=hashlib.sha256(letter).hexdigest(),
        )
    codes = message.codes("79")
    if "REFUSED" in codes:
        return Refusal(codes["REFUSED"], codes.get("TEXT", ""))
    if "DECLINED" in codes:
        return Declined(key, codes.get("TEXT") or "declined", codes["DECLINED"] or "declined")
    if number is None:
        raise MTFormatError("an answer about an undertaking to a request that named none")
    if "PAID" in codes:
        return DemandPaid(
            key,
            number,
            _money(codes.get("AMOUNT"), "/AMOUNT/"),
            dt.datetime.fromisoformat(codes["PAIDAT"]),
            codes["PAID"],
        )
    if "REJECTED" in codes:
        return DemandRejected(
            key, number, codes.get("TEXT") or "rejected", codes["REJECTED"] or "not_complying"
        )
    if "RELEASED" in codes:
        return Released(
            key,
            number,
            _money(codes.get("REMAINING"), "/REMAINING/"),
            dt.date.fromisoformat(codes["EFFECTIVE"]),
        )
    raise MTFormatError("MT799 carries none of /DECLINED/, /PAID/, /REJECTED/, /RELEASED/, /REFUSED/")


# -- files -----------------------------------------------------------------------------------------


def write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """Write `folder/name` so that no reader ever sees it half-written: temporary file, fsync, rename."""
    final = folder / name
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return final
    try:
        os.fsync(fd)  # the rename itself survives a crash
    finally:
        os.close(fd)
    return final


def file_name(mt: str, reference: str, now: dt.datetime) -> str:
    """`<UTC time>-MT<type>-<reference>.fin`: names sort in the order messages were written."""
    return f"{now.astimezone(dt.UTC):%Y%m%dT%H%M%S%f}-MT{mt}-{reference}.fin"


def quarantine(path: Path, folder: Path, reason: str) -> Path:
    """Move an unreadable message (and its letter, if any) aside with the reason in a file beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    os.replace(path, target)
    letter = path.with_suffix(".pdf")
    if letter.exists():
        os.replace(letter, folder / letter.name)
    write_atomic(folder, path.name + ".reason.txt", (reason.strip() + "\n").encode())
    return target


def move_done(path: Path, folder: Path) -> None:
    """Move a message taken (and its letter) to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(path, folder / path.name)
    letter = path.with_suffix(".pdf")
    if letter.exists():
        os.replace(letter, folder / letter.name)


def _fingerprint(request: Any) -> str:
    data = json.dumps(codec.to_json(request), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "request:" + hashlib.sha256(data.encode()).hexdigest()


# -- the adapter ----------------------------------------------------------------------------------------


class SwiftIssuer:
    """An issuer reached through MT files in a directory, implementing `IssuerAdapter`."""

    def __init__(
        self,
        *,
        issuer_code: str,
        outbox: Path,
        inbox: Path,
        processed: Path,
        quarantine: Path,
        platform_bic: str,
        issuer_bic: str,
        exchange_log: ExchangeLog | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        resend_after: dt.timedelta = dt.timedelta(minutes=15),
    ) -> None:
        for name, bic in (("platform_bic", platform_bic), ("issuer_bic", issuer_bic)):
            if not re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", bic or ""):
                raise AdapterConfigurationError(f"the swift adapter's {name} is not a BIC: {bic!r}")
        self.issuer_code = issuer_code
        self.outbox, self.inbox, self.processed, self.quarantine = outbox, inbox, processed, quarantine
        self.platform_bic = platform_bic if len(platform_bic) == 11 else platform_bic + "XXX"
        self.issuer_bic = issuer_bic if len(issuer_bic) == 11 else issuer_bic + "XXX"
        self.log = exchange_log if exchange_log is not None else DatabaseExchangeLog()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        #: A request still unanswered after this is written again (same TRN: the issuer answers it again).
        self.resend_after = resend_after

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> SwiftIssuer:
        code = settings.get("issuer_code")
        if not code:
            raise AdapterConfigurationError("the swift adapter needs its issuer_code (platform-provided)")
        root = settings.get("directory")
        folders = {}
        for name in ("outbox", "inbox", "processed", "quarantine"):
            value = settings.get(name) or (Path(root) / name if root else None)
            if value is None:
                raise AdapterConfigurationError(
                    f"issuer {code}: the swift adapter needs `directory` (or `{name}`)"
                )
            folders[name] = Path(value)
            try:
                folders[name].mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AdapterConfigurationError(f"issuer {code}: cannot use {folders[name]}: {exc}") from exc
        try:
            resend = dt.timedelta(seconds=float(settings.get("resend_after_seconds", 900)))
        except (TypeError, ValueError) as exc:
            raise AdapterConfigurationError(f"issuer {code}: resend_after_seconds is not a number") from exc
        return cls(
            issuer_code=code,
            platform_bic=str(settings.get("platform_bic") or ""),
            issuer_bic=str(settings.get("issuer_bic") or ""),
            exchange_log=settings.get("exchange_log"),
            clock=settings.get("clock"),
            resend_after=resend,
            **folders,
        )

    # -- IssuerAdapter ---------------------------------------------------------------------------

    def apply(self, *, application: UndertakingApplication) -> IssuanceOutcome:
        return self._send(
            "apply",
            application,
            None,
            lambda ref: mt760_request(
                application,
                reference=ref,
                sender=self.platform_bic,
                receiver=self.issuer_bic,
                today=self._today(),
            ),
        )

    def amend(self, *, amendment: AmendmentRequest) -> AmendmentOutcome:
        number = amendment.undertaking_identification
        state = self._known(number)
        return self._send(
            "amend",
            amendment,
            number,
            lambda ref: mt767_request(
                amendment,
                reference=ref,
                sender=self.platform_bic,
                receiver=self.issuer_bic,
                sequence=state.amendments + 1,
                current=state.amount,
                today=self._today(),
            ),
        )

    def demand(self, *, demand: DemandRequest) -> DemandOutcome:
        self._known(demand.undertaking_identification)
        return self._send(
            "demand",
            demand,
            demand.undertaking_identification,
            lambda ref: mt765_request(
                demand, reference=ref, sender=self.platform_bic, receiver=self.issuer_bic
            ),
        )

    def release(self, *, release: ReleaseRequest) -> ReleaseOutcome:
        self._known(release.undertaking_identification)
        return self._send(
            "release",
            release,
            release.undertaking_identification,
            lambda ref: mt769_request(
                release,
                reference=ref,
                sender=self.platform_bic,
                receiver=self.issuer_bic,
                today=self._today(),
            ),
        )

    def verify(self, *, undertaking_identification: str, letter_sha256: str) -> VerificationAnswer:
        number = undertaking_identification
        state = self._state(number)
        if state is None:
            return VerificationAnswer(
                number, False, f"no undertaking {number} came from issuer {self.issuer_code} over SWIFT"
            )
        details = dict(
            issuer_status=state.status,
            undertaking_amount=state.amount,
            expiry_date=state.expiry,
            beneficiary=state.beneficiary,
            letter_sha256=state.letters[-1],
        )
        if letter_sha256 not in state.letters:
            return VerificationAnswer(
                number,
                False,
                f"undertaking {number} came from issuer {self.issuer_code} "
                "over SWIFT, but not with this letter",
                **details,
            )
        return VerificationAnswer(
            number,
            True,
            f"received from issuer {self.issuer_code} over SWIFT (MT760"
            f"{', amended by MT767' if state.amendments else ''}); "
            f"status {state.status}",
            **details,
        )

    def poll(self, *, idempotency_keys: Sequence[str]) -> list[IssuerEvent]:
        problems = self._read_inbox()
        events = []
        for key in dict.fromkeys(idempotency_keys):
            taken = self.log.answer(issuer=self.issuer_code, idempotency_key=key)
            if taken is not None:
                events.append(IssuerEvent(key, codec.from_json(taken.outcome), taken.at, taken.message_id))
                continue
            refused = self.log.received(issuer=self.issuer_code, idempotency_key=key)
            if refused is not None and refused.status == ExchangeStatus.REFUSED:
                code, _, text = (refused.detail or "refused: ").partition(": ")
                raise REFUSALS.get(code, IssuerRequestRefused)(
                    f"issuer {self.issuer_code} refused the request: {text}"
                )
        if problems:
            raise IssuerProtocolError(
                f"issuer {self.issuer_code} sent messages that cannot be read (moved to "
                f"{self.quarantine}): {'; '.join(problems)}"
            )
        return events

    # -- sending ---------------------------------------------------------------------------------

    def _today(self) -> dt.date:
        return self.clock().astimezone(dt.UTC).date()

    def _send(
        self, operation: str, request: Any, number: str | None, build: Callable[[str], MTMessage]
    ) -> Any:
        key = request.idempotency_key
        fingerprint = _fingerprint(request)
        sent = self.log.sent(issuer=self.issuer_code, idempotency_key=key)
        if sent is not None and (sent.detail or "").split(" ")[0] != fingerprint:
            raise IdempotencyConflict(f"idempotency key {key} was already used for a different request")
        taken = self.log.answer(issuer=self.issuer_code, idempotency_key=key)
        if taken is not None:
            return codec.from_json(taken.outcome)
        reference = trn(key)
        if (
            sent is not None
            and sent.status == ExchangeStatus.SENT
            and self.clock() - sent.at < self.resend_after
        ):
            return Pending(key, issuer_reference=reference)  # written once; the issuer answers it once
        try:
            message = build(reference)
            text = render(message)
        except (MTFormatError, ValueError) as exc:
            raise IssuerRequestRefused(
                f"the {operation} cannot be written as MT{REQUEST_TYPES_BACK[operation]}: {exc}"
            ) from exc
        name = file_name(message.mt, reference, self.clock())
        try:
            if not self.outbox.is_dir():
                raise FileNotFoundError(f"the outbox {self.outbox} is not there")
            write_atomic(self.outbox, name, text.encode("ascii"))
        except OSError as exc:
            problem = f"cannot write to the SWIFT outbox: {exc}"
            self._record(
                f"MT{message.mt}",
                Direction.OUT,
                ExchangeStatus.UNAVAILABLE,
                key=key,
                message_id=reference,
                undertaking=number,
                detail=f"{fingerprint} {problem}"[:2000],
            )
            raise IssuerUnavailable(f"issuer {self.issuer_code}: {problem}") from exc
        self._record(
            f"MT{message.mt}",
            Direction.OUT,
            ExchangeStatus.SENT,
            key=key,
            message_id=reference,
            undertaking=number,
            detail=f"{fingerprint} {operation} {name}",
            body=text,
        )
        return Pending(key, issuer_reference=reference)

    # -- reading -------------------------------------------------------------------------------

    def _read_inbox(self) -> list[str]:
        """Take every message waiting in the inbox; the reasons for those quarantined."""
        problems: list[str] = []
        try:
            paths = sorted(p for p in self.inbox.glob("*.fin") if not p.name.startswith("."))
        except OSError as exc:
            raise IssuerUnavailable(f"issuer {self.issuer_code}: cannot read the SWIFT inbox: {exc}") from exc
        for path in paths:
            if self.log.by_message(issuer=self.issuer_code, message_id=path.name, direction=Direction.IN):
                move_done(path, self.processed)  # taken at an earlier poll, and committed since
                continue
            try:
                self._take(path)
            except (MTFormatError, UnicodeDecodeError, OSError) as exc:
                reason = f"{path.name}: {exc}"
                quarantine(path, self.quarantine, reason)
                self._record(
                    "MT", Direction.IN, ExchangeStatus.QUARANTINED, message_id=path.name, detail=reason[:2000]
                )
                problems.append(reason)
        return problems

    def _take(self, path: Path) -> None:
        text = path.read_bytes().decode("ascii")
        message = parse(text)
        related = related_reference(message)
        sent = self.log.by_message(issuer=self.issuer_code, message_id=related, direction=Direction.OUT)
        if sent is None or sent.idempotency_key is None:
            raise MTFormatError(f"it answers {related}, which is no request of this platform")
        key = sent.idempotency_key
        operation = REQUEST_TYPES.get(sent.kind.removeprefix("MT"), "")
        if operation not in ANSWERS:
            raise MTFormatError(f"it answers {related}, whose operation is not known")
        if self.log.answer(issuer=self.issuer_code, idempotency_key=key) is not None:
            self._record(
                f"MT{message.mt}",
                Direction.IN,
                ExchangeStatus.REJECTED,
                key=key,
                message_id=path.name,
                detail=f"a second answer to {related}: ignored",
                body=text,
            )
            return
        letter = None
        file_id = message.get("23X")
        if file_id is not None:
            letter_path = self.inbox / file_id.partition("/")[2]
            if letter_path.resolve().parent != self.inbox.resolve() or not letter_path.exists():
                raise MTFormatError(f"the letter {file_id} named in 23X is not in the inbox")
            letter = letter_path.read_bytes()
            if letter_path != path.with_suffix(".pdf"):
                raise MTFormatError("the letter must be named after its message (<message>.pdf)")
        number = sent.undertaking_identification
        state = self._state(number) if number else None
        outcome = read_answer(
            message,
            key=key,
            operation=operation,
            number=number,
            previous=state.amount if state else None,
            letter=letter,
        )
        if isinstance(outcome, Refusal):
            self._record(
                f"MT{message.mt}",
                Direction.IN,
                ExchangeStatus.REFUSED,
                key=key,
                message_id=path.name,
                undertaking=number,
                detail=f"{outcome.code}: {outcome.text}"[:2000],
                body=text,
            )
            return
        self._record(
            f"MT{message.mt}",
            Direction.IN,
            ExchangeStatus.ACCEPTED,
            key=key,
            message_id=path.name,
            undertaking=getattr(outcome, "undertaking_identification", None) or number,
            detail=json.dumps(summary(outcome), ensure_ascii=False),
            outcome=codec.to_json(outcome),
            body=text,
        )

    # -- what came over the channel ------------------------------------------------------------

    def _known(self, number: str) -> UndertakingState:
        state = self._state(number)
        if state is None:
            raise UnknownUndertaking(
                f"no undertaking {number} came from issuer {self.issuer_code} over SWIFT"
            )
        return state

    def _state(self, number: str) -> UndertakingState | None:
        """The undertaking as the issuer's messages left it, or None if none named it."""
        state: UndertakingState | None = None
        for entry in self.log.answers_for(issuer=self.issuer_code, undertaking=number):
            outcome = codec.from_json(entry.outcome)
            if isinstance(outcome, IssuedUndertaking):
                state = UndertakingState(
                    outcome.undertaking_amount,
                    outcome.expiry_date,
                    outcome.beneficiary,
                    [outcome.letter_sha256],
                    "issued",
                    0,
                )
            elif state is None:
                continue
            elif isinstance(outcome, AmendedUndertaking):
                state.amount, state.expiry, state.status = (
                    outcome.undertaking_amount,
                    outcome.expiry_date,
                    "amended",
                )
                state.letters.append(outcome.letter_sha256)
                state.amendments = outcome.amendment_sequence
            elif isinstance(outcome, DemandPaid):
                state.status = "paid"
            elif isinstance(outcome, Released):
                if outcome.remaining_amount.amount == 0:
                    state.status = "released"
                else:
                    state.amount = outcome.remaining_amount
        return state

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
        body: str | None = None,
    ) -> None:
        sha, size = body_hash(body)
        self.log.record(
            Exchange(
                self.issuer_code,
                Channel.SWIFT,
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


@dataclass
class UndertakingState:
    """What the platform knows of an undertaking from the issuer's messages."""

    amount: Money
    expiry: dt.date
    beneficiary: Party
    letters: list[str]
    status: str
    amendments: int
