"""schemathesis against /api/v1/openapi.json, in-process on the WSGI app with a fresh database and
an admin's token: for every operation the document describes, generated requests (valid ones and
ones that break the schema) never get a 5xx, and the answers match the document (status codes,
content types, response schemas). Bounded so that each database takes well under two minutes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = 12  # per operation and generation mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def stocked_api(app, make_location, make_item, receive, api_client):
    make_location("WH1-A-01")
    make_location("WH1-A-02")
    make_item("BOLT", barcodes=["4006381333931"])
    receive("BOLT", "WH1-A-01", 1000)
    return api_client("admin")


def test_the_api_matches_its_document_and_never_fails(app, stocked_api):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {stocked_api.token}", "Accept-Language": "en"}
    failures = []
    operations = 0
    statuses: dict[int, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                response = case.call(headers=headers)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                case.validate_response(response, checks=CHECKS)

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 20
    # The requests got somewhere: accepted ones as well as refusals.
    assert sum(n for status, n in statuses.items() if status < 300) >= operations, statuses
    assert not failures, "\n\n".join(failures)
