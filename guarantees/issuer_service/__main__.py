"""`python -m guarantees.issuer_service --port 5811 --home DIR --callback-url URL`: run a reference issuer.

It prints one line, `issuer <code> listening on http://host:port kid=<kid>`, once it serves, and stops
cleanly on SIGTERM or Ctrl-C. `--public-key-out` writes the PEM of its signing key's public half
(what the platform pins in `GUARANTEE_ISSUERS[...]["public_key"]`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from guarantees.issuer_service.bank import Bank, Identity, load_or_make_key
from guarantees.issuer_service.web import Misbehaviour, create_app
from guarantees.issuer_service.worker import Worker


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m guarantees.issuer_service", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument(
        "--home",
        type=Path,
        required=True,
        help="the issuer's folder: its SQLite books, the core's book and seal (made if absent)",
    )
    p.add_argument("--key", type=Path, help="its ES256 signing key (PEM, made if absent); default in --home")
    p.add_argument("--public-key-out", type=Path, help="write the signing key's public PEM here")
    p.add_argument("--code", default="REFBANK", help="the issuer's code on the platform (the JWS iss)")
    p.add_argument("--name", default="Reference Issuing Bank")
    p.add_argument("--bic", default="REFBCNSHXXX", help="its BIC (SWIFT field 52a)")
    p.add_argument("--number-prefix", default="RB", help="the prefix of its undertaking numbers")
    p.add_argument("--audience", default="ebid-platform", help="the aud of its signed statements")
    p.add_argument("--callback-url", help="where to push signed callbacks (unset: polling only)")
    p.add_argument(
        "--callback-timeout",
        type=float,
        default=10.0,
        help="seconds to wait for the platform to take a callback before trying again later",
    )
    p.add_argument("--api-key", help="the platform's API key (Authorization: Bearer ...)")
    p.add_argument("--control-token", help="enables /_control/ for tests (X-Control-Token header)")
    p.add_argument(
        "--rules",
        type=Path,
        help="underwriting rules, a JSON object with the sandbox issuer's "
        "setting names (max_undertaking_amount, premium_rates, ...)",
    )
    p.add_argument(
        "--async-decisions",
        action="store_true",
        help="answer every request Pending and decide it in the back office (then call back)",
    )
    p.add_argument(
        "--decision-delay", type=float, default=0.0, help="seconds before a queued request is decided"
    )
    p.add_argument(
        "--misbehave", help="start misbehaving: slow, error, garbage, hold_callbacks, duplicate_callbacks"
    )
    p.add_argument("--delay", type=float, default=10.0, help="seconds for --misbehave slow")
    p.add_argument(
        "--swift-dir",
        type=Path,
        help="also answer SWIFT MT messages in this folder (the platform's swift adapter)",
    )
    p.add_argument("--quiet", action="store_true", help="no request log")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The issuer's seal is an offline CA by design: pyHanko would warn on every letter that it fetched
    # nothing.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    key = load_or_make_key(args.key or args.home / "issuer-key.pem")
    identity = Identity(
        code=args.code,
        name=args.name,
        bic=args.bic,
        private_key=key,
        audience=args.audience,
        number_prefix=args.number_prefix,
    )
    if args.public_key_out:
        args.public_key_out.write_text(identity.public_pem())
    rules = json.loads(args.rules.read_text(encoding="utf-8")) if args.rules else {}
    bank = Bank(
        args.home, identity, rules, async_decisions=args.async_decisions, decision_delay=args.decision_delay
    )
    bank.callback_url = args.callback_url
    misbehaviour = Misbehaviour()
    if args.misbehave:
        misbehaviour.set(args.misbehave, delay=args.delay)
    extra = None
    if args.swift_dir:
        from guarantees.issuer_service.swift_desk import SwiftDesk

        extra = SwiftDesk(bank, args.swift_dir, misbehaviour=misbehaviour).run_once
    worker = Worker(bank, misbehaviour=misbehaviour, extra=extra, timeout=args.callback_timeout)
    app = create_app(bank, api_key=args.api_key, control_token=args.control_token, misbehaviour=misbehaviour)
    server = make_server(args.host, args.port, app, threaded=True)
    stopping = threading.Event()

    def stop(_signum, _frame) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.start()
    print(
        f"issuer {identity.code} listening on http://{args.host}:{server.server_port} kid={identity.kid}",
        flush=True,
    )
    try:
        server.serve_forever()
    finally:
        worker.stop()
        bank.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
