"""The opening room in the browser: one page per tender, live over the "/opening" Socket.IO namespace.

The page holds no secrets and does no cryptography on the server. What it is given:
- the public snapshot (`services.snapshot`, the same for everyone) so it shows the state before the
  socket has joined; the socket then keeps it current (static/js/opening.js);
- what the visitor may do there (host, bidder with a bid, supervisor, or a watcher) to show the right
  controls; the namespace checks every action itself;
- for a bidder, its own active bids with each envelope's header (public data: the data key wrapped
  to the opening key and to the bidder's key), so the browser unwraps its data key from the bidder's
  key file locally, as `ebid open-key` does, and hands over only the data key.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from bidding import envelope
from bidding.labels import STATES
from bidding.models import OpeningRemedy, Tender
from bidding.opening import services
from bidding.opening.models import BidOpeningState, KeySource, OpeningState
from bidding.submissions.models import Bid, BidState
from core.extensions import db
from core.i18n import select_timezone
from core.identity import current_actor
from core.labels import ROLES
from core.models import Role, User
from core.storage import BlobError

log = logging.getLogger(__name__)

bp = Blueprint("opening_pages", __name__)


def participation(user: User | None, tender: Tender) -> str:
    """What the visitor does in the room: "host", "bidder", "supervisor" or "watcher" (read-only)."""
    if user is None:
        return "watcher"
    if user.role == Role.TENDERING_OFFICE and user.organisation_id == tender.tendering_office_id:
        return "host"
    if user.role == Role.SUPERVISOR:
        return "supervisor"
    if user.role == Role.BIDDER and own_bids(user, tender):
        return "bidder"
    return "watcher"


def own_bids(user: User, tender: Tender) -> list[Bid]:
    if user.organisation_id is None:
        return []
    return list(
        db.session.scalars(
            select(Bid)
            .where(
                Bid.tender_id == tender.id,
                Bid.organisation_id == user.organisation_id,
                Bid.state == BidState.ACTIVE,
            )
            .order_by(Bid.lot_number, Bid.id)
        )
    )


def envelope_header(sha256: str) -> dict[str, Any] | None:
    """The stored envelope's header as JSON (read from its first bytes), or None if it cannot be read."""
    reader = envelope.EnvelopeReader()
    blocks: Any = None
    try:
        blocks = services.blobs().open(sha256)
        for block in blocks:
            reader.feed(block)
            if reader.header is not None:
                return json.loads(reader.header.raw)
    except (BlobError, OSError, envelope.EnvelopeError) as exc:
        log.warning("the header of envelope %s cannot be read: %s", sha256, exc)
    finally:
        if hasattr(blocks, "close"):
            blocks.close()  # stop reading the file (a generator)
    return None


def labels() -> dict[str, dict[str, str]]:
    """The words for the snapshot's codes, in the page's language (the script shows them)."""
    return {
        "bid": {
            BidOpeningState.WAITING_KEY: _("Waiting for the data key"),
            BidOpeningState.DECRYPTING: _("Decrypting"),
            BidOpeningState.OPENED: _("Opened"),
            BidOpeningState.FAILED: _("Failed to open"),
            BidOpeningState.REVOKED: _("Deemed revoked: no key within the window"),
            BidOpeningState.PLATFORM_FAULT: _("Platform's fault: deemed withdrawn, compensated"),
        },
        "opening": {
            "none": _("Not started"),
            OpeningState.DECRYPTING: _("Decryption window open"),
            OpeningState.REMEDY: _("Window ended: custodians' remedy"),
            OpeningState.AWAITING_CONCLUSION: _("Awaiting conclusion: no more keys or shares are taken"),
            OpeningState.CONCLUDED: _("Concluded"),
            OpeningState.FAILED: _("Failed: fewer than three valid bids"),
        },
        "tender": {state.value: str(label) for state, label in STATES.items()},
        "role": {role.value: str(label) for role, label in ROLES.items()},
        "remedy": {
            OpeningRemedy.CUSTODIAN_SHARES: _("Custodians' shares open the bids still waiting"),
            OpeningRemedy.NONE: _("None: a bid without its key is deemed revoked"),
        },
        "source": {KeySource.BIDDER: _("Bidder"), KeySource.CUSTODIANS: _("Custodians")},
        "deposit": {
            "not_tracked": _("Not tracked yet"),
            "not_required": _("No deposit required"),
            "covered": _("Deposit covered"),
            "partly_covered": _("Deposit partly covered"),
            "not_covered": _("Deposit not covered"),
        },
    }


#: The opening's states in which the ceremony goes on (check-ins, objections, the host concludes);
#: the page is given them so it follows the domain's states instead of a list of its own.
ENDED = frozenset({OpeningState.CONCLUDED, OpeningState.FAILED})


def live_states() -> list[str]:
    return [state.value for state in OpeningState if state not in ENDED]


@bp.get("/tenders/<int:tender_id>/opening")
def room(tender_id: int):
    tender = db.session.get(Tender, tender_id)
    if tender is None or not tender.is_public:
        abort(404)
    user = current_actor()
    role = participation(user, tender)
    mine = []
    if role == "bidder":
        assert user is not None
        mine = [
            {
                "bid": bid.id,
                "lot": bid.lot_number,
                "envelope_sha256": bid.envelope_sha256,
                "header": envelope_header(bid.envelope_sha256),
            }
            for bid in own_bids(user, tender)
        ]
    return render_template(
        "opening/room.html",
        tender=tender,
        role=role,
        user=user,
        mine=mine,
        snapshot=services.snapshot(tender),
        timezone=select_timezone(),
        labels=labels(),
        live_states=live_states(),
    )
