"""Anonymous junk sent to every public endpoint (made-up identifiers, a junk body) never appends to the audit
log: a refusal of a client nobody authenticated is counted (`signing.refusals`), never an entry each. New
public endpoints are covered as they are added, since the list is read from the authorisation table."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

from app.authz import POLICIES, PUBLIC
from tests.functional.helpers import log_size

MADE_UP_NUMBER = 987654


def _public_calls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or POLICIES.get(rule.endpoint) is not PUBLIC:
            continue
        values = {name: MADE_UP_NUMBER if isinstance(conv, IntegerConverter) else "no-such-thing"
                  for name, conv in rule._converters.items()}
        with app.test_request_context():
            path = app.url_map.bind("localhost").build(rule.endpoint, values, append_unknown=False)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_anonymous_junk_to_every_public_endpoint_appends_nothing_to_the_log(app, client, session):
    calls = list(_public_calls(app))
    assert len(calls) > 40  # the table was read (every public page, API and machine endpoint)
    grew = []
    for method, path in calls:
        before = log_size(session)
        response = client.open(path, method=method, data=b"junk" * 8, headers={"Accept": "application/json"})
        assert response.status_code < 500, (method, path, response.status_code)
        if log_size(session) != before:
            grew.append((method, path, response.status_code))
    assert grew == []
