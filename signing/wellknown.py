"""The platform's published keys: the JWKS at /.well-known/jwks.json and the log's verifier key."""

from __future__ import annotations

import base64
from typing import Any, Literal

from flask import Blueprint
from pydantic import ConfigDict

from core.openapi import document
from core.shapes import ResponseModel, respond
from signing import audit
from signing.jose import public_jwk
from signing.keys import KeyPurpose, PlatformKey

wellknown = Blueprint("wellknown", __name__, url_prefix="/.well-known")


class Jwk(ResponseModel):
    """A public JWK: EC P-256 (ES256, with x and y) or OKP Ed25519 (EdDSA, with x)."""

    model_config = ConfigDict(extra="allow")

    kty: Literal["EC", "OKP"]
    kid: str
    alg: Literal["ES256", "EdDSA"]
    crv: str
    x: str
    use: str


class Jwks(ResponseModel):
    keys: list[Jwk]


def okp_jwk(key: PlatformKey) -> dict[str, str]:
    """The public JWK (RFC 8037) of an Ed25519 checkpoint key."""
    x = base64.urlsafe_b64encode(key.public_key.public_bytes_raw()).rstrip(b"=").decode()
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": key.kid, "alg": "EdDSA", "use": "sig"}


def jwks_document() -> dict[str, Any]:
    """Every unretired platform public key: ES256 keys for JWS, Ed25519 keys for checkpoints."""
    store = audit.key_store()
    return {"keys": [*(public_jwk(k.kid, k.public_key) for k in store.verification_keys(KeyPurpose.JWS)),
                     *(okp_jwk(k) for k in store.verification_keys(KeyPurpose.CHECKPOINT))]}


def log_vkey() -> str:
    """The note verifier key of the key that signs checkpoints now."""
    return audit.published_vkeys()[-1]


@wellknown.get("/jwks.json")
@document(summary="The platform's public keys (JWKS): ES256 for receipts and tokens, EdDSA for checkpoints",
          public=True, response=Jwks)
def jwks():
    response = respond(Jwks.model_validate(jwks_document()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
