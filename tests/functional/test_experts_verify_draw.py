"""`ebid verify-draw` recomputes a published draw: from the platform (--server) or a saved record, offline
and without Flask; a changed record, a record the log does not state, or a wrong key fail it."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bidding.experts import services
from bidding.experts.models import Draw
from core.models import Role
from core.orm import utcnow
from signing import client as ebid
from tests import factories
from tests.unit.bidding.experts.expert_builders import admin, closed_tender, employer, pool_of

ROOT = Path(__file__).resolve().parents[2]
SERVER = "http://platform.test"
DAY = (utcnow() + dt.timedelta(days=3)).date().isoformat()


@pytest.fixture
def drawn(session):
    office = factories.user(Role.TENDERING_OFFICE)
    tender = closed_tender(office, [employer() for _ in range(3)])
    pool_of(admin(), 9)
    made = services.request_draw(tender, office, {"slots": [
        {"specialties": ["A01"], "count": 3, "backups": 1}, {"specialties": ["A"], "count": 1, "backups": 1}],
        "evaluation_date": DAY})
    session.commit()
    return made


@pytest.fixture
def through_test_client(monkeypatch, client):
    """`ebid --server` talks to the application through the test client instead of the network."""

    class TestClientServer:
        def __init__(self, url: str) -> None:
            self.base = url.rstrip("/")

        def get(self, path, **params):
            response = client.get(path, query_string=params or None)
            if response.status_code != 200:
                raise ebid.UsageError(f"{self.base}{path} answered HTTP {response.status_code}")
            return response

        def json(self, path, **params):
            return self.get(path, **params).get_json()

        def text(self, path, **params):
            return self.get(path, **params).get_data(as_text=True)

        def close(self):
            pass

    monkeypatch.setattr(ebid, "Server", TestClientServer)


def _run(capsys, *argv) -> tuple[int, str]:
    status = ebid.main([str(a) for a in argv])
    return status, capsys.readouterr().out


def test_verify_draw_against_the_platform(drawn, through_test_client, capsys):
    status, out = _run(capsys, "verify-draw", "--server", SERVER, "--tender", drawn.panel.tender_id)
    assert status == 0, out
    assert "signed by the log's key" in out and "is tender" in out and "panel.drawn" in out
    assert out.strip().splitlines()[-1].startswith("OK: match")
    for member in drawn.panel.members:
        assert member.pseudonym in out


def test_verify_draw_offline_from_saved_files(drawn, client, tmp_path, capsys):
    record = client.get(f"/api/tenders/{drawn.panel.tender_id}/panels/1/draws/1").get_data(as_text=True)
    (tmp_path / "draw.json").write_text(record)
    (tmp_path / "log-key.json").write_text(client.get("/api/log/key").get_data(as_text=True))
    status, out = _run(capsys, "verify-draw", tmp_path / "draw.json", "--log-key", tmp_path / "log-key.json")
    assert status == 0 and "OK: match" in out

    changed = json.loads(record)
    picks = changed["record"]["picks"]
    picks[0]["pseudonym"], picks[1]["pseudonym"] = picks[1]["pseudonym"], picks[0]["pseudonym"]
    (tmp_path / "changed.json").write_text(json.dumps(changed))
    key = tmp_path / "log-key.json"
    status, out = _run(capsys, "verify-draw", tmp_path / "changed.json", "--log-key", key)
    assert status == 1 and "MISMATCH: pick 1" in out and "FAILED" in out

    other_request = json.loads(record)
    other_request["record"]["request"]["evaluation_date"] = "2099-01-01"
    (tmp_path / "other.json").write_text(json.dumps(other_request))
    status, out = _run(capsys, "verify-draw", tmp_path / "other.json", "--log-key", tmp_path / "log-key.json")
    assert status == 1 and "MISMATCH: seed" in out

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from signing.checkpoint import vkey

    stranger = vkey(json.loads((tmp_path / "log-key.json").read_text())["origin"],
                    Ed25519PrivateKey.generate().public_key())
    status, out = _run(capsys, "verify-draw", tmp_path / "draw.json", "--key", stranger)
    assert status == 1 and "not signed by the log's key" in out

    status, out = _run(capsys, "verify-draw", tmp_path / "draw.json")
    assert status == 2 and "--log-key" in out


def test_a_record_changed_on_the_platform_no_longer_matches_its_log_entry(drawn, session, through_test_client,
                                                                          capsys):
    row = session.get(Draw, drawn.id)
    record = json.loads(json.dumps(row.record))
    record["candidates"] = record["candidates"][:-1] if record["candidates"][-1]["pseudonym"] not in {
        p["pseudonym"] for p in record["picks"]} else record["candidates"]
    record["pool"]["size"] += 1
    row.record = record
    session.commit()
    status, out = _run(capsys, "verify-draw", "--server", SERVER, "--tender", drawn.panel.tender_id)
    assert status == 1 and "does not publish this record" in out


def test_verify_draw_runs_without_flask(drawn, client, tmp_path):
    (tmp_path / "draw.json").write_text(
        client.get(f"/api/tenders/{drawn.panel.tender_id}/panels/1/draws/1").get_data(as_text=True))
    (tmp_path / "log-key.json").write_text(client.get("/api/log/key").get_data(as_text=True))
    script = ("import sys\n"
              "for name in ('flask', 'flask_babel', 'sqlalchemy'):\n"
              "    sys.modules[name] = None  # importing them now fails\n"
              "from signing.client import main\n"
              f"sys.exit(main(['verify-draw', {str(tmp_path / 'draw.json')!r}, '--log-key', "
              f"{str(tmp_path / 'log-key.json')!r}]))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: match" in done.stdout
