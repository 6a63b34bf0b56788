"""Issue 7's cash-release report over millions of deposits and guarantees, on SQLite and PostgreSQL.

A fresh database (schema by migrations) is filled with generated tenders, deposit requirements and
instruments: accepted guarantees (bank guarantees and guarantee insurance from several issuers), credit
waivers and cash receipts, spread over 24 months, 30 regions and 200 tendering offices. Then the
platform's report (`guarantees.cash_release.report` and its breakdowns by every dimension) is timed
beside a hand-written SQL GROUP BY computing the same figures, in alternating rounds of the same run;
the two are checked to agree to the cent before any time is printed.

PostgreSQL is measured when `EBID_BENCH_POSTGRES_URL` names a database the benchmark may wipe.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from benchmarks import benchmark
from benchmarks.common import Report, Run, side_by_side

#: Instruments per full run (the issue's 2 million), and per quick run.
FULL, QUICK = 2_000_000, 6_000
BIDDERS_PER_TENDER = 10
OFFICES, REGIONS, BIDDERS = 200, 30, 5_000
ISSUERS = ("icbc", "boc", "ccb", "picc", "cpic", "sandbox")
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _kek() -> str:
    import base64

    return base64.b64encode(os.urandom(32)).decode()


@contextmanager
def _platform(directory: Path, url: str) -> Iterator[object]:
    """The real app on an empty database (wiped first), schema by migrations, inside an app context."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app
    from config import TestConfig
    from core.extensions import db

    app = create_app(TestConfig, INSTANCE_PATH=str(directory), SQLALCHEMY_DATABASE_URI=url,
                     KEY_DIR=directory / "keys", BLOB_DIR=directory / "blobs", KEY_ENCRYPTION_KEY=_kek())
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        logging.disable(logging.INFO)
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def _fill(instruments: int, *, seed: int = 7) -> dict[str, int]:
    """Generated organisations, tenders, requirements and `instruments` instruments; returns counts."""
    from sqlalchemy import insert

    from bidding.models import Tender
    from core.extensions import db
    from core.models import Organisation, User
    from guarantees.models import (
        CashAccount,
        CashMovement,
        CreditRating,
        DepositRequirement,
        Guarantee,
        Waiver,
        WaiverRule,
    )

    rng = random.Random(seed)  # noqa: S311 - reproducible generated data, not a secret
    conn = db.session.connection()
    orgs = [{"id": i, "name": f"Org {i}", "credit_code": f"91110000{i:010d}", "region": "110000",
             "kind": "tendering_office" if i <= OFFICES else "bidder"}
            for i in range(1, OFFICES + BIDDERS + 1)]
    conn.execute(insert(Organisation), _complete(Organisation, orgs))
    conn.execute(insert(User), _complete(User, [{"id": 1, "username": "bench", "organisation_id": 1,
                                                   "role": "tendering_office"}]))
    tenders = instruments // BIDDERS_PER_TENDER
    regions = [f"{110000 + 100 * r}" for r in range(REGIONS)]
    now = dt.datetime.now(dt.UTC)
    t_rows, r_rows = [], []
    for t in range(1, tenders + 1):
        deadline = START + dt.timedelta(minutes=rng.randrange(0, 730 * 24 * 60))
        office = rng.randrange(1, OFFICES + 1)
        deposit = Decimal(rng.randrange(1_000_00, 800_000_00)) / 100
        region = rng.choice(regions)
        t_rows.append({"id": t, "reference": f"B{t:09d}", "title": "t", "description": "", "region": region,
                       "tendering_office_id": office, "state": "awarded", "estimated_amount": deposit * 50,
                       "currency": "CNY", "deposit_amount": deposit, "submission_deadline": deadline,
                       "opening_time": deadline, "bid_validity_days": 90,
                       "evaluation_method": "comprehensive_scoring", "created_by_id": 1, "created_at": now})
        r_rows.append({"id": t, "tender_id": t, "tender_reference": f"B{t:09d}", "tenderee_id": office,
                       "jurisdiction": region, "project_type": "works", "estimated_amount": deposit * 50,
                       "deposit_amount": deposit, "currency": "CNY", "submission_deadline": deadline,
                       "opening_time": deadline, "bid_validity_end": deadline + dt.timedelta(days=90),
                       "outcome": "contract_signed",
                       "outcome_at": deadline + dt.timedelta(days=rng.randrange(20, 90)),
                       "created_at": now, "updated_at": now})
    for batch in _batches(t_rows):
        conn.execute(insert(Tender), _complete(Tender, batch))
    for batch in _batches(r_rows):
        conn.execute(insert(DepositRequirement), _complete(DepositRequirement, batch))
    conn.execute(insert(WaiverRule), _complete(WaiverRule, [{
        "id": 1, "jurisdiction": "110000", "rating_scheme": "bench", "grade": "AAA", "reduction_percent": 50,
        "source": "bench", "valid_from": dt.date(2020, 1, 1), "created_at": now}]))
    g_rows, w_rows, a_rows, m_rows, ratings = [], [], [], [], {}
    counts = {"guarantees": 0, "waivers": 0, "cash": 0, "tenders": tenders}
    for t in range(1, tenders + 1):
        deposit = r_rows[t - 1]["deposit_amount"]
        bidders = rng.sample(range(OFFICES + 1, OFFICES + BIDDERS + 1), BIDDERS_PER_TENDER)
        for bidder in bidders:
            kind = rng.random()
            if kind < 0.62:
                n = len(g_rows) + 1
                g_rows.append({
                    "id": n, "requirement_id": t, "organisation_id": bidder,
                    "issuer_code": rng.choice(ISSUERS),
                    "instrument": rng.choice(("bank_guarantee", "guarantee_insurance")), "state": "released",
                    "idempotency_key": f"k{n}", "undertaking_identification": f"G{n}", "applicant_name": "a",
                    "applicant_identification": "x", "beneficiary_name": "b",
                    "beneficiary_identification": "y",
                    "issuer_name": "i", "undertaking_amount": deposit, "currency": "CNY",
                    "expiry_date": dt.date(2027, 1, 1), "governing_rules": "URDG758", "accepted": True,
                    "applied_at": now, "closed_at": r_rows[t - 1]["outcome_at"] + dt.timedelta(days=3),
                    "amendment_count": 0})
                counts["guarantees"] += 1
            elif kind < 0.85:
                rating = ratings.setdefault(bidder, len(ratings) + 1)
                n = len(w_rows) + 1
                w_rows.append({"id": n, "reference": f"W{n}", "requirement_id": t, "organisation_id": bidder,
                               "rating_id": rating, "rule_id": 1, "reduction_percent": 50,
                               "amount": (deposit / 2).quantize(Decimal("0.01")), "currency": "CNY",
                               "granted_at": now})
                counts["waivers"] += 1
            else:
                n = len(a_rows) + 1
                a_rows.append({"id": n, "requirement_id": t, "organisation_id": bidder,
                               "account_number": f"{n:016d}", "currency": "CNY", "bank_code": "icbc",
                               "created_at": now})
                m_rows.append({"id": n, "account_id": n, "kind": "receipt", "amount": deposit,
                               "currency": "CNY", "value_date": dt.date(2025, 1, 1),
                               "bank_reference": f"R{n}",
                               "source": "statement",
                               "recorded_at": now})
                counts["cash"] += 1
    conn.execute(insert(CreditRating), _complete(CreditRating, [
        {"id": i, "credit_code": f"91110000{b:010d}", "organisation_name": "x", "rating_scheme": "bench",
         "grade": "AAA", "valid_from": dt.date(2020, 1, 1), "source": "bench", "created_at": now}
        for b, i in ratings.items()]))
    for model, rows in ((Guarantee, g_rows), (Waiver, w_rows), (CashAccount, a_rows), (CashMovement, m_rows)):
        for batch in _batches(rows):
            conn.execute(insert(model), _complete(model, batch))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy import text

        with db.engine.connect() as c:
            c.execute(text("ANALYZE"))
    else:
        from sqlalchemy import text

        with db.engine.connect() as c:
            c.execute(text("ANALYZE"))
    return counts


def _complete(model, rows: list[dict]) -> list[dict]:
    """Rows with every NOT NULL column the generator does not care about given a harmless value."""
    from sqlalchemy import Boolean, Date, DateTime, Integer, Numeric, String, Text

    filler: dict[str, object] = {}
    for column in model.__table__.columns:
        if column.nullable or column.primary_key or column.server_default is not None:
            continue
        if column.default is not None:  # the insert applies the model's own defaults
            continue
        kind = column.type
        for types, value in (((Boolean,), False), ((Integer,), 0), ((Numeric,), 0),
                             ((DateTime,), START), ((Date,), START.date()), ((String, Text), "x")):
            if isinstance(kind, types) or isinstance(getattr(kind, "impl", None), types):
                filler[column.name] = value
                break
    return [{**filler, **row} for row in rows]


def _batches(rows: list[dict], size: int = 20_000) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


# The reference: the same figures written by hand as SQL, per dialect.
def _hand_sql(dialect: str) -> tuple[str, str]:
    if dialect == "sqlite":
        month = "strftime('%Y-%m', r.submission_deadline, '+8 hours')"
        day = "CAST(julianday(date({0}, '+8 hours')) AS INTEGER)"
    else:
        month = "to_char(r.submission_deadline AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"
        day = "((({0}) AT TIME ZONE 'Asia/Shanghai')::date - DATE '2000-01-01')"
    components = """
        SELECT requirement_id, organisation_id, 'waiver' AS instrument, '' AS issuer,
               CAST(round(amount * 100) AS BIGINT) AS cents, NULL AS released_at FROM deposit_waivers
        UNION ALL
        SELECT requirement_id, organisation_id, instrument, issuer_code,
               CAST(round(undertaking_amount * 100) AS BIGINT), closed_at FROM guarantees
        WHERE accepted AND state IN ('issued','amended','demanded','paid','rejected','released','expired')
        UNION ALL
        SELECT a.requirement_id, a.organisation_id, 'cash', a.bank_code,
               CAST(round(m.amount * 100) AS BIGINT), NULL
        FROM cash_accounts a JOIN cash_movements m ON m.account_id = a.id WHERE m.kind = 'receipt'
    """
    released = day.format("COALESCE(c.released_at, r.outcome_at, :as_of)")
    start = day.format("r.submission_deadline")
    # Only the fragments above go into the text (no input): S608 does not apply.
    instruments = f"""
        SELECT {month} AS month, r.jurisdiction, r.tenderee_id, r.currency, c.instrument, c.issuer, count(*),
               sum(c.cents),
               sum(CASE WHEN c.instrument <> 'cash' THEN c.cents * (CASE WHEN {released} - {start} < 0 THEN 0
                   ELSE {released} - {start} END) ELSE 0 END)
        FROM ({components}) c JOIN deposit_requirements r ON r.id = c.requirement_id
        WHERE r.opening_time <= :opened_by
        GROUP BY 1, 2, 3, 4, 5, 6
    """  # noqa: S608
    cases = f"""
        SELECT {month} AS month, r.jurisdiction, r.tenderee_id, r.currency, count(*),
               sum(CAST(round(r.deposit_amount * 100) AS BIGINT)), sum(k.cash), sum(k.waived),
               sum(k.guaranteed),
               sum(CASE WHEN k.waived + k.guaranteed < CAST(round(r.deposit_amount * 100) AS BIGINT)
                        THEN k.waived + k.guaranteed ELSE CAST(round(r.deposit_amount * 100) AS BIGINT) END),
               sum(CASE WHEN k.cash = 0
                         AND k.waived + k.guaranteed >= CAST(round(r.deposit_amount * 100) AS BIGINT)
                        THEN 1 ELSE 0 END)
        FROM (SELECT requirement_id, organisation_id,
                     sum(CASE WHEN instrument = 'cash' THEN cents ELSE 0 END) AS cash,
                     sum(CASE WHEN instrument = 'waiver' THEN cents ELSE 0 END) AS waived,
                     sum(CASE WHEN instrument IN ('bank_guarantee', 'guarantee_insurance')
                              THEN cents ELSE 0 END)
                         AS guaranteed
              FROM ({components}) c GROUP BY requirement_id, organisation_id) k
        JOIN deposit_requirements r ON r.id = k.requirement_id
        WHERE r.opening_time <= :opened_by
        GROUP BY 1, 2, 3, 4
    """  # noqa: S608
    return cases, instruments


def _by_hand(as_of: dt.datetime) -> tuple[list, list]:
    from sqlalchemy import text

    from core.extensions import db

    conn = db.session.connection()
    dialect = conn.dialect.name
    cases, instruments = _hand_sql(dialect)
    # Requirements whose opening has not come (by the report's date and the clock) are left out.
    opened_by = min(as_of, dt.datetime.now(dt.UTC))
    bound, opened = (
        (as_of.replace(tzinfo=None).isoformat(sep=" "), opened_by.replace(tzinfo=None).isoformat(sep=" "))
        if dialect == "sqlite" else (as_of, opened_by)
    )
    return (conn.execute(text(cases), {"opened_by": opened}).all(),
            conn.execute(text(instruments), {"as_of": bound, "opened_by": opened}).all())


def _ours(as_of: dt.datetime) -> object:
    from guarantees import cash_release

    result = cash_release.report(as_of=as_of)
    return [result.by(d) for d in (None, *cash_release.DIMENSIONS)]


def _one(report: Report, label: str, url: str, instruments: int, repeat: int) -> None:
    from guarantees import cash_release

    with tempfile.TemporaryDirectory(prefix="ebid-bench-") as tmp, _platform(Path(tmp), url):
        started = time.perf_counter()
        counts = _fill(instruments)
        filled = time.perf_counter() - started
        as_of = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)
        ours = cash_release.report(as_of=as_of)
        cases, inst = _by_hand(as_of)
        total = ours.totals().iloc[0]
        if int(total["required"]) != sum(int(r[5]) for r in cases) or \
                int(total["capital_cent_days"]) != sum(int(r[8]) for r in inst) or \
                int(total["released_liquidity"]) != sum(int(r[7]) + int(r[8]) for r in cases):
            raise RuntimeError("the platform's report and the hand-written SQL disagree: nothing to compare")
        t_ours, t_hand = side_by_side(Run(lambda: _ours(as_of)), Run(lambda: _by_hand(as_of)), repeat=repeat)
        report.compare(f"cash-release report, {label}, {instruments:,} instruments", t_ours.best, t_hand.best,
                       unit="seconds", against="hand-written SQL GROUP BY of the same figures")
        report.note(f"{label}: {counts['tenders']:,} tenders; {counts['guarantees']:,} guarantees, "
                    f"{counts['waivers']:,} waivers, {counts['cash']:,} cash deposits; generated and loaded "
                    f"in {filled:,.1f} s; ours = report + totals + breakdowns by "
                    f"{', '.join(cash_release.DIMENSIONS)}; "
                    f"best of {repeat}")


@benchmark("guarantees.cash_release", title="Cash-release report over millions of deposits and guarantees",
           comparison="ours: guarantees.cash_release.report and its breakdown by every dimension · "
                      "reference: the same figures as hand-written SQL GROUP BY queries, same database, "
                      "same run (goal: within 2×)")
def cash_release_report(report: Report, quick: bool) -> None:
    instruments = QUICK if quick else FULL
    repeat = 2 if quick else 3
    with tempfile.TemporaryDirectory(prefix="ebid-bench-") as tmp:
        _one(report, "SQLite", f"sqlite:///{Path(tmp) / 'cash.sqlite3'}", instruments, repeat)
    url = os.environ.get("EBID_BENCH_POSTGRES_URL")
    if url:
        _one(report, "PostgreSQL", url, instruments, repeat)
    else:
        report.note("PostgreSQL skipped: set EBID_BENCH_POSTGRES_URL to a database the benchmark may wipe")
