"""Run against a live platform's instance (`python -m tests.functional.opening_restart_setup`, not
through its server): a tender published with a 2-of-3 opening key, three sealed bids submitted over
the real upload endpoint, the close job run at the deadline (a signed checkpoint covers the close),
then the tender's dates moved just into the past, as if the opening time had come.

Prints, as JSON on its last line, what the people hold on their own machines: logins, and each
bidder's data key as `ebid open-key` would unwrap it.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

from app import create_app
from bidding import envelope, keys
from bidding import services as tender_services
from bidding.keyfile import make_opening_key
from bidding.models import Tender
from bidding.submissions import close
from core.extensions import db
from core.models import Role
from core.orm import utcnow
from signing.api_tokens import issue_token
from tests import factories
from tests.sealing import BidderKit, seal

PRICES = ["910000.00", "935500.50", "899999.99"]


def main() -> None:
    app = create_app("development")
    with app.app_context():
        office = factories.user(Role.TENDERING_OFFICE)
        supervisor = factories.user(Role.SUPERVISOR)
        tender = factories.tender(office)
        public, kid, shares = make_opening_key(tender.id, 2, 3)
        keys.register_opening_key(
            tender,
            office,
            {
                "public_key": base64.b64encode(public).decode(),
                "kid": kid,
                "threshold": 2,
                "count": 3,
                "fingerprints": [s.fingerprint for s in shares],
            },
        )
        tender_services.publish(tender, actor=office)
        kits = []
        for _ in PRICES:
            user = factories.user(Role.BIDDER)
            x_private, e_private = factories.bidder_keys(user)
            kits.append(BidderKit(user, x_private, e_private))
        db.session.commit()
        client = app.test_client()
        bids = []
        for kit, price in zip(kits, PRICES, strict=True):
            made = seal(tender, kit, price=price)
            response = client.put(
                f"/api/tenders/{tender.id}/lots/1/envelope",
                data=made.data,
                headers={
                    "Authorization": f"Bearer {issue_token(kit.user)[0]}",
                    "Content-Type": "application/octet-stream",
                },
            )
            assert response.status_code == 201, response.get_data(as_text=True)
            header = envelope.read_header(io.BytesIO(made.data))
            bids.append(
                {
                    "id": response.get_json()["bid"]["id"],
                    "username": kit.user.username,
                    "bidder": kit.user.organisation.name,
                    "price": price,
                    "sha256": made.info.sha256,
                    "data_key": base64.b64encode(envelope.unwrap(header, kit.x25519, "bidder")).decode(),
                }
            )
        close.close_due(tender.submission_deadline)
        tender = db.session.get(Tender, tender.id)
        now = utcnow()
        tender.submission_deadline = now - dt.timedelta(minutes=2)  # time passes to the opening
        tender.opening_time = now - dt.timedelta(minutes=1)
        db.session.commit()
        print(
            json.dumps(
                {
                    "tender": tender.id,
                    "password": factories.PASSWORD,
                    "office": office.username,
                    "supervisor": supervisor.username,
                    "bids": bids,
                    "blobs": str(app.config["BLOB_DIR"]),
                }
            )
        )


if __name__ == "__main__":
    main()
