"""schemathesis against the running server's own /openapi.json: no 5xx answer, no hang."""

from __future__ import annotations

import httpx
import pytest
from conftest import Server, auth
from hypothesis import HealthCheck, Phase, given, settings

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_schema_fuzz_gives_no_server_error(server: Server) -> None:
    import schemathesis

    # a collection to find, so the routes behind the 404 run too
    httpx.post(
        f"{server.url}/v1/collections/docs/documents",
        headers=auth("acme"),
        json={"documents": [{"source": "a.md", "text": "Fuzzing finds crashes."}]},
        timeout=120,
    ).raise_for_status()
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, headers=auth("acme"), timeout=30)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
                )
            elif response.status_code >= 400:
                assert "error" in response.json(), response.text

        check()
    assert not failures, "\n".join(failures[:10])
