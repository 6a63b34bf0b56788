"""A reference issuer: a stand-in for a bank or insurer's e-guarantee gateway, run as its own process.

`python -m guarantees.issuer_service --port 5811 --db issuer.sqlite3 --callback-url URL` serves the
REST API the platform's `http` adapter speaks (bank.py keeps the books, web.py answers, worker.py
decides and pushes signed callbacks) and, with `--swift-dir`, answers MT messages in a folder for
the `swift` adapter (swift_desk.py). It is not part of the platform: the platform only knows it by
its URL, its API key and the public key it pins. docs/guarantees.md describes the exchange.
"""
