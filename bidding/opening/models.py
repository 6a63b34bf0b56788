"""The opening ceremony as the database holds it: the opening, who checked in, each bid's opening,
the custodians' shares while they wait to be combined, and objections.

Both state machines (the opening's and each bid's) are here: an enum with a comment per state and
one table of legal transitions each, with a typed refusal.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    CHAR,
    JSON,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bidding.lifecycle import transition
from bidding.models import Tender
from bidding.submissions.models import Bid
from core.models import Organisation, User, enum_column
from core.orm import Base, intpk


class OpeningState(enum.StrEnum):
    """Where an opening ceremony stands."""

    #: Started at the opening time: participants check in and bidders hand over their data keys.
    DECRYPTING = "decrypting"
    #: The decryption window has ended: custodians may rebuild the opening key for bids still waiting,
    #: until the remedy's deadline.
    REMEDY = "remedy"
    #: No more keys or shares are taken (the window, and any remedy, have ended): the host concludes.
    AWAITING_CONCLUSION = "awaiting_conclusion"
    #: Concluded with enough valid bids: the tender goes on to evaluation.
    CONCLUDED = "concluded"
    #: Concluded with fewer than three valid bids: the tender has failed.
    FAILED = "failed"


class OpeningAction(enum.StrEnum):
    """What can happen to an opening."""

    END_WINDOW = "end_window"
    END_REMEDY = "end_remedy"
    CONCLUDE = "conclude"
    FAIL = "fail"


class BidOpeningState(enum.StrEnum):
    """Where one bid stands at the opening."""

    #: Waiting for its bidder's data key (or, after the window, for the custodians).
    WAITING_KEY = "waiting_key"
    #: A data key is in hand and the envelope is being decrypted off the request path.
    DECRYPTING = "decrypting"
    #: Decrypted and verified; its price and terms are announced.
    OPENED = "opened"
    #: The stored envelope differs from its receipt: the platform's fault (deemed withdrawn, compensable),
    #: unless its bidder hands in its own intact copy during the decryption window (RESTORE).
    PLATFORM_FAULT = "platform_fault"
    #: Its bidder did not hand over a key in the window and no remedy applies: deemed revoked.
    REVOKED = "revoked"
    #: The key unwrapped but the envelope did not verify (signature, commitment or bid.json).
    FAILED = "failed"


class BidOpeningAction(enum.StrEnum):
    """What can happen to a bid at the opening."""

    KEY_RECEIVED = "key_received"
    OPEN = "open"
    FAIL = "fail"
    REVOKE = "revoke"
    FAULT = "fault"
    #: The bidder handed in its own copy, which hashes to its receipt: the bid waits for its key again.
    RESTORE = "restore"


class KeySource(enum.StrEnum):
    """Whose key opened a bid."""

    #: The bidder handed over its data key.
    BIDDER = "bidder"
    #: k custodians rebuilt the opening key from their shares.
    CUSTODIANS = "custodians"


O, OA, B, BA = OpeningState, OpeningAction, BidOpeningState, BidOpeningAction  # noqa: E741

#: The opening's legal transitions: (state, action) -> next state. Nothing else is allowed.
OPENING_TRANSITIONS: dict[tuple[OpeningState, OpeningAction], OpeningState] = {
    (O.DECRYPTING, OA.END_WINDOW): O.REMEDY,
    (O.DECRYPTING, OA.CONCLUDE): O.CONCLUDED,
    (O.DECRYPTING, OA.FAIL): O.FAILED,
    (O.REMEDY, OA.END_REMEDY): O.AWAITING_CONCLUSION,
    (O.REMEDY, OA.CONCLUDE): O.CONCLUDED,
    (O.REMEDY, OA.FAIL): O.FAILED,
    (O.AWAITING_CONCLUSION, OA.CONCLUDE): O.CONCLUDED,
    (O.AWAITING_CONCLUSION, OA.FAIL): O.FAILED,
}

#: Each bid's legal transitions. A bid whose stored envelope differs from its receipt starts in
#: PLATFORM_FAULT (checked when the opening starts).
BID_TRANSITIONS: dict[tuple[BidOpeningState, BidOpeningAction], BidOpeningState] = {
    (B.WAITING_KEY, BA.KEY_RECEIVED): B.DECRYPTING,
    (B.WAITING_KEY, BA.REVOKE): B.REVOKED,
    (B.WAITING_KEY, BA.FAIL): B.FAILED,
    (B.DECRYPTING, BA.OPEN): B.OPENED,
    (B.DECRYPTING, BA.FAIL): B.FAILED,
    (B.DECRYPTING, BA.FAULT): B.PLATFORM_FAULT,
    (B.PLATFORM_FAULT, BA.RESTORE): B.WAITING_KEY,
}

#: States a bid does not leave (PLATFORM_FAULT only by RESTORE, during the decryption window).
FINAL_BID_STATES = frozenset({B.OPENED, B.PLATFORM_FAULT, B.REVOKED, B.FAILED})

del O, OA, B, BA


class IllegalOpeningTransition(Exception):
    """An action the opening's (or the bid's) current state does not allow."""

    def __init__(self, state: enum.Enum, action: enum.Enum) -> None:
        super().__init__(f"cannot {action.value} when the state is {state.value}")
        self.state = state
        self.action = action


def next_opening_state(state: OpeningState, action: OpeningAction) -> OpeningState:
    """The opening's state after `action`, or `IllegalOpeningTransition`."""
    return transition(OPENING_TRANSITIONS, state, action, IllegalOpeningTransition)


def next_bid_state(state: BidOpeningState, action: BidOpeningAction) -> BidOpeningState:
    """A bid's state after `action`, or `IllegalOpeningTransition`."""
    return transition(BID_TRANSITIONS, state, action, IllegalOpeningTransition)


class Opening(Base):
    """A tender's opening ceremony."""

    __tablename__ = "openings"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), unique=True)
    #: The tendering office's user who started (hosts) it.
    host_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime]
    #: The end of the decryption window (the start + the tender's window).
    window_ends_at: Mapped[dt.datetime] = mapped_column(index=True)
    #: The end of the custodians' remedy (custodian-shares tenders only): planned at the start, set
    #: when the window actually ends; bids still waiting then are deemed revoked.
    remedy_ends_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    state: Mapped[OpeningState] = mapped_column(
        enum_column(OpeningState, name="opening_state"), default=OpeningState.DECRYPTING, index=True
    )
    concluded_at: Mapped[dt.datetime | None]
    #: The signed opening record (PDF), issued at the conclusion.
    record_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    #: The signed failure notice (PDF), issued when the opening concludes with too few valid bids.
    failure_notice_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    #: The draft copy a failed tender was re-tendered as (once only).
    retendered_as_id: Mapped[int | None] = mapped_column(ForeignKey("tenders.id"), unique=True)

    tender: Mapped[Tender] = relationship(foreign_keys=[tender_id])
    host: Mapped[User] = relationship()
    retendered_as: Mapped[Tender | None] = relationship(foreign_keys=[retendered_as_id])


class CheckIn(Base):
    """Someone present at an opening: a bidder, the office or a supervisor."""

    __tablename__ = "opening_check_ins"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    role: Mapped[str] = mapped_column(String(32))
    at: Mapped[dt.datetime]

    user: Mapped[User] = relationship()
    organisation: Mapped[Organisation | None] = relationship()

    __table_args__ = (UniqueConstraint("tender_id", "user_id", name="uq_opening_check_ins_tender_user"),)


class BidOpening(Base):
    """One active bid at the opening: its state, how it was opened, and what it said."""

    __tablename__ = "bid_openings"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    bid_id: Mapped[int] = mapped_column(ForeignKey("bids.id"), unique=True)
    state: Mapped[BidOpeningState] = mapped_column(
        enum_column(BidOpeningState, name="bid_opening_state"),
        default=BidOpeningState.WAITING_KEY,
        index=True,
    )
    key_source: Mapped[KeySource | None] = mapped_column(enum_column(KeySource, name="opening_key_source"))
    #: The data key, sealed under the platform's KEK from hand-over until the bid is final; then dropped.
    sealed_data_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(default=0)
    price_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    price_currency: Mapped[str | None] = mapped_column(CHAR(3))
    duration_days: Mapped[int | None]
    #: bid.json's per-criterion responses (announced once opened).
    terms: Mapped[dict | None] = mapped_column(JSON)
    #: Why it failed, was revoked, or is the platform's fault; plain words.
    outcome: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[dt.datetime | None]
    #: When its bidder's own copy replaced a damaged or missing stored envelope (issue 12, finding 5).
    restored_at: Mapped[dt.datetime | None]

    bid: Mapped[Bid] = relationship()

    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("price_amount IS NULL OR price_amount >= 0", name="price_not_negative"),
    )


class OpeningShare(Base):
    """A custodian's share, kept sealed only until k are in; deleted once the key is rebuilt."""

    __tablename__ = "opening_shares"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    sealed_mnemonic: Mapped[bytes] = mapped_column(LargeBinary)
    received_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[dt.datetime]

    __table_args__ = (
        UniqueConstraint("tender_id", "fingerprint", name="uq_opening_shares_tender_fingerprint"),
    )


class Objection(Base):
    """An objection a bidder raised during the opening, and the host's answer."""

    __tablename__ = "opening_objections"

    id: Mapped[intpk]
    tender_id: Mapped[int] = mapped_column(ForeignKey("tenders.id"), index=True)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[dt.datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None]

    raised_by: Mapped[User] = relationship(foreign_keys=[raised_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])
