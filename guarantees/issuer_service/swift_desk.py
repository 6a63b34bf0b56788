"""The reference issuer's SWIFT desk: it answers the platform's MT messages in a shared directory.

It reads the platform's `outbox/` (its own inbox), takes each request to the bank's books (the same
books and rules as the REST gateway; the TRN is the idempotency key on this side), and writes each
answer to the platform's `inbox/`: a letter PDF first (the FileAct file named in :23X:), then the MT
file, each written atomically. What it has read goes to `issuer-processed/`; what it cannot read to
`issuer-quarantine/` with the reason. Decisions taken later (manual review, the back office in
asynchronous mode) are answered when they are taken, from the bank's events for the `swift` channel.
Told to answer garbage, it writes answers whose checksum does not match.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core.money import Money
from guarantees.adapters.interface import AmendedUndertaking, IssuedUndertaking, Pending, UnknownUndertaking
from guarantees.adapters.swift import (
    answer_message,
    file_name,
    move_done,
    quarantine,
    read_request,
    refusal_message,
    write_atomic,
)
from guarantees.adapters.swift_mt import MTFormatError, MTMessage, parse, render
from guarantees.issuer_service.bank import Bank, BankError
from guarantees.issuer_service.web import Misbehaviour

log = logging.getLogger(__name__)

#: The platform's BIC when the desk answers a decision taken later (the request's sender otherwise).
DEFAULT_PLATFORM_BIC = "EBIDCNBJXXX"


class SwiftDesk:
    """Answers MT requests in `directory/outbox` with MT answers in `directory/inbox`."""

    def __init__(
        self,
        bank: Bank,
        directory: Path,
        *,
        misbehaviour: Misbehaviour | None = None,
        platform_bic: str = DEFAULT_PLATFORM_BIC,
    ) -> None:
        self.bank = bank
        self.requests = Path(directory) / "outbox"
        self.answers = Path(directory) / "inbox"
        self.done = Path(directory) / "issuer-processed"
        self.bad = Path(directory) / "issuer-quarantine"
        for folder in (self.answers, self.done, self.bad):
            folder.mkdir(parents=True, exist_ok=True)
        self.misbehaviour = misbehaviour or Misbehaviour()
        self.platform_bic = platform_bic
        bic = bank.identity.bic
        self.bic = bic if len(bic) == 11 else bic + "XXX"
        #: Amount of each undertaking before an amendment was asked (for the answer's 32B/33B).
        self._before: dict[str, Money] = {}

    def run_once(self) -> int:
        """Take every request waiting, then answer every decision taken since; returns how many."""
        done = 0
        if self.requests.is_dir():  # not there: the shared folder is unmounted (an outage)
            for path in sorted(p for p in self.requests.glob("*.fin") if not p.name.startswith(".")):
                try:
                    message = parse(path.read_bytes().decode("ascii"))
                    self._handle(message)
                except (MTFormatError, UnicodeDecodeError) as exc:
                    log.warning("quarantined %s: %s", path.name, exc)
                    quarantine(path, self.bad, f"{path.name}: {exc}")
                    continue
                move_done(path, self.done)
                done += 1
        for row in self.bank.due_deliveries(channel="swift"):
            event = self.bank.event(row)
            self._answer(event.outcome, related=event.idempotency_key, receiver=self.platform_bic)
            self.bank.delivered(row["id"])
            done += 1
        return done

    def _current(self, number: str) -> Money | None:
        answer = self.bank.core.verify(undertaking_identification=number, letter_sha256="0" * 64)
        return answer.undertaking_amount if answer.issuer_status is not None else None

    def _handle(self, message: MTMessage) -> None:
        reference = message.mur or message.get("20", "B") or message.get("20", "A") or message.get("20")
        if not reference:
            raise MTFormatError("the request has no transaction reference")
        try:
            operation, request = read_request(message, self._current)
            if operation == "amend":
                before = self._current(request.undertaking_identification)
                if before is not None:
                    self._before.setdefault(reference, before)
            _status, outcome = self.bank.submit(operation, request, channel="swift")
        except UnknownUndertaking as exc:
            self._write(
                refusal_message(
                    "unknown_undertaking",
                    str(exc),
                    related=reference,
                    sender=self.bic,
                    receiver=message.sender,
                )
            )
            return
        except BankError as exc:
            self._write(
                refusal_message(
                    exc.code, exc.message, related=reference, sender=self.bic, receiver=message.sender
                )
            )
            return
        if not isinstance(outcome, Pending):
            self._answer(outcome, related=reference, receiver=message.sender)

    def _answer(self, outcome: Any, *, related: str, receiver: str) -> None:
        letter = None
        if isinstance(outcome, IssuedUndertaking | AmendedUndertaking):
            letter = outcome.letter_pdf
        mt = {IssuedUndertaking: "760", AmendedUndertaking: "767"}.get(type(outcome), "799")
        stem = file_name(mt, related, self.bank.now()).removesuffix(".fin")
        message = answer_message(
            outcome,
            related=related,
            sender=self.bic,
            receiver=receiver,
            letter_file=f"{stem}.pdf" if letter else None,
            previous=self._before.pop(related, None),
            today=self.bank.now().date(),
        )
        if letter is not None:
            write_atomic(self.answers, f"{stem}.pdf", letter)
        self._write(message, stem=stem)

    def _write(self, message: MTMessage, *, stem: str | None = None) -> None:
        text = render(message)
        if self.misbehaviour.take(("garbage",)):
            text = text.replace(":32B:", ":32B:9", 1) if ":32B:" in text else text.replace(":79:", ":79:#", 1)
        stem = stem or file_name(message.mt, message.mur or "ANSWER", self.bank.now()).removesuffix(".fin")
        write_atomic(self.answers, f"{stem}.fin", text.encode("ascii"))
