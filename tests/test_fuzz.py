"""Property-based fuzzing of the whole HTTP API from its own OpenAPI schema (schemathesis): valid
and invalid requests generated for every operation, sent to a real server with the admin token
(the caller who can reach the most code). No input may get a 500, and every answer must match
the documented status codes and response schemas. Not checked: that every schema-valid request
is accepted — the core refuses, with its own one-line message, what JSON Schema cannot describe
(a question of white space or control characters only, a name that yields no document id).

Bounded: `EXAMPLES` cases per generation mode (about half a minute here).
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import schemathesis
from conftest import HashEmbedder, small_corpus
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from qa.pipeline import QA
from qa.serve.http import create_api
from qa.settings import Settings

EXAMPLES = 150
ADMIN = "admin-token-for-fuzzing"


@pytest.fixture(scope="module")
def fuzz_url(tmp_path_factory, live_server) -> str:
    root = tmp_path_factory.mktemp("fuzz")
    corpus = small_corpus(root / "corpus")
    config = Settings(corpus_dir=corpus, index_dir=root / "index", admin_token=ADMIN)
    qa = QA(config, embedder=HashEmbedder())
    qa.index()
    return live_server(create_api(qa, config)).url


def test_no_generated_request_gets_a_server_error(fuzz_url: str):
    headers = {"Authorization": f"Bearer {ADMIN}"}
    schema = schemathesis.openapi.from_url(fuzz_url + "/openapi.json", headers=headers)
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=2 * EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case) -> None:
        response = case.call(base_url=fuzz_url, headers=headers, timeout=60)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        case.validate_response(
            response, headers=headers, excluded_checks=[positive_data_acceptance]
        )

    run()
    assert sum(statuses.values()) >= EXAMPLES, statuses
    assert any(400 <= s < 500 for s in statuses) and any(s < 300 for s in statuses), statuses
    print(f"\nfuzz: {sum(statuses.values())} requests, statuses {dict(sorted(statuses.items()))}")


INT_EDGES = [0, -1, 1, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]


def test_conversation_and_feedback_routes_with_integer_edges(fuzz_url: str):
    """The conversation and feedback operations only, against a conversation that exists (so
    generated turns and ratings reach SQLite), and every integer of a generated body also sent
    as each of SQLite's edges (2**63 was a 500: OverflowError)."""
    headers = {"Authorization": f"Bearer {ADMIN}"}
    schema = schemathesis.openapi.from_url(fuzz_url + "/openapi.json", headers=headers)
    schema = schema.include(tag="conversations")
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    with httpx.Client(base_url=fuzz_url, headers=headers, timeout=60) as client:
        cid = client.post("/v1/conversations").json()["id"]
        asked = client.post(f"/v1/conversations/{cid}/turns", json={"question": "Đà Nẵng?"})
        assert asked.status_code == 201
        statuses: Counter[int] = Counter()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases, real=st.booleans())
        def run(case, real: bool) -> None:
            if real and "conversation_id" in (case.path_parameters or {}):
                case.path_parameters["conversation_id"] = cid
            if real and isinstance(case.body, dict) and "conversation_id" in case.body:
                case.body["conversation_id"] = cid
            response = case.call(base_url=fuzz_url, headers=headers, timeout=60)
            statuses[response.status_code] += 1
            assert response.status_code < 500, (case.method, case.path, response.text[:300])
            case.validate_response(
                response, headers=headers, excluded_checks=[positive_data_acceptance]
            )
            ints = [
                k
                for k, v in (case.body if isinstance(case.body, dict) else {}).items()
                if isinstance(v, int) and not isinstance(v, bool)
            ]
            path = case.formatted_path
            for key in ints:
                for edge in INT_EDGES:
                    edged = client.request(case.method, path, json={**case.body, key: edge})
                    statuses[edged.status_code] += 1
                    assert edged.status_code < 500, (case.method, path, key, edge, edged.text)
                    if edged.status_code >= 400:
                        assert set(edged.json()) == {"error"}, edged.text

        run()
    assert sum(statuses.values()) >= EXAMPLES, statuses
    assert statuses[422] and statuses[404], statuses
    print(
        f"\nfuzz (conversations, feedback): {sum(statuses.values())} requests, "
        f"statuses {dict(sorted(statuses.items()))}"
    )
