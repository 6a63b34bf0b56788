"""The draw's pure part: seed, random stream, selection, unsatisfiable requests and recomputing a record."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from collections import Counter

import pytest

from bidding.experts import draw
from bidding.experts.draw import Candidate, Drbg, Slot

ROOT = hashlib.sha256(b"close").digest()
CLOSE = {"log_index": 41, "tree_size": 42, "root_hash": base64.b64encode(ROOT).decode()}
REQUEST = {"slots": [{"specialties": ["A01"], "count": 3, "backups": 1}], "evaluation_date": "2026-12-01",
           "recent_days": 90, "regions": []}


def _name(i: int) -> str:
    return hashlib.sha256(f"expert {i}".encode()).hexdigest()


def _candidates(n: int, *, employers: int | None = None, slots=(0,)) -> list[Candidate]:
    def token(i):
        return None if employers is None else hashlib.sha256(bytes([i % employers])).hexdigest()

    out = [Candidate(_name(i), token(i), tuple(slots)) for i in range(n)]
    return draw.canonical_order(out)


def _seed(**changes) -> bytes:
    inputs = {"tender": 7, "lot": 1, "draw": 1, "close": CLOSE, "request": REQUEST, **changes}
    return draw.make_seed(ROOT, draw.seed_inputs(**inputs))


def test_the_seed_is_the_documented_hmac():
    message = (b'{"close":{"log_index":41,"root_hash":"' + CLOSE["root_hash"].encode() + b'","tree_size":42},'
               b'"draw":1,"lot":1,"purpose":"ebid-expert-draw","request":{"evaluation_date":"2026-12-01",'
               b'"recent_days":90,"regions":[],"slots":[{"backups":1,"count":3,"specialties":["A01"]}]},'
               b'"tender":7,"v":1}')
    assert _seed() == hmac.new(ROOT, message, hashlib.sha256).digest()


@pytest.mark.parametrize("change", [{"tender": 8}, {"lot": 2}, {"draw": 2},
                                    {"request": {**REQUEST, "evaluation_date": "2026-12-02"}},
                                    {"close": {**CLOSE, "tree_size": 43}}])
def test_every_public_input_changes_the_seed(change):
    assert _seed(**change) != _seed()


def test_the_stream_is_hmac_sha256_in_counter_mode():
    seed = bytes(32)
    expected = b"".join(hmac.new(seed, b"ebid-draw-drbg-v1" + i.to_bytes(8, "big"), hashlib.sha256).digest()
                        for i in range(3))
    rng = Drbg(seed)
    assert rng.read(10) + rng.read(86) == expected


def test_below_rejects_the_biased_tail():
    class Fixed(Drbg):
        def __init__(self, values):
            super().__init__(b"x" * 32)
            self.values = list(values)

        def read(self, n):
            return self.values.pop(0).to_bytes(8, "big")

    # n = 3: 2**64 mod 3 = 1, so the largest value 2**64 - 1 is refused and the next one used.
    assert Fixed([2**64 - 1, 5]).below(3) == 2
    assert Fixed([2**64 - 2]).below(3) == (2**64 - 2) % 3
    with pytest.raises(ValueError):
        Drbg(b"x" * 32).below(0)


def test_below_is_roughly_uniform():
    rng = Drbg(b"seed" * 8)
    counts = Counter(rng.below(5) for _ in range(5000))
    assert set(counts) == set(range(5)) and min(counts.values()) > 850


def test_the_same_inputs_draw_the_same_panel_and_another_seed_another():
    candidates = _candidates(30)
    slots = [Slot(("A01",), 3, 1)]
    first = draw.select(_seed(), candidates, slots)
    assert first == draw.select(_seed(), list(candidates), slots)
    assert [p.seat for p in first] == [True, True, True, False]
    assert len({p.pseudonym for p in first}) == 4
    others = {tuple(p.pseudonym for p in draw.select(_seed(tender=t), candidates, slots))
              for t in range(8, 20)}
    assert len(others) > 1


def test_at_most_one_expert_per_employer_backups_included():
    candidates = _candidates(12, employers=4)
    picks = draw.select(_seed(), candidates, [Slot(("A01",), 3, 1)])
    employers = {c.pseudonym: c.employer for c in candidates}
    assert len({employers[p.pseudonym] for p in picks}) == 4


def test_slots_are_filled_in_order_from_their_own_candidates():
    a = [Candidate(_name(i), None, (0,)) for i in range(5)]
    b = [Candidate(_name(100 + i), None, (1,)) for i in range(5)]
    both = [Candidate(_name(200), None, (0, 1))]
    candidates = draw.canonical_order(a + b + both)
    picks = draw.select(_seed(), candidates, [Slot(("A01",), 2, 0), Slot(("D01",), 2, 1)])
    assert [(p.slot, p.position, p.seat) for p in picks] == [(0, 1, True), (0, 2, True), (1, 1, True),
                                                              (1, 2, True), (1, 3, False)]
    first = {c.pseudonym for c in a + both}
    assert all(p.pseudonym in first for p in picks[:2])
    assert all(p.pseudonym not in first or p.pseudonym == _name(200) for p in picks[2:])


def test_a_slot_without_enough_candidates_names_the_specialty():
    message = "only 3 eligible experts qualify: the constraint 'specialty'"
    with pytest.raises(draw.Unsatisfiable, match=message) as caught:
        draw.select(_seed(), _candidates(3), [Slot(("A01",), 3, 1)])
    assert caught.value.constraint == "specialty" and caught.value.slot == 0


def test_running_out_of_employers_names_that_constraint():
    with pytest.raises(draw.Unsatisfiable, match="at most one expert per employer") as caught:
        draw.select(_seed(), _candidates(10, employers=3), [Slot(("A01",), 3, 1)])
    assert caught.value.constraint == "one_per_employer"


def test_earlier_slots_taking_the_experts_names_that_constraint():
    candidates = _candidates(4, slots=(0, 1))
    with pytest.raises(draw.Unsatisfiable, match="earlier slots took") as caught:
        draw.select(_seed(), candidates, [Slot(("A",), 3, 0), Slot(("A01",), 2, 0)])
    assert caught.value.constraint == "one_place_per_expert" and caught.value.slot == 1


def _record(n=20) -> dict:
    candidates = _candidates(n, employers=9)
    seed = _seed()
    picks = draw.select(seed, candidates, draw.parse_slots(REQUEST["slots"]))
    return {"v": 1, "tender": 7, "lot": 1, "draw": 1, "close": {**CLOSE, "checkpoint": "…"},
            "request": REQUEST, "seed": seed.hex(), "candidates": [c.as_json() for c in candidates],
            "picks": [p.as_json() for p in picks]}


def test_a_faithful_record_recomputes_to_itself():
    result = draw.recompute(_record())
    assert result.matches and result.seed == _record()["seed"] and len(result.picks) == 4


def test_a_changed_pick_is_a_mismatch():
    record = _record()
    picked = {p["pseudonym"] for p in record["picks"]}
    record["picks"][0]["pseudonym"] = next(c["pseudonym"] for c in record["candidates"]
                                           if c["pseudonym"] not in picked)
    result = draw.recompute(record)
    assert not result.matches and "pick 1" in result.mismatches[0]


def test_a_changed_input_changes_the_seed_and_is_a_mismatch():
    record = _record()
    record["request"] = {**REQUEST, "evaluation_date": "2026-12-09"}
    result = draw.recompute(record)
    assert not result.matches and result.mismatches[0].startswith("seed:")


def test_candidates_out_of_order_are_refused():
    record = _record()
    record["candidates"].reverse()
    with pytest.raises(draw.RecordError, match="canonical order"):
        draw.recompute(record)


@pytest.mark.parametrize(("path", "value", "message"), [
    (("v",), 2, "version 2"),
    (("close", "root_hash"), "AAAA", "32 bytes"),
    (("request", "slots"), [], "non-empty list"),
    (("candidates", 0, "pseudonym"), "XYZ", "64 lower-case hex"),
    (("candidates", 0, "slots"), [3], "slot indexes below 1"),
    (("tender",), "7", "must be an integer"),
])
def test_malformed_records_are_refused_with_the_field(path, value, message):
    record = copy.deepcopy(_record())
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(draw.RecordError, match=message):
        draw.recompute(record)


def test_pseudonyms_are_per_draw_and_checkable_from_the_revealed_nonce():
    secret = b"s" * 32
    one = draw.nonce(secret, draw.pseudonym_context(tender=7, lot=1, draw=1))
    two = draw.nonce(secret, draw.pseudonym_context(tender=8, lot=1, draw=1))
    assert draw.pseudonym(one, 5) != draw.pseudonym(two, 5)
    label = b"ebid-expert-pseudonym-v1\x00"
    assert draw.pseudonym(one, 5) == hashlib.sha256(label + one + b"\x005").hexdigest()
