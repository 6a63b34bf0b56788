"""The public log API and JWKS, checked the way an outsider would: proofs, checkpoints, export, receipts."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from core.models import Role
from signing import audit, merkle
from signing.checkpoint import parse_vkey, verify_checkpoint, vkey
from signing.keys import KeyPurpose
from tests import factories
from tests.functional.helpers import assert_json_error


def b64d(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.fixture
def log(session):
    """A log of 12 entries, checkpointed at 7 and at 12, committed (as far as the test's transaction goes)."""
    office = factories.user(Role.TENDERING_OFFICE)
    entries = [audit.record("tender.amended", actor=office, subject={"tender": i}, data={"n": i})
               for i in range(7)]
    audit.make_checkpoint()
    entries += [audit.record("tender.amended", actor=None, subject={"tender": i}) for i in range(7, 12)]
    audit.make_checkpoint(milestone="tender.closed")
    session.commit()
    return entries


@pytest.fixture
def log_key(client):
    """The checkpoint key as published at /api/log/key."""
    answer = client.get("/api/log/key")
    assert answer.status_code == 200
    return parse_vkey(answer.get_json()["vkey"])


def test_the_key_is_a_note_verifier_key_named_after_the_origin(client, session, app):
    answer = client.get("/api/log/key").get_json()
    key = app.extensions["ebid.keys"].active(KeyPurpose.CHECKPOINT)
    assert answer == {"origin": app.config["PLATFORM_ORIGIN"],
                      "vkey": vkey(app.config["PLATFORM_ORIGIN"], key.public_key),
                      "vkeys": [answer["vkey"]]}


def test_the_checkpoint_is_plain_text_signed_by_the_published_key(client, log, log_key, app):
    response = client.get("/api/log/checkpoint")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    cp = verify_checkpoint(response.get_data(as_text=True), *log_key, origin=app.config["PLATFORM_ORIGIN"])
    assert cp.size == 12
    assert cp.root == merkle.root([e.leaf_hash for e in log])


def test_the_checkpoint_verifies_with_the_okp_key_of_the_jwks(client, log, app):
    note = client.get("/api/log/checkpoint").get_data(as_text=True)
    jwks = client.get("/.well-known/jwks.json").get_json()
    okp = [k for k in jwks["keys"] if k["kty"] == "OKP"]
    assert len(okp) == 1 and okp[0]["crv"] == "Ed25519" and okp[0]["alg"] == "EdDSA"
    assert okp[0]["kid"] == app.extensions["ebid.keys"].active(KeyPurpose.CHECKPOINT).kid
    public_key = Ed25519PublicKey.from_public_bytes(b64url(okp[0]["x"]))
    assert verify_checkpoint(note, app.config["PLATFORM_ORIGIN"], public_key).size == 12


def test_the_jwks_publishes_every_es256_key_and_no_private_part(client, session, app):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    keys = response.get_json()["keys"]
    store = app.extensions["ebid.keys"]
    es256 = [k for k in keys if k["kty"] == "EC"]
    assert {k["kid"] for k in es256} == {k.kid for k in store.verification_keys(KeyPurpose.JWS)}
    assert all(k["alg"] == "ES256" and k["crv"] == "P-256" for k in es256)
    assert not any("d" in k for k in keys)


def test_an_entry_comes_with_an_inclusion_proof_to_the_latest_checkpoint(client, log, log_key):
    answer = client.get("/api/log/entries/5").get_json()
    assert answer["index"] == 5 and answer["tree_size"] == 12 and answer["entry"] == log[5].body
    assert set(answer) == {"index", "entry", "leaf_hash", "tree_size", "root_hash", "inclusion_proof",
                           "checkpoint"}
    leaf = merkle.leaf_hash(answer["entry"].encode())
    assert b64d(answer["leaf_hash"]) == leaf
    proof = [b64d(h) for h in answer["inclusion_proof"]]
    merkle.verify_inclusion(leaf, 5, 12, proof, b64d(answer["root_hash"]))
    cp = verify_checkpoint(answer["checkpoint"], *log_key)
    assert (cp.size, cp.root) == (12, b64d(answer["root_hash"]))


def test_an_inclusion_proof_at_an_earlier_size_verifies(client, log):
    for index in range(7):
        answer = client.get(f"/api/log/entries/{index}?tree_size=7").get_json()
        merkle.verify_inclusion(merkle.leaf_hash(answer["entry"].encode()), index, 7,
                                [b64d(h) for h in answer["inclusion_proof"]], b64d(answer["root_hash"]))
        assert b64d(answer["root_hash"]) == merkle.root([e.leaf_hash for e in log[:7]])


def test_consistency_between_the_two_checkpoints_verifies(client, log, log_key):
    answer = client.get("/api/log/consistency?first=7&second=12").get_json()
    merkle.verify_consistency(7, 12, b64d(answer["first_root"]), b64d(answer["second_root"]),
                              [b64d(h) for h in answer["proof"]])
    latest = verify_checkpoint(client.get("/api/log/checkpoint").get_data(as_text=True), *log_key)
    assert b64d(answer["second_root"]) == latest.root
    assert client.get("/api/log/consistency?first=3").get_json()["second"] == 12


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/api/log/entries/12", 404, None),
    ("/api/log/entries/3?tree_size=13", 422, "tree_size"),
    ("/api/log/entries/3?tree_size=3", 422, "tree_size"),
    ("/api/log/entries/3?tree_size=abc", 422, "tree_size"),
    ("/api/log/consistency", 422, "first"),
    ("/api/log/consistency?first=8&second=7", 422, "first"),
    ("/api/log/consistency?first=1&second=13", 422, "second"),
    ("/api/log/consistency?first=-1", 422, "first"),
])
def test_bad_requests_are_refused_with_what_is_wrong(client, log, path, status, field):
    assert_json_error(client.get(path), status, field=field)


def test_before_any_checkpoint_the_log_answers_404(client, session):
    audit.record("tender.published", actor=None, subject={"tender": 1})
    session.commit()
    for path in ("/api/log/checkpoint", "/api/log/export", "/api/log/entries/0",
                 "/api/log/consistency?first=0"):
        assert_json_error(client.get(path), 404)


def test_the_export_is_json_lines_that_give_the_signed_root(client, log, log_key, app):
    # buffered: the request-scoped client runs each request in its own context, where the stream must be read
    response = client.get("/api/log/export", buffered=True)
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    header, *lines = response.get_data(as_text=True).splitlines()
    head = json.loads(header)
    assert head["ebid_log_export"] == 1 and head["origin"] == app.config["PLATFORM_ORIGIN"]
    cp = verify_checkpoint(head["checkpoint"], *log_key)
    assert (cp.size, cp.root) == (head["tree_size"], b64d(head["root_hash"])) == (12, cp.root)
    assert [json.loads(line)["index"] for line in lines] == list(range(12))
    assert merkle.root([merkle.leaf_hash(line.encode()) for line in lines]) == cp.root


def test_the_export_is_streamed_not_built_in_memory(app, log):
    response = app.test_client().get("/api/log/export")  # read within the test's own context
    assert response.is_streamed
    chunks = list(response.response)
    assert len(chunks) == 13 and all(chunk.endswith(b"\n") for chunk in chunks)


def test_a_receipt_verifies_with_a_second_jose_library_and_the_published_keys(client, log, log_key, app,
                                                                               session):
    bidder = factories.user(Role.BIDDER)
    entry = audit.record("bid.submitted", actor=bidder, subject={"tender": 3, "bid": 1},
                         data={"sha256": "00" * 32})
    token = audit.receipt(entry, "bid.submitted", {"tender": 3, "bid": 1})
    session.commit()
    jwks = jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").get_json())
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "ebid-receipt+jws" and header["alg"] == "ES256"
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    payload = json.loads(jwt.PyJWS().decode(token, key=key.key, algorithms=["ES256"]))
    assert payload["iss"] == app.config["PLATFORM_ORIGIN"] and payload["kind"] == "bid.submitted"
    body = json.loads(payload["entry"])
    assert body["actor"]["username"] == bidder.username and body["subject"] == payload["subject"]
    log_part = payload["log"]
    assert log_part["index"] == 12 and log_part["tree_size"] == 13
    merkle.verify_inclusion(merkle.leaf_hash(payload["entry"].encode()), 12, 13,
                            [b64d(h) for h in log_part["inclusion_proof"]], b64d(log_part["root_hash"]))
    cp = verify_checkpoint(payload["checkpoint"], *log_key)
    assert (cp.size, cp.root) == (13, b64d(log_part["root_hash"]))
    # and the log the receipt points into is the one the API serves
    assert client.get("/api/log/entries/12").get_json()["entry"] == payload["entry"]


def test_the_log_endpoints_are_public_and_described(client, session, app):
    spec = client.get("/api/openapi.json").get_json()
    for path in ("/api/log/checkpoint", "/api/log/key", "/api/log/entries/{index}", "/api/log/consistency",
                 "/api/log/export", "/.well-known/jwks.json"):
        assert "security" not in spec["paths"][path]["get"], path
