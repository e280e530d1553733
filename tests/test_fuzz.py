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

import pytest
import schemathesis
from conftest import SMALL_ARTICLES, HashEmbedder
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
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in SMALL_ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
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
