"""Configuration classes, read from the environment.

`make run` uses `DevelopmentConfig` (SQLite and files under `instance/`); production sets
`EBID_CONFIG=production` and the variables listed in `ProductionConfig.REQUIRED`.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = Path(os.environ.get("EBID_INSTANCE", ROOT / "instance"))


def _duration(name: str, default: dt.timedelta) -> dt.timedelta:
    """A duration from the environment, in seconds."""
    raw = os.environ.get(name)
    return dt.timedelta(seconds=int(raw)) if raw else default


def _flag(name: str, default: bool) -> bool:
    """A yes/no setting from the environment: 1/true/yes/on or 0/false/no/off; unset: the default."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off")


def engine_options(uri: str) -> dict:
    """SQLAlchemy engine options for a database URL.

    A server database (PostgreSQL) gets `pool_pre_ping`: a pooled connection that died with a
    database restart or a network cut is noticed and replaced before a request uses it, so service
    resumes by itself once the database is back. SQLite needs nothing (the file is always there).
    """
    if uri.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": True}


class Config:
    """Defaults shared by every environment."""

    INSTANCE_PATH = INSTANCE
    SECRET_KEY = os.environ.get("SECRET_KEY")
    #: Key-encryption key (base64 of 32 bytes) that protects the platform's private keys at rest.
    KEY_ENCRYPTION_KEY = os.environ.get("KEY_ENCRYPTION_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'ebid.sqlite3'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = engine_options(SQLALCHEMY_DATABASE_URI)
    KEY_DIR = Path(os.environ.get("EBID_KEY_DIR", INSTANCE / "keys"))
    BLOB_DIR = Path(os.environ.get("EBID_BLOB_DIR", INSTANCE / "blobs"))
    PLATFORM_ORIGIN = os.environ.get("EBID_ORIGIN", "ebid.example/log")
    #: The name on the platform's seal, CA and documents.
    PLATFORM_NAME = os.environ.get("EBID_PLATFORM_NAME", "e-Bidding Platform")
    #: The platform's Chinese name, along the top of the round red seal on the documents it issues.
    PLATFORM_SEAL_NAME = os.environ.get("EBID_PLATFORM_SEAL_NAME", "电子招标投标交易平台")
    #: The documents' font, embedded as a subset in every PDF (signing/fonts.py): an OpenType or TrueType
    #: file or collection with Simplified Chinese; Debian's fonts-noto-cjk by default. The bold one (titles)
    #: defaults to the *-Bold file beside it. A missing file stops the application at start-up.
    PDF_CJK_FONT = os.environ.get("PDF_CJK_FONT") or "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    PDF_CJK_BOLD_FONT = os.environ.get("PDF_CJK_BOLD_FONT") or None
    #: An external RFC 3161 time-stamping authority; unset, the platform's own TSA stamps.
    TIMESTAMP_URL = os.environ.get("TIMESTAMP_URL") or None
    #: Where blobs live ("module:Class" with a from_config); the default is files under BLOB_DIR.
    BLOB_STORE = os.environ.get("BLOB_STORE", "core.storage:LocalBlobStore")
    #: Where deposit statuses at the opening come from ("module:Class"): guarantees/ coverage.
    DEPOSIT_STATUS_PROVIDER = os.environ.get("DEPOSIT_STATUS_PROVIDER",
                                             "guarantees.opening:DepositCoverageStatus")
    #: Where a deposit requirement's times come from ("module:Class"): the tender itself, never the office.
    TENDER_TIMES_SOURCE = os.environ.get("TENDER_TIMES_SOURCE",
                                         "bidding.deposit_times:TenderTimesFromBidding")
    #: The issuers (banks, insurers) and their adapters (guarantees/issuers.py); a JSON file path from
    #: the environment replaces the embedded default, the two in-process sandbox issuers.
    #: `credit_code` links an issuer to its organisation on the platform: that organisation's issuer
    #: staff see its applications on the issuer desk (/issuer-desk). The demo's bank (seeded as
    #: 中国建设银行股份有限公司福州分行) answers through `sandbox-bank`, which decides by itself, and
    #: `ccb-review`, whose staff decide by hand on the desk (`manual`); the demo's insurer through
    #: `sandbox-insurer`.
    GUARANTEE_ISSUERS = os.environ.get("GUARANTEE_ISSUERS_FILE") or [
        {"code": "sandbox-bank", "name": "沙箱银行 Sandbox Bank", "kind": "bank_guarantee",
         "credit_code": "91350100MA0000042Y",
         "adapter": "guarantees.adapters.sandbox:SandboxIssuer", "deposit_accounts": True,
         "settings": {"identification": "SBXBCNBJXXX", "number_prefix": "SBXBG",
                      "max_undertaking_amount": "10000000.00", "decline_grades": ["D"],
                      "premium_rates": {"A": "0.10", "B": "0.15", "C": "0.30"}, "minimum_premium": "100.00"}},
        {"code": "sandbox-insurer", "name": "沙箱保险 Sandbox Insurance", "kind": "guarantee_insurance",
         "credit_code": "91350100MA0000077H",
         "adapter": "guarantees.adapters.sandbox:SandboxIssuer",
         "settings": {"identification": "SBXICNSHXXX", "number_prefix": "SBXGI",
                      "max_undertaking_amount": "5000000.00", "decline_grades": ["C", "D"],
                      "premium_rates": {"A": "0.20", "B": "0.30"}, "minimum_premium": "200.00"}},
        {"code": "ccb-review", "name": "建设银行福州分行 CCB Fuzhou",
         "kind": "bank_guarantee", "credit_code": "91350100MA0000042Y",
         "adapter": "guarantees.adapters.sandbox:SandboxIssuer",
         "settings": {"identification": "PCBCCNBJFZX", "number_prefix": "CCBFZ", "manual": True,
                      "max_undertaking_amount": "10000000.00", "decline_grades": ["D"],
                      "premium_rates": {"A": "0.10", "B": "0.15", "C": "0.30"}, "minimum_premium": "100.00"}},
    ]
    #: The issuer code of the bank keeping cash deposits' virtual sub-accounts (unset: the first that can).
    CASH_DEPOSIT_BANK = os.environ.get("CASH_DEPOSIT_BANK") or None
    #: Interest paid on refunded cash deposits, percent a year, ACT/360 (PBoC demand-deposit benchmark).
    CASH_DEPOSIT_INTEREST_RATE = os.environ.get("CASH_DEPOSIT_INTEREST_RATE", "0.35")
    #: A replay store for issuer callbacks ("module:Class" with from_config), handed to the adapters.
    GUARANTEE_REPLAY_STORE = os.environ.get("GUARANTEE_REPLAY_STORE") or None
    #: Origins, besides the platform's own, whose pages may open Socket.IO connections (a proxy's
    #: public name, space-separated). Empty: same origin only.
    SOCKETIO_ALLOWED_ORIGINS = os.environ.get("SOCKETIO_ALLOWED_ORIGINS", "").split() or None
    #: Decrypt envelopes in the calling thread instead of the process pool (tests, the demo, and the
    #: job workers of the production topology, which are themselves the pool: docs/deployment.md).
    OPENING_SYNC_DECRYPTION = _flag("OPENING_SYNC_DECRYPTION", False)
    #: Minutes the custodians' remedy lasts after the decryption window; unset: the tender's own window.
    OPENING_REMEDY_MINUTES = os.environ.get("OPENING_REMEDY_MINUTES") or None

    # Several processes (docs/deployment.md). Unset REDIS_URL: the embedded default, one process, no Redis.
    #: Redis, e.g. redis://127.0.0.1:6379/0: the Socket.IO message queue, the job broker and the
    #: rate limits' counters unless the settings below name others.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    #: Where Socket.IO events pass between processes (python-socketio's Redis manager), so that any
    #: process can emit to any room. Unset: REDIS_URL; neither: this process's own rooms only.
    SOCKETIO_MESSAGE_QUEUE = os.environ.get("SOCKETIO_MESSAGE_QUEUE") or REDIS_URL
    #: Where jobs run: `embedded` (the scheduler's thread in this process) or `dramatiq` (job workers
    #: fed through REDIS_URL). Unset: `dramatiq` when REDIS_URL is set, else `embedded`.
    JOB_QUEUE = os.environ.get("JOB_QUEUE") or ("dramatiq" if REDIS_URL else "embedded")
    #: Seconds after a job worker's last heartbeat before its unfinished jobs go to another worker.
    #: 15 s, not Dramatiq's 60: a bid's decryption lost with a worker resumes within the ceremony's
    #: attention span; a live worker heartbeats every few seconds, and a job run twice does no harm.
    JOB_HEARTBEAT_TIMEOUT = float(os.environ.get("JOB_HEARTBEAT_TIMEOUT", "15"))
    #: What delivers the notifications' outbox (`module:Class`, docs/notifications.md "Senders"): by
    #: default one JSON line per message in NOTIFICATION_OUTBOX_DIR (unset: <instance>/outbox).
    NOTIFICATION_SENDER = os.environ.get("NOTIFICATION_SENDER") or "notifications.senders:FileSender"
    NOTIFICATION_OUTBOX_DIR = os.environ.get("NOTIFICATION_OUTBOX_DIR") or None

    # Requests: the size limit covers forms and JSON; envelope uploads stream with their own limit.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 2 * 1024 * 1024))
    #: The largest sealed envelope accepted, in bytes (it streams to disk, never into memory).
    MAX_ENVELOPE_SIZE = int(os.environ.get("MAX_ENVELOPE_SIZE", 2 * 1024 * 1024 * 1024))
    #: How long a resumable upload may stay unfinished; it also ends at the tender's deadline.
    UPLOAD_EXPIRY = _duration("UPLOAD_EXPIRY", dt.timedelta(hours=24))
    #: Where unfinished resumable uploads wait; unset, `uploads/` in the instance folder.
    UPLOAD_DIR = os.environ.get("EBID_UPLOAD_DIR") or None

    # Sessions and login.
    PERMANENT_SESSION_LIFETIME = _duration("SESSION_LIFETIME", dt.timedelta(minutes=30))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = dt.timedelta(0)
    # Rate limits per client address (app/limits.py), Flask-Limiter strings ("N per minute; M per hour").
    # No account is ever locked: an address that fails too often is told to wait (429, Retry-After).
    #: Refused sign-ins one address may make, on the form and at POST /api/auth/token together.
    SIGN_IN_RATE_LIMIT = os.environ.get("SIGN_IN_RATE_LIMIT", "10 per minute; 50 per hour")
    #: Resumable envelope uploads one address may begin.
    UPLOAD_START_RATE_LIMIT = os.environ.get("UPLOAD_START_RATE_LIMIT", "30 per minute; 300 per hour")
    #: Where the counters live: memory:// (one process) or a shared store, e.g. redis://host:6379/0
    #: (which needs the `redis` package), when several processes serve the platform.
    #: Unset: REDIS_URL when it is set, else memory://.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = True
    #: Reverse proxies in front of the platform whose X-Forwarded-For/-Proto are believed (0: none). The
    #: rate limits and the audit log count the address they report, so set it behind a proxy.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    # Response headers (app/security.py).
    #: The platform's public address, e.g. https://ebid.example: the CSP's connect-src names it (and its
    #: wss:// twin) and no other host. Unset: the address each request came to.
    PUBLIC_URL = os.environ.get("PUBLIC_URL") or None
    #: What the Server header says on every response, in place of the web server's name and version.
    SERVER_HEADER = os.environ.get("SERVER_HEADER", "ebid")
    #: Strict-Transport-Security; unset: not sent (development serves plain HTTP).
    STRICT_TRANSPORT_SECURITY = os.environ.get("STRICT_TRANSPORT_SECURITY") or None
    API_TOKEN_LIFETIME = _duration("API_TOKEN_LIFETIME", dt.timedelta(minutes=15))
    API_AUDIENCE = "ebid-api"
    WTF_CSRF_TIME_LIMIT = None  # the session's own lifetime bounds the token

    # Tendering rules (Law of the PRC on Tendering and Bidding, art. 24; Implementing
    # Regulations art. 21): at least 20 days from publication to the submission deadline, and a
    # clarification or amendment at least 15 days before it, else the deadline moves.
    MIN_BIDDING_PERIOD = _duration("MIN_BIDDING_PERIOD", dt.timedelta(days=20))
    MIN_AMENDMENT_NOTICE = _duration("MIN_AMENDMENT_NOTICE", dt.timedelta(days=15))
    #: Questions on a tender (答疑) close this long before its bid deadline (Implementing Regulations
    #: art. 22: objections to the documents at least 10 days before it). Unset: two thirds of
    #: MIN_AMENDMENT_NOTICE (10 of 15 days), so a demo that compresses the periods compresses this too.
    CLARIFICATION_QUESTION_CUTOFF = (_duration("CLARIFICATION_QUESTION_CUTOFF", dt.timedelta(days=10))
                                     if os.environ.get("CLARIFICATION_QUESTION_CUTOFF") else None)
    #: The largest tender document or attachment accepted, in bytes (docs/tendering.md).
    TENDER_DOCUMENT_MAX_BYTES = int(os.environ.get("TENDER_DOCUMENT_MAX_BYTES", 50 * 1000 * 1000))
    #: An expert who sat on a panel for the same tenderee within this many days is not drawn again.
    EXPERT_RECENT_PANEL_DAYS = int(os.environ.get("EXPERT_RECENT_PANEL_DAYS", "90"))
    #: How long one day of a tender's publicity period lasts (`publicity_days` × this): a day, but the
    #: demo compresses it like the periods above (Implementing Regulations art. 54: at least 3 days).
    PUBLICITY_DAY = _duration("PUBLICITY_DAY", dt.timedelta(days=1))
    #: Cap on a bid deposit as a percentage of the estimated price (Implementing Regulations art. 26).
    DEPOSIT_CAP_PERCENT = os.environ.get("DEPOSIT_CAP_PERCENT", "2")

    # Languages: the demo speaks Chinese first.
    LANGUAGES = ("zh_CN", "en")
    BABEL_DEFAULT_LOCALE = os.environ.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "Asia/Shanghai")
    BABEL_TRANSLATION_DIRECTORIES = str(ROOT / "app" / "translations")

    #: Settings without which the application refuses to start.
    REQUIRED = ("SECRET_KEY", "KEY_ENCRYPTION_KEY", "SQLALCHEMY_DATABASE_URI")


class DevelopmentConfig(Config):
    """The embedded default: SQLite and local files under `instance/`; secrets made on first run."""

    ENV_NAME = "development"
    DEBUG = False


class TestConfig(Config):
    """The test suite; `TEST_DATABASE_URL` picks PostgreSQL instead of the default SQLite."""

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    SQLALCHEMY_ENGINE_OPTIONS = engine_options(SQLALCHEMY_DATABASE_URI)
    WTF_CSRF_ENABLED = True
    #: The suite signs in and out thousands of times from one address; rate-limit tests set their own.
    SIGN_IN_RATE_LIMIT = "100000 per minute"
    UPLOAD_START_RATE_LIMIT = "100000 per minute"
    OPENING_SYNC_DECRYPTION = True


class ProductionConfig(Config):
    """Production: PostgreSQL, secrets from the environment, secure cookies."""

    ENV_NAME = "production"
    #: Cookies only over HTTPS. `SESSION_COOKIE_SECURE=0` is for a cluster on one machine that serves
    #: plain http://127.0.0.1 (`make cluster`); a deployment behind TLS never sets it.
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE", True)
    STRICT_TRANSPORT_SECURITY = os.environ.get("STRICT_TRANSPORT_SECURITY",
                                               "max-age=31536000; includeSubDomains")
    REQUIRED = (*Config.REQUIRED, "DATABASE_URL")
    DATABASE_URL = os.environ.get("DATABASE_URL")


CONFIGS = {"development": DevelopmentConfig, "test": TestConfig, "production": ProductionConfig}
