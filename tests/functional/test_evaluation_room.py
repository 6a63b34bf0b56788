"""The evaluation room over HTTP: five experts score two bids, an outlier is flagged and justified (or
revised), the result is computed and the report signed by all; every bad input of issue 6 for scores;
clarifications with their deadline; who may see what."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from bidding.evaluation import services
from bidding.evaluation.models import Clarification, Score, ScoreSheet
from core.models import Role, User
from signing.canonical import canonical_json
from signing.models import LogEntry, SignedDocument
from tests import factories
from tests.functional.evaluation_room_data import seed_room
from tests.functional.helpers import assert_json_error

API = "/api/evaluation"


# -- fixtures and helpers --


@pytest.fixture(autouse=True)
def quiet_rooms(monkeypatch):
    """The HTTP tests do not listen to the room; its pushes are the socket tests' business."""
    from bidding.evaluation import events

    monkeypatch.setattr(events.socketio, "emit", lambda *a, **kw: None)


def room(session, *, experts: int = 5, anonymous: bool = True):
    made = seed_room(experts=experts, bids=2, anonymous=anonymous, password=factories.PASSWORD)
    users = {u.username: u for u in session.scalars(select(User))}
    return SimpleNamespace(
        **made,
        expert_users=[users[n] for n in made["experts"]],
        office_user=users[made["office"]],
        bidder_users=[users[n] for n in made["bidders"]],
    )


def entries(session, event: str) -> list[dict]:
    session.expire_all()
    return [
        json.loads(body)
        for body in session.scalars(
            select(LogEntry.body).where(LogEntry.event == event).order_by(LogEntry.index)
        )
    ]


def state(client, bearer, user, r) -> dict:
    response = client.get(f"{API}/panels/{r.panel}", headers=bearer(user))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def labels_of(client, bearer, r) -> dict[int, str]:
    """bid id -> anonymous label, as only the server knows (read from the database for the test)."""
    from bidding.experts.models import Panel

    state(client, bearer, r.expert_users[0], r)  # the room (and its label key) is made on first entry
    panel = services.db.session.get(Panel, r.panel)
    return services.labels(services.room_of(panel), r.bids)


def sheet_for(r, c: dict[str, int], scores: dict[str, list[str]], tags: dict[int, str] | None) -> list[dict]:
    """Scores by criterion name, one per bid (in r.bids order); technical ones by label when anonymous."""
    out = []
    for name, values in scores.items():
        for bid, value in zip(r.bids, values, strict=True):
            place = {"label": tags[bid]} if tags and name in TECHNICAL else {"bid": bid}
            out.append({**place, "criterion": c[name], "score": value, "comment": f"{name} {value}"})
    return out


TECHNICAL = ("施工组织设计", "质量与安全措施")
#: Five experts' scores; expert 5's 施工组织设计 for the first bid (8) is far from the others (25-27).
SCORES = [
    {"企业业绩与信誉": ["16", "14"], "施工组织设计": ["25", "22"], "质量与安全措施": ["16", "15"]},
    {"企业业绩与信誉": ["17", "15"], "施工组织设计": ["26", "23"], "质量与安全措施": ["17", "15"]},
    {"企业业绩与信誉": ["16", "15"], "施工组织设计": ["27", "22"], "质量与安全措施": ["16", "16"]},
    {"企业业绩与信誉": ["15", "14"], "施工组织设计": ["26", "24"], "质量与安全措施": ["17", "15"]},
    {"企业业绩与信誉": ["16", "15"], "施工组织设计": ["8", "23"], "质量与安全措施": ["16", "15"]},
]


def save(client, bearer, user, r, scores):
    return client.put(f"{API}/panels/{r.panel}/sheet", json={"scores": scores}, headers=bearer(user))


def submit(client, bearer, user, r):
    return client.post(f"{API}/panels/{r.panel}/sheet/submit", headers=bearer(user))


def score_all(client, bearer, r, tags, *, upto: int | None = None):
    for user, scores in list(zip(r.expert_users, SCORES, strict=True))[:upto]:
        assert save(client, bearer, user, r, sheet_for(r, r.criteria, scores, tags)).status_code == 200
        response = submit(client, bearer, user, r)
        assert response.status_code == 200, response.get_data(as_text=True)


def refused(response, session, status: int, code: str, field: str | None = None) -> dict:
    error = assert_json_error(response, status, code=code, field=field)
    last = entries(session, "evaluation.refused")[-1]
    assert last["data"]["reason"] == code and last["data"]["message"] == error["message"]
    return last


def stored(session, r) -> list[tuple]:
    session.expire_all()
    return sorted(
        session.execute(
            select(ScoreSheet.number, ScoreSheet.state, Score.bid_id, Score.criterion_id, Score.value).join(
                Score, Score.sheet_id == ScoreSheet.id
            )
        ).all()
    )


# -- the whole evaluation --


def test_five_experts_score_two_bids_an_outlier_is_justified_and_all_sign_the_report(client, session, bearer):
    r = room(session)
    experts = r.expert_users
    first = state(client, bearer, experts[0], r)
    assert first["anonymous_technical"] is True and first["state"] == "scoring"
    assert [e["expert"] for e in first["experts"]] == [1, 2, 3, 4, 5]
    # the commercial part keeps names and prices; the technical part is shown under labels only
    assert {b["bid"] for b in first["bids"]} == set(r.bids)
    assert all("施工组织设计" not in b["responses"] and "label" not in b for b in first["bids"])
    assert sorted(t["label"] for t in first["technical"]) == ["A", "B"]
    assert all(set(t) == {"label", "responses"} for t in first["technical"])
    tags = labels_of(client, bearer, r)

    # a draft is saved, changed and saved again; nobody else sees anything of it
    draft = sheet_for(r, r.criteria, SCORES[0], tags)
    assert save(client, bearer, experts[0], r, draft[:2]).status_code == 200
    mine = save(client, bearer, experts[0], r, draft).get_json()
    assert mine["state"] == "draft" and len(mine["scores"]) == 6 and mine["expert"] == 1
    watching = state(client, bearer, r.office_user, r)
    assert watching["experts"][0] == {"expert": 1, "submitted": False, "submitted_at": None}
    assert "scores" not in json.dumps(watching) and watching["aggregate"] is None

    score_all(client, bearer, r, tags, upto=4)
    halfway = state(client, bearer, experts[4], r)
    assert [e["submitted"] for e in halfway["experts"]] == [True, True, True, True, False]
    assert halfway["aggregate"] is None and halfway["flags"] == [] and halfway["state"] == "scoring"
    # who has submitted, never what: no score as a JSON value (a bare "25.00" also matched a submission
    # time whose seconds read 25.00…, which made this check fail about once in a few thousand runs)
    assert '"25.00"' not in json.dumps(halfway)

    # the last sheet closes the scoring: the aggregate appears and expert 5's outlier is flagged
    assert save(client, bearer, experts[4], r, sheet_for(r, r.criteria, SCORES[4], tags)).status_code == 200
    assert submit(client, bearer, experts[4], r).status_code == 200
    review = state(client, bearer, r.office_user, r)
    assert review["state"] == "review"
    (flag,) = review["flags"]
    assert flag["expert"] == 5 and flag["criterion"] == r.criteria["施工组织设计"]
    assert flag["label"] == tags[r.bids[0]] and "bid" not in flag and flag["state"] == "open"
    assert flag["score"] == "8.00" and flag["mean"] == "22.40" and flag["threshold"] == "20.00"
    aggregate = {(a.get("bid") or a.get("label"), a["criterion"]): a for a in review["aggregate"]}
    assert aggregate[(r.bids[0], r.criteria["企业业绩与信誉"])]["score"] == "16.00"  # trimmed mean of 5
    assert all(a["trimmed"] and a["n"] == 5 for a in review["aggregate"])
    assert review["result"] is None and review["report"] is None

    # only its own expert answers a flag; a justification closes it and the result is final
    other = client.post(
        f"{API}/panels/{r.panel}/flags/{flag['id']}/justify",
        json={"justification": "我认为偏低合理"},
        headers=bearer(experts[0]),
    )
    refused(other, session, 403, "not_your_flag")
    answered = client.post(
        f"{API}/panels/{r.panel}/flags/{flag['id']}/justify",
        json={"justification": "该方案关键工序安排缺失，故评分较低"},
        headers=bearer(experts[4]),
    )
    assert answered.status_code == 200, answered.get_data(as_text=True)
    final = state(client, bearer, experts[0], r)
    assert final["state"] == "signing" and final["flags"][0]["state"] == "justified"
    assert final["flags"][0]["justification"] == "该方案关键工序安排缺失，故评分较低"
    ranking = final["result"]["ranking"]
    assert [x["rank"] for x in ranking] == [1, 2] and {x["bid"] for x in ranking} == set(r.bids)
    assert final["report"]["document"] and len(final["report"]["signatures"]) == 5
    assert not any(s["signed"] for s in final["report"]["signatures"])

    # the stored scores reproduce the result
    panel = services.panel_or_404(r.panel)
    assert services.evaluation(panel, services.room_of(panel)).to_dict() == services.room_of(panel).result

    # every expert signs: a wrong password is refused, a second signature too
    wrong = client.post(
        f"{API}/panels/{r.panel}/report/sign", json={"password": "nope"}, headers=bearer(experts[0])
    )
    refused(wrong, session, 403, "confirmation_failed", field="password")
    for expert in experts:
        signed = client.post(
            f"{API}/panels/{r.panel}/report/sign",
            json={"password": factories.PASSWORD},
            headers=bearer(expert),
        )
        assert signed.status_code == 200, signed.get_data(as_text=True)
    again = client.post(
        f"{API}/panels/{r.panel}/report/sign",
        json={"password": factories.PASSWORD},
        headers=bearer(experts[0]),
    )
    refused(again, session, 409, "no_report")
    done = state(client, bearer, r.office_user, r)
    assert done["state"] == "signed" and all(s["signed"] for s in done["report"]["signatures"])
    document = session.get(SignedDocument, done["report"]["document"])
    assert len(document.versions) == 6  # the platform's seal and five experts
    (complete,) = entries(session, "evaluation.report_complete")
    assert complete["data"]["sha256"] == document.current.sha256
    # the public log records each signature by its pseudonymous field only, before names are published
    signatures = [e for e in entries(session, "document.signed")
                  if e["subject"].get("document") == document.id]
    assert len(signatures) == 5
    assert all(e["actor"] is None and e["ip"] is None for e in signatures)
    assert not any(u.username in json.dumps(signatures, ensure_ascii=False) for u in experts)


def test_each_submitted_score_is_committed_to_in_the_log_without_showing_it_or_the_expert(
    client, session, bearer
):
    r = room(session)
    tags = labels_of(client, bearer, r)
    score_all(client, bearer, r, tags, upto=1)
    (entry,) = entries(session, "evaluation.sheet_submitted")
    assert entry["actor"] is None and entry["ip"] is None
    assert entry["subject"] == {"panel": r.panel}
    assert entry["data"]["expert"] == 1
    assert "score" not in json.dumps(entry["data"]["scores"])
    assert r.expert_users[0].username not in json.dumps(entry)
    sheet = session.scalar(select(ScoreSheet).where(ScoreSheet.number == 1))
    assert len(entry["data"]["scores"]) == 6
    for logged in entry["data"]["scores"]:
        score = next(
            s for s in sheet.scores if (s.bid_id, s.criterion_id) == (logged["bid"], logged["criterion"])
        )
        body = {
            "salt": sheet.salt,
            "panel": r.panel,
            "expert": 1,
            "bid": score.bid_id,
            "criterion": score.criterion_id,
            "score": str(score.value),
            "comment_sha256": hashlib.sha256(score.comment.encode()).hexdigest(),
        }
        assert logged["commitment"] == hashlib.sha256(canonical_json(body)).hexdigest()


def test_a_flagged_score_revised_into_line_makes_the_result_final(client, session, bearer):
    r = room(session, anonymous=False)
    score_all(client, bearer, r, None)
    (flag,) = state(client, bearer, r.expert_users[0], r)["flags"]
    assert flag["bid"] == r.bids[0] and "label" not in flag
    same = client.post(
        f"{API}/panels/{r.panel}/flags/{flag['id']}/revise",
        json={"score": "8"},
        headers=bearer(r.expert_users[4]),
    )
    refused(same, session, 422, "unchanged", field="score")
    out = client.post(
        f"{API}/panels/{r.panel}/flags/{flag['id']}/revise",
        json={"score": "31"},
        headers=bearer(r.expert_users[4]),
    )
    refused(out, session, 422, "score_out_of_range", field="score")
    revised = client.post(
        f"{API}/panels/{r.panel}/flags/{flag['id']}/revise",
        json={"score": "24.5", "comment": "复核后调整"},
        headers=bearer(r.expert_users[4]),
    )
    assert revised.status_code == 200, revised.get_data(as_text=True)
    final = state(client, bearer, r.expert_users[0], r)
    assert final["state"] == "signing"
    assert final["flags"][0]["state"] == "revised" and final["flags"][0]["revised_to"] == "24.50"
    (entry,) = entries(session, "evaluation.score_revised")
    assert entry["actor"] is None and entry["data"]["flag"] == flag["id"]


# -- bad input: refused with a clear message, nothing changed, logged --


def test_an_expert_not_drawn_for_the_panel_is_refused_and_logged(client, session, bearer):
    r = room(session)
    stranger = factories.user(Role.EXPERT)
    other = room(session)  # drawn for another panel only
    session.commit()
    for who in (stranger, other.expert_users[0]):
        response = save(
            client,
            bearer,
            who,
            r,
            [{"bid": r.bids[0], "criterion": r.criteria["企业业绩与信誉"], "score": "10"}],
        )
        last = refused(response, session, 403, "not_on_panel")
        assert "not drawn for this panel" in last["data"]["message"]
        assert last["actor"] is None and last["subject"] == {"panel": r.panel}  # experts are not named
        assert refused(
            client.get(f"{API}/panels/{r.panel}", headers=bearer(who)), session, 403, "not_on_panel"
        )
    assert stored(session, r) == []


@pytest.mark.parametrize(
    ("entry", "status", "code", "field", "words"),
    [
        ({"criterion": 999999, "score": "5"}, 422, "no_such_criterion", "criterion", "is not a criterion"),
        ({"criterion": "投标报价", "score": "5"}, 422, "price_criterion", "criterion", "price formula"),
        (
            {"criterion": "企业业绩与信誉", "score": "20.01"},
            422,
            "score_out_of_range",
            "score",
            "between 0 and 20",
        ),
        (
            {"criterion": "企业业绩与信誉", "score": "-1"},
            422,
            "score_out_of_range",
            "score",
            "between 0 and 20",
        ),
        ({"criterion": "企业业绩与信誉", "score": "1.234"}, 422, "bad_score", "score", "two decimal places"),
        (
            {"criterion": "企业业绩与信誉", "score": 1.5},
            422,
            "bad_score",
            "score",
            "as a string or a whole number",
        ),
        ({"criterion": "施工组织设计", "score": "5"}, 422, "anonymous", "bid", "evaluated anonymously"),
        (
            {"criterion": "企业业绩与信誉", "score": "5", "bid": 999999},
            422,
            "no_such_bid",
            "bid",
            "not an opened bid",
        ),
    ],
)
def test_a_bad_score_is_refused_whole_with_a_clear_message(
    client, session, bearer, entry, status, code, field, words
):
    r = room(session)
    user = r.expert_users[0]
    good = {"bid": r.bids[1], "criterion": r.criteria["企业业绩与信誉"], "score": "12"}
    assert save(client, bearer, user, r, [good]).status_code == 200
    before = stored(session, r)
    bad = {"bid": r.bids[0], **entry}
    if isinstance(bad["criterion"], str):
        bad["criterion"] = r.criteria[bad["criterion"]]
    response = save(client, bearer, user, r, [{**good, "score": "13"}, bad])
    last = refused(response, session, status, code, field=field)
    assert words in last["data"]["message"]
    assert stored(session, r) == before  # the good entry beside it was not saved either


def test_after_submitting_the_sheet_is_locked(client, session, bearer):
    r = room(session)
    tags = labels_of(client, bearer, r)
    user = r.expert_users[0]
    incomplete = submit(client, bearer, user, r)
    assert (
        "6 score(s) missing"
        in refused(incomplete, session, 422, "incomplete", field="scores")["data"]["message"]
    )
    score_all(client, bearer, r, tags, upto=1)
    before = stored(session, r)
    again = save(
        client, bearer, user, r, [{"bid": r.bids[0], "criterion": r.criteria["企业业绩与信誉"], "score": "1"}]
    )
    assert "locked" in refused(again, session, 409, "already_submitted")["data"]["message"]
    refused(submit(client, bearer, user, r), session, 409, "already_submitted")
    assert stored(session, r) == before


def test_no_scoring_before_the_tender_is_under_evaluation(client, session, bearer):
    r = room(session)
    from bidding.lifecycle import TenderState
    from bidding.models import Tender

    session.get(Tender, r.tender).state = TenderState.PUBLICITY
    session.commit()
    response = save(
        client,
        bearer,
        r.expert_users[0],
        r,
        [{"bid": r.bids[0], "criterion": r.criteria["企业业绩与信誉"], "score": "1"}],
    )
    refused(response, session, 409, "not_evaluating")


# -- who may see what --


def test_the_office_and_supervisors_watch_read_only_and_bidders_are_kept_out(client, session, bearer):
    r = room(session)
    supervisor = factories.user(Role.SUPERVISOR)
    other_office = factories.user(Role.TENDERING_OFFICE)
    session.commit()
    assert state(client, bearer, supervisor, r)["panel"] == r.panel
    names = json.dumps(state(client, bearer, r.office_user, r), ensure_ascii=False)
    assert not any(u.username in names or u.display_name in names for u in r.expert_users)
    refused(client.get(f"{API}/panels/{r.panel}", headers=bearer(other_office)), session, 403, "forbidden")
    assert_json_error(
        client.get(f"{API}/panels/{r.panel}", headers=bearer(r.bidder_users[0])), 403, code="forbidden"
    )
    assert_json_error(save(client, bearer, supervisor, r, []), 403, code="forbidden")
    assert_json_error(client.get(f"{API}/panels/{r.panel}"), 401, code="unauthorized")


# -- clarifications --


def test_a_clarification_is_asked_answered_in_time_and_a_late_answer_refused(
    client, session, bearer, monkeypatch
):
    r = room(session)
    now = services.utcnow()
    deadline = (now + dt.timedelta(hours=2)).isoformat()
    asked = client.post(
        f"{API}/panels/{r.panel}/clarifications",
        json={"bid": r.bids[0], "question": "请说明工期安排的依据", "deadline": deadline},
        headers=bearer(r.office_user),
    )
    assert asked.status_code == 201, asked.get_data(as_text=True)
    first = asked.get_json()
    by_expert = client.post(
        f"{API}/panels/{r.panel}/clarifications",
        json={"bid": r.bids[1], "question": "请补充质量保证措施", "deadline": deadline},
        headers=bearer(r.expert_users[2]),
    )
    assert by_expert.status_code == 201
    second = by_expert.get_json()
    # the bidder sees its own questions only, and not who on the panel asked
    mine = client.get(f"{API}/clarifications", headers=bearer(r.bidder_users[0])).get_json()
    assert [c["id"] for c in mine] == [first["id"]] and "asked_by" not in mine[0]
    (entry,) = [
        e
        for e in entries(session, "evaluation.clarification_asked")
        if e["data"]["clarification"] == second["id"]
    ]
    assert entry["actor"] is None  # an expert asked: not named in the public log

    wrong = client.post(
        f"{API}/clarifications/{first['id']}/answer",
        json={"answer": "不是我的"},
        headers=bearer(r.bidder_users[1]),
    )
    refused(wrong, session, 403, "not_your_bid")
    ok = client.post(
        f"{API}/clarifications/{first['id']}/answer",
        json={"answer": "依据类似工程经验"},
        headers=bearer(r.bidder_users[0]),
    )
    assert ok.status_code == 200 and ok.get_json()["state"] == "answered"
    twice = client.post(
        f"{API}/clarifications/{first['id']}/answer",
        json={"answer": "再答"},
        headers=bearer(r.bidder_users[0]),
    )
    refused(twice, session, 409, "already_answered")

    # the clock is read where it is used: the answer (clarifications) and the room's state (state)
    def later():
        return now + dt.timedelta(hours=3)

    monkeypatch.setattr(services.clarifications, "utcnow", later)
    monkeypatch.setattr(services.state, "utcnow", later)
    late = client.post(
        f"{API}/clarifications/{second['id']}/answer",
        json={"answer": "迟到的答复"},
        headers=bearer(r.bidder_users[1]),
    )
    assert "late answer is not accepted" in refused(late, session, 409, "deadline_passed")["data"]["message"]
    session.expire_all()
    row = session.get(Clarification, second["id"])
    assert row.answer is None and row.state.value == "asked"
    view = state(client, bearer, r.office_user, r)["clarifications"]
    assert [c["state"] for c in view] == ["answered", "lapsed"]
    assert view[0]["answer"] == "依据类似工程经验"
    assert len(entries(session, "evaluation.clarification_answered")) == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"question": "问题", "deadline": "+1h"}, "bad_deadline", "deadline"),
        ({"question": "问题", "deadline": "2030-01-01T10:00:00"}, "bad_deadline", "deadline"),
        ({"question": "", "deadline": None}, "bad_question", "question"),
        ({"bid": 999999, "question": "问题"}, "no_such_bid", "bid"),
    ],
)
def test_a_bad_clarification_is_refused(client, session, bearer, body, code, field):
    r = room(session)
    payload = {"bid": r.bids[0], "deadline": (services.utcnow() + dt.timedelta(hours=1)).isoformat(), **body}
    if payload["deadline"] is None:
        payload.pop("deadline")
    response = client.post(
        f"{API}/panels/{r.panel}/clarifications", json=payload, headers=bearer(r.office_user)
    )
    refused(response, session, 422, code, field=field)
    assert session.scalar(select(func.count()).select_from(Clarification)) == 0


# -- the pages --


def test_the_room_page_is_for_the_panel_office_and_supervisors_only(client, session, login, new_client):
    r = room(session)
    stranger = factories.user(Role.EXPERT)
    session.commit()
    login(client, r.expert_users[0])
    listed = client.get("/evaluation")
    assert listed.status_code == 200 and f"/evaluation/panels/{r.panel}" in listed.get_data(as_text=True)
    page = client.get(f"/evaluation/panels/{r.panel}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'data-panel="{r.panel}"' in html and 'data-kind="member"' in html
    assert "js/evaluation.js" in html and "<script>" not in html  # the CSP allows no inline script
    office = new_client()
    login(office, r.office_user)
    assert 'data-kind="office"' in office.get(f"/evaluation/panels/{r.panel}").get_data(as_text=True)
    outsider = new_client()
    login(outsider, stranger)
    assert outsider.get(f"/evaluation/panels/{r.panel}").status_code == 404
    assert f"/evaluation/panels/{r.panel}" not in outsider.get("/evaluation").get_data(as_text=True)


def test_a_bidder_answers_a_clarification_on_its_page(client, session, bearer, login):
    r = room(session)
    deadline = (services.utcnow() + dt.timedelta(hours=2)).isoformat()
    asked = client.post(
        f"{API}/panels/{r.panel}/clarifications",
        json={"bid": r.bids[0], "question": "请说明项目经理的到岗安排", "deadline": deadline},
        headers=bearer(r.office_user),
    ).get_json()
    login(client, r.bidder_users[0])
    page = client.get("/evaluation/clarifications").get_data(as_text=True)
    assert "请说明项目经理的到岗安排" in page and f"/evaluation/clarifications/{asked['id']}/answer" in page
    sent = client.post(
        f"/evaluation/clarifications/{asked['id']}/answer", data={"answer": "项目经理全程驻场"}
    )
    assert sent.status_code == 302
    session.expire_all()
    assert session.get(Clarification, asked["id"]).answer == "项目经理全程驻场"
    again = client.post(
        f"/evaluation/clarifications/{asked['id']}/answer", data={"answer": "再次答复"}, follow_redirects=True
    )
    assert "already been answered" in again.get_data(as_text=True)
    assert session.get(Clarification, asked["id"]).answer == "项目经理全程驻场"


def test_a_question_under_an_anonymous_label_does_not_name_the_bidder_in_the_room_or_the_log(
    client, session, bearer
):
    r = room(session)
    tags = labels_of(client, bearer, r)
    label = tags[r.bids[1]]
    asked = client.post(
        f"{API}/panels/{r.panel}/clarifications",
        json={
            "label": label,
            "question": "请说明技术方案中的工序安排",
            "deadline": (services.utcnow() + dt.timedelta(hours=1)).isoformat(),
        },
        headers=bearer(r.expert_users[0]),
    )
    assert asked.status_code == 201, asked.get_data(as_text=True)
    (shown,) = state(client, bearer, r.office_user, r)["clarifications"]
    assert shown["label"] == label and shown["bid"] is None and shown["bidder"] is None
    # the bidder it is about sees it (as its own bid) and answers; nothing public names it
    (mine,) = client.get(f"{API}/clarifications", headers=bearer(r.bidder_users[1])).get_json()
    answered = client.post(
        f"{API}/clarifications/{mine['id']}/answer",
        json={"answer": "分三段流水施工"},
        headers=bearer(r.bidder_users[1]),
    )
    assert answered.status_code == 200
    for event in ("evaluation.clarification_asked", "evaluation.clarification_answered"):
        (entry,) = entries(session, event)
        assert entry["actor"] is None and entry["ip"] is None
        assert entry["data"]["label"] == label and "bid" not in entry["data"]


# -- the API's shapes (one model per body) --


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scores": [{"bid": 1, "criterion": [1], "score": "5"}]}, "scores[0].criterion"),
        ({"scores": [{"bid": 1, "criterion": 1}]}, "scores[0].score"),
        ({"scores": "all of them"}, "scores"),
        (["not", "an", "object"], None),
    ],
)
def test_a_sheet_body_of_the_wrong_shape_is_refused_naming_the_field(client, session, bearer, body, field):
    r = room(session)
    response = client.put(f"{API}/panels/{r.panel}/sheet", json=body, headers=bearer(r.expert_users[0]))
    last = refused(response, session, 422, "invalid", field=field)
    assert last["data"]["action"] == "save"
    assert stored(session, r) == []


def test_the_room_answers_its_documented_shapes(client, session, bearer):
    from bidding.evaluation import schemas

    r = room(session)
    tags = labels_of(client, bearer, r)
    score_all(client, bearer, r, tags)
    review = state(client, bearer, r.office_user, r)
    checked = schemas.RoomStateOut.model_validate(review)
    assert checked.model_dump(mode="json") == review  # the answer is the model's, key for key
    (flag,) = checked.flags
    assert isinstance(flag, schemas.FlagByLabel)  # a flag under a label has no `bid` key at all
    sheet = client.get(f"{API}/panels/{r.panel}/sheet", headers=bearer(r.expert_users[4])).get_json()
    assert isinstance(schemas.SheetOut.model_validate(sheet).flags[0], schemas.SheetFlagByLabel)
