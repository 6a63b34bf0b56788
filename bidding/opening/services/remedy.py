"""The window's end and the custodians: at the window's end bids still waiting are revoked or wait for
the custodians, whose k shares rebuild the tender's opening key before the remedy's deadline."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import shamir_mnemonic
from shamir_mnemonic.wordlist import WORD_INDEX_MAP
from sqlalchemy import select

from bidding import envelope, keyfile, keys
from bidding.models import OpeningKey, OpeningRemedy, Tender
from bidding.opening.models import (
    BidOpening,
    BidOpeningAction,
    BidOpeningState,
    KeySource,
    Opening,
    OpeningAction,
    OpeningShare,
    OpeningState,
    next_bid_state,
    next_opening_state,
)
from bidding.opening.services._common import (
    Outcome,
    _is_host_office,
    _iso,
    _log,
    _require_opening,
    blobs,
    refuse,
    remedy_period,
)
from bidding.opening.services.data_keys import _seal_key
from core.extensions import db
from core.models import Role, User
from core.orm import utcnow
from signing import audit

REVOKED_IN_WINDOW = (
    "its bidder did not hand over its data key within the decryption window and no remedy applies: "
    "deemed revoked"
)
REVOKED_AFTER_REMEDY = (
    "its bidder did not hand over its data key within the decryption window and the custodians did "
    "not open it by the remedy's deadline: deemed revoked"
)


def _waiting(tender: Tender) -> list[BidOpening]:
    return list(
        db.session.scalars(
            select(BidOpening)
            .where(BidOpening.tender_id == tender.id, BidOpening.state == BidOpeningState.WAITING_KEY)
            .order_by(BidOpening.id)
        )
    )


def _revoke(tender: Tender, rows: list[BidOpening], reason: str, outcome: Outcome) -> None:
    for row in rows:
        row.state = next_bid_state(row.state, BidOpeningAction.REVOKE)
        row.outcome = reason
        _log(
            "opening.bid_failed",
            None,
            tender,
            {
                "bid": row.bid_id,
                "bidder": row.bid.organisation.name,
                "state": row.state.value,
                "reason": reason,
            },
            outcome,
            ip=None,
        )


def _end_remedy(
    tender: Tender,
    opening: Opening,
    now: dt.datetime,
    reason: str,
    outcome: Outcome,
    *,
    revoked: int = 0,
    actor: User | None = None,
) -> None:
    """No more shares: the stored ones (fewer than k) are deleted, and the host may conclude."""
    discarded = 0
    for share in db.session.scalars(select(OpeningShare).where(OpeningShare.tender_id == tender.id)):
        db.session.delete(share)
        discarded += 1
    opening.state = next_opening_state(opening.state, OpeningAction.END_REMEDY)
    _log(
        "opening.remedy_closed",
        actor,
        tender,
        {"at": now.isoformat(), "reason": reason, "revoked": revoked, "shares_discarded": discarded},
        outcome,
        **({} if actor else {"ip": None}),  # the clock's job has no request
    )


def close_window(tender: Tender, now: dt.datetime | None = None) -> Outcome:
    """At the window's end, bids still waiting are revoked (no remedy) or wait for the custodians.

    With nothing left for the custodians (no remedy, or no bid waiting) the remedy ends at once.
    """
    now = now or utcnow()
    opening = _require_opening(tender)
    if opening.state != OpeningState.DECRYPTING or now < opening.window_ends_at:
        return Outcome(result=opening)
    opening.state = next_opening_state(opening.state, OpeningAction.END_WINDOW)
    outcome = Outcome(result=opening)
    waiting = _waiting(tender)
    custodians = tender.opening_remedy == OpeningRemedy.CUSTODIAN_SHARES and bool(waiting)
    opening.remedy_ends_at = now + remedy_period(tender) if custodians else None
    _log(
        "opening.window_closed",
        None,
        tender,
        {
            "at": now.isoformat(),
            "waiting": len(waiting),
            "remedy": tender.opening_remedy.value,
            "remedy_ends_at": _iso(opening.remedy_ends_at),
        },
        outcome,
        ip=None,
    )
    if not custodians:
        _revoke(tender, waiting, REVOKED_IN_WINDOW, outcome)
        _end_remedy(
            tender,
            opening,
            now,
            "no bid waits for the custodians" if waiting == [] else "the tender's remedy is none",
            outcome,
            revoked=len(waiting),
        )
    db.session.flush()
    return outcome


def close_remedy(tender: Tender, now: dt.datetime | None = None) -> Outcome:
    """At the remedy's deadline the custodians' time is up: bids still waiting are deemed revoked."""
    now = now or utcnow()
    opening = _require_opening(tender)
    outcome = Outcome(result=opening)
    if opening.state != OpeningState.REMEDY or opening.remedy_ends_at is None or now < opening.remedy_ends_at:
        return outcome
    waiting = _waiting(tender)
    _revoke(tender, waiting, REVOKED_AFTER_REMEDY, outcome)
    _end_remedy(tender, opening, now, "the remedy's deadline passed", outcome, revoked=len(waiting))
    db.session.flush()
    return outcome


def check_share(share: Any, key: OpeningKey, tender: Tender) -> tuple[str, str]:
    """A share's normalised words and fingerprint, or a refusal that says what is wrong with it."""
    if isinstance(share, str):
        stripped = share.strip()
        if stripped.startswith("{"):
            try:
                share = json.loads(stripped)
            except ValueError:
                raise refuse(
                    "bad_share", "the share file is not valid JSON", status=422, field="share"
                ) from None
    if isinstance(share, dict):
        if share.get("kind") != keyfile.SHARE_KIND:
            raise refuse("bad_share", "this is not an ebid opening-key share file", status=422, field="share")
        if share.get("tender") != tender.id:
            raise refuse(
                "wrong_tender",
                f"this share is from tender {share.get('tender')}, not tender {tender.id}",
                status=422,
                field="share",
            )
        if share.get("kid") != key.kid:
            raise refuse(
                "wrong_tender",
                "this share is for another opening key than this tender's",
                status=422,
                field="share",
            )
        share = share.get("mnemonic")
    if not isinstance(share, str) or not share.strip():
        raise refuse("bad_share", "send the share's words, or its share file", status=422, field="share")
    mnemonic = keyfile.normalise_mnemonic(share)
    unknown = [w for w in mnemonic.split() if w not in WORD_INDEX_MAP]
    if unknown:
        raise refuse(
            "share_typed_wrong",
            f"{unknown[0]!r} is not a share word: check the share for a typing mistake",
            status=422,
            field="share",
        )
    try:
        shamir_mnemonic.Share.from_mnemonic(mnemonic)
    except shamir_mnemonic.MnemonicError as exc:
        if "checksum" in str(exc).lower():
            raise refuse(
                "share_typed_wrong",
                "a word of this share is typed wrong (its checksum fails): check it word by word",
                status=422,
                field="share",
            ) from None
        raise refuse("bad_share", f"this is not a valid share: {exc}", status=422, field="share") from None
    fingerprint = keyfile.share_fingerprint(mnemonic)
    if fingerprint not in key.fingerprints:
        raise refuse(
            "wrong_tender",
            "this share is not one of this tender's shares (a share from another tender?)",
            status=422,
            field="share",
        )
    return mnemonic, fingerprint


def submit_share(tender: Tender, user: User, share: Any, now: dt.datetime | None = None) -> Outcome:
    """A custodian enters a share after the window; k shares rebuild the key and open the bids waiting."""
    now = now or utcnow()
    opening = _require_opening(tender)
    if tender.opening_remedy != OpeningRemedy.CUSTODIAN_SHARES:
        raise refuse("no_remedy", "this tender's remedy is none: custodians' shares are not used")
    if user.role == Role.TENDERING_OFFICE and not _is_host_office(user, tender):
        raise refuse("not_custodian", "only this tender's office or a supervisor enters shares", status=403)
    if opening.state == OpeningState.DECRYPTING:
        raise refuse(
            "window_open",
            f"shares are taken after the decryption window ends ({opening.window_ends_at.isoformat()})",
        )
    if opening.state != OpeningState.REMEDY or (
        opening.remedy_ends_at is not None and now >= opening.remedy_ends_at
    ):
        ended = f" at {opening.remedy_ends_at.isoformat()}" if opening.remedy_ends_at else ""
        raise refuse(
            "remedy_closed",
            f"the custodians' remedy ended{ended}: no more shares are taken, and bids still waiting "
            "are deemed revoked",
        )
    waiting = _waiting(tender)
    if not waiting:
        raise refuse("nothing_to_open", "no bid waits for the custodians")
    key = keys.opening_key_for(tender)
    assert key is not None
    mnemonic, fingerprint = check_share(share, key, tender)
    if (
        db.session.scalar(
            select(OpeningShare).where(
                OpeningShare.tender_id == tender.id, OpeningShare.fingerprint == fingerprint
            )
        )
        is not None
    ):
        raise refuse("share_already_given", "this share has already been entered", field="share")
    store = audit.key_store()
    db.session.add(
        OpeningShare(
            tender_id=tender.id,
            fingerprint=fingerprint,
            received_by_id=user.id,
            received_at=now,
            sealed_mnemonic=store.seal(mnemonic.encode(), f"opening-share|{tender.id}"),
        )
    )
    db.session.flush()
    rows = list(
        db.session.scalars(
            select(OpeningShare).where(OpeningShare.tender_id == tender.id).order_by(OpeningShare.id)
        )
    )
    outcome = Outcome(result=len(rows))
    _log("opening.share_received", user, tender, {"received": len(rows), "threshold": key.threshold}, outcome)
    if len(rows) < key.threshold:
        return outcome
    words: list[str | dict[str, Any]] = [
        store.unseal(r.sealed_mnemonic, f"opening-share|{tender.id}").decode() for r in rows
    ]
    try:
        private = keyfile.recover_opening_key(
            words, expected_kid=key.kid, tender=tender.id, fingerprints=list(key.fingerprints)
        )
    except keyfile.ShareError as exc:
        raise refuse("shares_do_not_combine", f"the shares do not rebuild the opening key: {exc}") from None
    for r in rows:
        db.session.delete(r)
    for row in waiting:
        try:
            with blobs().path(row.bid.envelope_sha256).open("rb") as fh:
                header = envelope.read_header(fh)
            data_key = envelope.unwrap(header, private, "opening")
        except (envelope.EnvelopeError, OSError) as exc:
            row.state = next_bid_state(row.state, BidOpeningAction.FAIL)
            row.outcome = f"the opening key does not open this envelope: {exc}"
            _log(
                "opening.bid_failed",
                user,
                tender,
                {
                    "bid": row.bid_id,
                    "bidder": row.bid.organisation.name,
                    "state": row.state.value,
                    "reason": row.outcome,
                },
                outcome,
            )
            continue
        row.state = next_bid_state(row.state, BidOpeningAction.KEY_RECEIVED)
        row.key_source = KeySource.CUSTODIANS
        row.sealed_data_key = _seal_key(row, data_key)
        row.attempts += 1
        outcome.decrypt.append(row.id)
        _log(
            "opening.key_received",
            user,
            tender,
            {"bid": row.bid_id, "source": KeySource.CUSTODIANS.value},
            outcome,
        )
    _end_remedy(tender, opening, now, "the custodians rebuilt the opening key", outcome, actor=user)
    db.session.flush()
    return outcome
