"""The collusion and risk signals' rules: plain functions over plain facts, no database, no Flask.

`supervision/signals.py` gathers the facts of one tender (and, for the history-based rules, of the
platform's other opened tenders) and turns each `Finding` into a signal with its title, explanation and
evidence links. Every rule, its threshold and its source (the law or the Open Contracting Partnership's
Cardinal) is described in docs/supervision.md, "Collusion and risk signals". A finding never acts.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import combinations
from typing import Any

HIGH, MEDIUM, LOW = "high", "medium", "low"

#: Bid opening states that are "disqualified" in Cardinal's sense: the bid was not opened by its
#: bidder's fault (no key handed over: revoked; the envelope did not verify: failed). A platform fault is not.
DISQUALIFIED = frozenset({"revoked", "failed"})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Settings:
    """Thresholds; each can be set in the configuration as SIGNALS_<NAME> (e.g. SIGNALS_CLOSE_SPREAD)."""

    #: Prices are abnormally close when (highest - lowest) / lowest of 3+ bids is below this.
    close_spread: Decimal = Decimal("0.01")
    #: Prices step regularly when 3+ sorted prices have differences equal within this (currency units)...
    step_tolerance: Decimal = Decimal("0.01")
    #: ... or ratios equal within this.
    ratio_tolerance: Decimal = Decimal("0.0001")
    #: Cover bidding: a losing price above this multiple of the lot's estimate ...
    cover_ratio: Decimal = Decimal("1.3")
    #: ... while the winning price is within this fraction of the estimate.
    cover_winner_within: Decimal = Decimal("0.10")
    #: The same group of bidders meets in at least this many tenders (this one included).
    group_meetings: int = 3
    #: The smallest group the meeting rule looks at.
    group_size: int = 3
    #: Bid rotation: at least this many awarded meetings of a group of 2+ bidders.
    rotation_meetings: int = 3
    #: Cardinal R024/R058: the fences' fallback thresholds when the platform has too few awarded lots.
    r024_threshold: Decimal = Decimal("0.01")
    r058_threshold: Decimal = Decimal("0.25")
    #: Cardinal's fences (Q1 - 1.5 IQR, Q3 + 1.5 IQR) are used from this many awarded lots on.
    fence_sample: int = 8
    #: Cardinal R038: a bidder with at least this many bids and this ratio of disqualified bids.
    r038_minimum_bids: int = 2
    r038_threshold: Decimal = Decimal("0.5")
    #: Cardinal R025: without enough tenderers for the quartiles, a "top tenderer" has this many valid bids
    #: and is flagged at or below this win ratio.
    r025_minimum_bids: int = 5
    r025_threshold: Decimal = Decimal("0.05")
    #: Cardinal R003: a submission period shorter than this many days.
    r003_days: int = 15

    @classmethod
    def from_config(cls, config: Any) -> Settings:
        values: dict[str, Any] = {}
        for name, default in cls().__dict__.items():
            key = f"SIGNALS_{name.upper()}"
            if key in config:
                values[name] = type(default)(config[key])
        return cls(**values)


@dataclass(frozen=True)
class BidFacts:
    """One bid of the tender as the signals see it."""

    bid_id: int
    organisation_id: int
    organisation: str
    credit_code: str
    lot: int
    #: The bid opening's state (opened, revoked, failed, platform_fault, ...).
    state: str
    price: Decimal | None = None
    network: str | None = None
    device: str | None = None
    #: As recorded at the opening: [{"name", "size", "sha256", "pdf"}].
    documents: tuple[dict[str, Any], ...] = ()
    #: The accounts its cash deposit came from or goes back to.
    deposit_accounts: frozenset[str] = frozenset()
    #: Who applied for its guarantees: "user:<id>" (the platform user) and "id:<identification>".
    guarantee_applicants: frozenset[str] = frozenset()
    submitted_at: dt.datetime | None = None


@dataclass(frozen=True)
class LotFacts:
    tender_id: int
    number: int
    estimated: Decimal
    bids: tuple[BidFacts, ...]
    #: The awarded bid, if any.
    award_bid_id: int | None = None
    #: When the opening happened (orders the history).
    opened_at: dt.datetime | None = None

    @property
    def opened(self) -> list[BidFacts]:
        return [b for b in self.bids if b.state == "opened" and b.price is not None]

    @property
    def winner(self) -> BidFacts | None:
        return next((b for b in self.bids if b.bid_id == self.award_bid_id), None)


@dataclass(frozen=True)
class TenderFacts:
    tender_id: int
    lots: tuple[LotFacts, ...]
    published_at: dt.datetime | None = None
    submission_deadline: dt.datetime | None = None
    procurement_method: str = "open_tendering"
    #: Digests of the tender's own published documents (forms every bidder may hand back unchanged).
    tender_documents: frozenset[str] = frozenset()


@dataclass
class Finding:
    """A signal before it is worded: which rule fired, on which bids, with which numbers."""

    code: str
    severity: str
    bids: tuple[int, ...]
    organisations: tuple[int, ...]
    numbers: dict[str, Any] = field(default_factory=dict)
    #: Extra evidence besides the bids' own records: [{"kind": ..., ...}].
    evidence: list[dict[str, Any]] = field(default_factory=list)
    lot: int | None = None


def _finding(code: str, severity: str, bids: Iterable[BidFacts], lot: int | None = None,
             **numbers: Any) -> Finding:
    chosen = sorted({b.bid_id: b for b in bids}.values(), key=lambda b: b.bid_id)
    return Finding(code, severity, tuple(b.bid_id for b in chosen),
                   tuple(dict.fromkeys(b.organisation_id for b in chosen)), numbers, lot=lot)


def _shared(bids: Iterable[BidFacts], values) -> dict[Any, list[BidFacts]]:
    """Value -> the bids of 2+ different organisations that share it."""
    holders: dict[Any, dict[int, BidFacts]] = defaultdict(dict)
    for bid in bids:
        for value in values(bid):
            if value:
                holders[value].setdefault(bid.organisation_id, bid)
    return {value: list(found.values()) for value, found in holders.items() if len(found) > 1}


def _all_bids(tender: TenderFacts) -> list[BidFacts]:
    return [b for lot in tender.lots for b in lot.bids]


# -- the statutory "deemed collusion" situations the platform can see (招标投标法实施条例 第四十条) --------


def same_documents(tender: TenderFacts) -> list[Finding]:
    """Identical documents (SHA-256) in the envelopes of different bidders (art. 40 (1): made by the same
    unit or person). The tender's own published documents are left out."""
    found = []
    shared = _shared(_all_bids(tender), lambda b: {d.get("sha256") for d in b.documents
                                                    if d.get("sha256") and d.get("size")})
    for digest, bids in sorted(shared.items()):
        if digest in tender.tender_documents:
            continue
        names = sorted({d["name"] for b in bids for d in b.documents if d.get("sha256") == digest})
        found.append(_finding("same_document", HIGH, bids, sha256=digest, names=", ".join(names),
                              count=len(bids)))
    return found


def _pdf_values(bid: BidFacts, key: str) -> set[str]:
    return {str(d["pdf"][key]).strip() for d in bid.documents
            if isinstance(d.get("pdf"), dict) and str(d["pdf"].get(key) or "").strip()}


#: Author strings that office software writes by default: shared by strangers, so they are no signal.
GENERIC_AUTHORS = frozenset({
    "administrator", "admin", "user", "owner", "unknown", "microsoft", "microsoft office",
    "microsoft office user", "microsoft 用户", "微软用户", "用户", "作者", "dell", "lenovo", "hp", "pc",
    "thinkpad", "windows 用户", "windows user",
})


def same_pdf_author(tender: TenderFacts) -> list[Finding]:
    """The same PDF Author across bidders (art. 40 (1): documents made by the same person); the default names
    office software writes (GENERIC_AUTHORS, compared without case) are left out."""
    shared = _shared(_all_bids(tender), lambda b: {a for a in _pdf_values(b, "author")
                                                   if a.casefold() not in GENERIC_AUTHORS})
    return [_finding("same_pdf_author", HIGH, bids, author=author, count=len(bids))
            for author, bids in sorted(shared.items())]


def same_pdf_software(tender: TenderFacts) -> list[Finding]:
    """The same PDF Creator and Producer pair across bidders: weak alone (common software writes the same
    strings), shown with low severity as a pointer for the supervisor."""

    def pairs(bid: BidFacts) -> set[tuple[str, str]]:
        found = set()
        for d in bid.documents:
            pdf = d.get("pdf")
            if isinstance(pdf, dict):
                creator = str(pdf.get("creator") or "").strip()
                producer = str(pdf.get("producer") or "").strip()
                if creator and producer:
                    found.add((creator, producer))
        return found

    shared = _shared(_all_bids(tender), pairs)
    return [_finding("same_pdf_software", LOW, bids, creator=c, producer=p, count=len(bids))
            for (c, p), bids in sorted(shared.items())]


def foreign_documents(tender: TenderFacts) -> list[Finding]:
    """One bidder's documents inside another's envelope: a document of bidder B whose name or PDF author
    names bidder A (its name or unified social credit code). art. 40 (5)."""
    found = []
    bids = _all_bids(tender)
    for holder in bids:
        for other in bids:
            if other.organisation_id == holder.organisation_id:
                continue
            marks = [m for m in (other.organisation.strip(), other.credit_code) if len(m) >= 4]
            for doc in holder.documents:
                author = str((doc.get("pdf") or {}).get("author") or "") if isinstance(doc.get("pdf"), dict) \
                    else ""
                hit = next((m for m in marks if m in str(doc.get("name", "")) or m in author), None)
                if hit:
                    found.append(_finding("foreign_document", HIGH, [holder, other],
                                          holder=holder.organisation, owner=other.organisation,
                                          name=doc.get("name"), mark=hit))
                    break
    return found


def same_network(tender: TenderFacts) -> list[Finding]:
    """Bids of different bidders submitted from the same network address (recorded as a keyed digest)."""
    shared = _shared(_all_bids(tender), lambda b: {b.network})
    return [_finding("same_network", MEDIUM, bids, count=len(bids), digest=value[:12])
            for value, bids in sorted(shared.items())]


def same_device(tender: TenderFacts) -> list[Finding]:
    """Bids of different bidders submitted from the same device (User-Agent and Accept-Language)."""
    shared = _shared(_all_bids(tender), lambda b: {b.device})
    return [_finding("same_device", LOW, bids, count=len(bids), digest=value[:12])
            for value, bids in sorted(shared.items())]


def same_deposit_account(tender: TenderFacts) -> list[Finding]:
    """Cash deposits paid from (or refunded to) the same account for different bidders (art. 40 (6))."""
    shared = _shared(_all_bids(tender), lambda b: b.deposit_accounts)
    return [_finding("same_deposit_account", HIGH, bids, account=_mask(account), count=len(bids))
            for account, bids in sorted(shared.items())]


def same_guarantee_applicant(tender: TenderFacts) -> list[Finding]:
    """Guarantees for different bidders applied for by the same person or identification (art. 40 (6))."""
    shared = _shared(_all_bids(tender), lambda b: b.guarantee_applicants)
    return [_finding("same_guarantee_applicant", HIGH, bids, applicant=applicant, count=len(bids))
            for applicant, bids in sorted(shared.items())]


def _mask(account: str) -> str:
    return account if len(account) <= 8 else f"{account[:4]}…{account[-4:]}"


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(Decimal('0.01'))}%"


def close_prices(tender: TenderFacts, settings: Settings) -> list[Finding]:
    """3+ opened prices of a lot whose relative spread (highest - lowest) / lowest is below the threshold."""
    found = []
    for lot in tender.lots:
        opened = lot.opened
        if len(opened) < 3:
            continue
        low, high = min(b.price for b in opened), max(b.price for b in opened)  # type: ignore[type-var]
        if not low:
            continue
        spread = (high - low) / low  # type: ignore[operator]
        if spread < settings.close_spread:
            found.append(_finding("close_prices", MEDIUM, opened, lot=lot.number, spread=_pct(spread),
                                  threshold=_pct(settings.close_spread), count=len(opened),
                                  lowest=str(low), highest=str(high)))
    return found


def _runs(prices: list[BidFacts], same) -> list[list[BidFacts]]:
    """Maximal runs of 3+ consecutive sorted bids whose successive steps are `same`."""
    runs, start = [], 0
    for end in range(2, len(prices) + 1):
        if end == len(prices) or not same(prices[end - 2], prices[end - 1], prices[end]):
            if end - start >= 3:
                runs.append(prices[start:end])
            start = end - 1
    return runs


def price_steps(tender: TenderFacts, settings: Settings) -> list[Finding]:
    """3+ opened prices of a lot in regular steps: constant differences or constant ratios."""
    found = []
    for lot in tender.lots:
        ordered = sorted(lot.opened, key=lambda b: (b.price, b.bid_id))

        def equal_steps(a: BidFacts, b: BidFacts, c: BidFacts) -> bool:
            first, second = b.price - a.price, c.price - b.price  # type: ignore[operator]
            return bool(first) and bool(second) and abs(first - second) <= settings.step_tolerance

        def equal_ratios(a: BidFacts, b: BidFacts, c: BidFacts) -> bool:
            if not a.price or not b.price or a.price == b.price or b.price == c.price:
                return False
            return abs(b.price / a.price - c.price / b.price) <= settings.ratio_tolerance  # type: ignore[operator]

        seen: set[tuple[int, ...]] = set()
        for run in _runs(ordered, equal_steps):
            seen.add(tuple(b.bid_id for b in run))
            found.append(_finding("price_steps", MEDIUM, run, lot=lot.number, kind="difference",
                                  step=str(run[1].price - run[0].price),  # type: ignore[operator]
                                  prices=", ".join(str(b.price) for b in run), count=len(run)))
        for run in _runs(ordered, equal_ratios):
            if tuple(b.bid_id for b in run) in seen:
                continue
            ratio = (run[1].price / run[0].price).quantize(Decimal("0.0001"))  # type: ignore[operator]
            found.append(_finding("price_steps", MEDIUM, run, lot=lot.number, kind="ratio", step=str(ratio),
                                  prices=", ".join(str(b.price) for b in run), count=len(run)))
    return found


# -- history-based ---------------------------------------------------------------------------------------


def cover_bidding(tender: TenderFacts, settings: Settings) -> list[Finding]:
    """Losing prices far above the lot's estimate while the winner is near it (cover bids). The winner is
    the awarded bid, or before the award the lowest opened price."""
    found = []
    for lot in tender.lots:
        opened = lot.opened
        if len(opened) < 2 or not lot.estimated:
            continue
        winner = lot.winner if lot.winner is not None and lot.winner.price is not None else \
            min(opened, key=lambda b: (b.price, b.bid_id))
        closeness = abs(winner.price / lot.estimated - 1)  # type: ignore[operator]
        if closeness > settings.cover_winner_within:
            continue
        covers = [b for b in opened if b.bid_id != winner.bid_id
                  and b.price > lot.estimated * settings.cover_ratio]  # type: ignore[operator]
        if covers:
            highest = max(b.price / lot.estimated for b in covers)  # type: ignore[operator]
            found.append(_finding("cover_bidding", MEDIUM, [winner, *covers], lot=lot.number,
                                  estimate=str(lot.estimated), winner=winner.organisation,
                                  winner_price=str(winner.price), awarded=lot.award_bid_id is not None,
                                  covers=len(covers), ratio=str(settings.cover_ratio),
                                  highest=f"{highest.quantize(Decimal('0.01'))}"))
    return found


def _groups(current: frozenset[int], past: list[frozenset[int]], size: int) -> dict[frozenset[int], int]:
    """Groups of `size`+ of the current participants that also met in past lots -> the past meetings."""
    meets = [current & p for p in past]
    candidates = {m for m in meets if len(m) >= size}
    for a, b in combinations(list(candidates), 2):
        if len(a & b) >= size:
            candidates.add(a & b)
    counts = {g: sum(1 for m in meets if g <= m) for g in candidates}
    # keep only the groups no larger group with as many meetings contains
    return {g: n for g, n in counts.items()
            if not any(g < h and counts[h] >= n for h in counts)}


def _participants(lot: LotFacts) -> frozenset[int]:
    return frozenset(b.organisation_id for b in lot.bids)


def _names(lot: LotFacts, history: list[LotFacts], ids: Iterable[int]) -> str:
    names = {b.organisation_id: b.organisation for x in [lot, *history] for b in x.bids}
    return ", ".join(sorted(names.get(i, str(i)) for i in ids))


def group_meetings(tender: TenderFacts, history: list[LotFacts], settings: Settings) -> list[Finding]:
    """The same group of 3+ bidders meeting in N+ tenders (this one included)."""
    found = []
    for lot in tender.lots:
        past = [h for h in history if h.tender_id != tender.tender_id]
        groups = _groups(_participants(lot), [_participants(h) for h in past], settings.group_size)
        for group, meetings in sorted(groups.items(), key=lambda item: sorted(item[0])):
            if meetings + 1 < settings.group_meetings:
                continue
            tenders = sorted({h.tender_id for h in past if group <= _participants(h)})
            bids = [b for b in lot.bids if b.organisation_id in group]
            finding = _finding("group_meetings", MEDIUM, bids, lot=lot.number, meetings=meetings + 1,
                               size=len(group), threshold=settings.group_meetings,
                               members=_names(lot, past, group), tenders=", ".join(map(str, tenders)))
            finding.evidence = [{"kind": "tender", "tender": t} for t in tenders]
            found.append(finding)
    return found


def bid_rotation(tender: TenderFacts, history: list[LotFacts], settings: Settings) -> list[Finding]:
    """A group of 2+ bidders meeting across tenders whose winners take turns: at least `rotation_meetings`
    awarded meetings, every winner from the group, 2+ different winners, never the same one twice in a row."""
    found = []
    for lot in tender.lots:
        past = [h for h in history if h.tender_id != tender.tender_id]
        groups = _groups(_participants(lot), [_participants(h) for h in past], 2)
        for group in sorted(groups, key=sorted):
            meetings = sorted([h for h in [*past, lot] if group <= _participants(h) and h.winner is not None],
                              key=lambda h: (h.opened_at or _EPOCH, h.tender_id))
            winners = [h.winner.organisation_id for h in meetings]  # type: ignore[union-attr]
            if len(meetings) < settings.rotation_meetings or not all(w in group for w in winners):
                continue
            if len(set(winners)) < 2 or any(a == b for a, b in zip(winners, winners[1:], strict=False)):
                continue
            names = {b.organisation_id: b.organisation for h in meetings for b in h.bids}
            finding = _finding("bid_rotation", MEDIUM, [b for b in lot.bids if b.organisation_id in group],
                               lot=lot.number, meetings=len(meetings), members=_names(lot, past, group),
                               winners=" → ".join(names[w] for w in winners))
            finding.evidence = [{"kind": "tender", "tender": h.tender_id} for h in meetings
                                if h.tender_id != tender.tender_id]
            found.append(finding)
    return found


# -- the Open Contracting Partnership's red flags (Cardinal), by their codes -------------------------------


def _difference(lot: LotFacts) -> Decimal | None:
    """Cardinal's (second-lowest valid bid - winning bid) / winning bid, or None when excluded (no award,
    or the winner is not the lowest bid)."""
    winner, opened = lot.winner, sorted(lot.opened, key=lambda b: b.price)  # type: ignore[arg-type, return-value]
    if winner is None or winner.price is None or len(opened) < 2 or not winner.price:
        return None
    if opened[0].bid_id != winner.bid_id and opened[0].price < winner.price:  # type: ignore[operator]
        return None
    second = next(b for b in opened if b.bid_id != winner.bid_id)
    return (second.price - winner.price) / winner.price  # type: ignore[operator]


def _fences(values: list[Decimal], settings: Settings) -> tuple[Decimal, Decimal] | None:
    if len(values) < settings.fence_sample:
        return None
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    iqr = q3 - q1
    return q1 - Decimal("1.5") * iqr, q3 + Decimal("1.5") * iqr


def r024_r058(tender: TenderFacts, history: list[LotFacts], settings: Settings) -> list[Finding]:
    """R024 (price close to winning bid: the difference is a low outlier) and R058 (heavily discounted bid:
    a high outlier). The fences come from the platform's awarded lots once there are enough of them."""
    found = []
    sample = [d for h in history if (d := _difference(h)) is not None]
    fences = _fences(sample, settings)
    low, high = fences if fences else (settings.r024_threshold, settings.r058_threshold)
    source = "fences" if fences else "configured"
    for lot in tender.lots:
        difference = _difference(lot)
        if difference is None:
            continue
        winner = lot.winner
        second = next(b for b in sorted(lot.opened, key=lambda b: b.price)  # type: ignore[arg-type, return-value]
                      if b.bid_id != winner.bid_id)  # type: ignore[union-attr]
        if difference <= low:
            found.append(_finding("R024", MEDIUM, [winner, second], lot=lot.number,  # type: ignore[list-item]
                                  difference=_pct(difference), threshold=_pct(low), source=source))
        if difference >= high:
            found.append(_finding("R058", LOW, [winner, second], lot=lot.number,  # type: ignore[list-item]
                                  difference=_pct(difference), threshold=_pct(high), source=source))
    return found


def r028(tender: TenderFacts) -> list[Finding]:
    """R028: different tenderers submitted bids with the same price (per lot)."""
    found = []
    for lot in tender.lots:
        shared = _shared(lot.opened, lambda b: {b.price})
        for price, bids in sorted(shared.items()):
            found.append(_finding("R028", HIGH, bids, lot=lot.number, price=str(price), count=len(bids)))
    return found


def r035(tender: TenderFacts) -> list[Finding]:
    """R035: all except the winning bid disqualified: one tenderer with valid bids, it won, and 1+ other
    tenderers' bids were disqualified."""
    found = []
    for lot in tender.lots:
        winner = lot.winner
        valid = {b.organisation_id for b in lot.bids if b.state == "opened"}
        disqualified = [b for b in lot.bids if b.state in DISQUALIFIED and b.organisation_id not in valid]
        if winner is None or valid != {winner.organisation_id} or not disqualified:
            continue
        found.append(_finding("R035", HIGH, [winner, *disqualified], lot=lot.number,
                              disqualified=len({b.organisation_id for b in disqualified})))
    return found


def r038(tender: TenderFacts, history: list[LotFacts], settings: Settings) -> list[Finding]:
    """R038 (for tenderers): the ratio of a bidder's disqualified bids to its submitted bids across the
    platform is at or above the threshold (bidders with fewer than the minimum of bids are left out)."""
    found = []
    submitted: dict[int, int] = defaultdict(int)
    disqualified: dict[int, int] = defaultdict(int)
    lots = {(h.tender_id, h.number): h for h in history}
    for lot in tender.lots:
        lots[(lot.tender_id, lot.number)] = lot
    for lot in lots.values():
        for b in lot.bids:
            submitted[b.organisation_id] += 1
            disqualified[b.organisation_id] += b.state in DISQUALIFIED
    for lot in tender.lots:
        for b in lot.bids:
            n = submitted[b.organisation_id]
            if b.state not in DISQUALIFIED or n < settings.r038_minimum_bids:
                continue
            ratio = Decimal(disqualified[b.organisation_id]) / n
            if ratio >= settings.r038_threshold:
                found.append(_finding("R038", LOW, [b], lot=lot.number, ratio=_pct(ratio),
                                      disqualified=disqualified[b.organisation_id], submitted=n,
                                      threshold=_pct(settings.r038_threshold)))
    return found


def r025(tender: TenderFacts, history: list[LotFacts], settings: Settings) -> list[Finding]:
    """R025 (excessive unsuccessful bids): a top tenderer (valid bids at or above the third quartile of all
    tenderers' counts) whose ratio of winning bids to valid bids is at or below the lower fence
    (Q1 - 1.5 IQR of the ratios). Awarded lots only (Cardinal excludes processes with a pending award)."""
    lots = {(h.tender_id, h.number): h for h in history}
    for lot in tender.lots:
        lots[(lot.tender_id, lot.number)] = lot
    valid: dict[int, int] = defaultdict(int)
    wins: dict[int, int] = defaultdict(int)
    for lot in lots.values():
        if lot.winner is None:
            continue
        for b in lot.bids:
            valid[b.organisation_id] += b.state == "opened"
        wins[lot.winner.organisation_id] += 1
    counts = [Decimal(n) for n in valid.values() if n]
    ratios = {org: Decimal(wins[org]) / n for org, n in valid.items() if n}
    if len(counts) >= settings.fence_sample:
        top = statistics.quantiles(counts, n=4, method="inclusive")[2]
        fence = _fences(list(ratios.values()), settings)
        low = fence[0] if fence else settings.r025_threshold
        source = "fences"
    else:
        top, low, source = Decimal(settings.r025_minimum_bids), settings.r025_threshold, "configured"
    found = []
    seen: set[int] = set()
    for lot in tender.lots:
        for b in lot.bids:
            org = b.organisation_id
            if org in seen or org not in ratios or valid[org] < top or ratios[org] > low:
                continue
            seen.add(org)
            found.append(_finding("R025", LOW, [b], lot=lot.number, wins=wins[org], valid=valid[org],
                                  ratio=_pct(ratios[org]), threshold=_pct(low), top=str(top), source=source))
    return found


def r003(tender: TenderFacts, settings: Settings) -> list[Finding]:
    """R003: an open tender's submission period (publication to deadline) shorter than the threshold."""
    if tender.procurement_method != "open_tendering" or not tender.published_at \
            or not tender.submission_deadline:
        return []
    days = (tender.submission_deadline - tender.published_at) / dt.timedelta(days=1)
    if days >= settings.r003_days:
        return []
    return [Finding("R003", LOW, (), (), {"days": f"{days:.1f}", "threshold": settings.r003_days})]


def evaluate(tender: TenderFacts, history: list[LotFacts], settings: Settings) -> list[Finding]:
    """Every rule on one tender, in the order the page shows them."""
    return [
        *same_documents(tender), *foreign_documents(tender), *same_pdf_author(tender),
        *same_deposit_account(tender), *same_guarantee_applicant(tender), *same_network(tender),
        *close_prices(tender, settings), *price_steps(tender, settings), *same_device(tender),
        *same_pdf_software(tender),
        *bid_rotation(tender, history, settings), *group_meetings(tender, history, settings),
        *cover_bidding(tender, settings),
        *r028(tender), *r024_r058(tender, history, settings), *r035(tender), *r038(tender, history, settings),
        *r025(tender, history, settings),
        *r003(tender, settings),
    ]
