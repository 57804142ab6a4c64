"""schemathesis over the practice API's own /v1/openapi.json, against the embedded local
stack over HTTP: every operation, positive and negative data, with a key, without one,
with a read-only key, and with another tenant's record ids in the paths.

Holds: no 5xx, every documented answer matches its schema, no answer carries another
tenant's data. `FUZZ_API_CASES` (default 300, `make fuzz` 2,000+) is the total number of
requests aimed at; the figures are printed.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from itertools import cycle

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.e2e.conftest import operator_cli

pytestmark = pytest.mark.e2e
CASES = int(os.environ.get("FUZZ_API_CASES", "300"))
KEYS_PER_TENANT = 8  # requests go round these, so the per-key rate limit is not what is tested


@pytest.fixture(scope="module")
def stack():
    from local.stack import LocalStack

    s = LocalStack(port=0, sim_port_base=0, run_schedules=False).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def world(stack):
    """Two firms: the fuzzer is firm A; firm B's records carry a marker A must never see."""
    api = stack.gateway.url
    firms = {}
    for name in ("A", "B"):
        tenant = operator_cli(stack, "tenants", "create", f"Fuzz Firm {name}")["tenant_id"]
        first = operator_cli(stack, "api-keys", "create", tenant)["key"]
        keys = [first]
        for scope in ["admin"] * (KEYS_PER_TENANT - 1) + ["read"]:
            reply = requests.post(
                f"{api}/v1/api-keys",
                json={"scope": scope},
                headers={"Authorization": f"Bearer {first}"},
                timeout=30,
            )
            reply.raise_for_status()
            keys.append(reply.json()["key"])
        firms[name] = {"tenant": tenant, "admin": keys[:-1], "read": keys[-1]}
    marker = f"tenant-b-{uuid.uuid4().hex}"
    auth_b = {"Authorization": f"Bearer {firms['B']['admin'][0]}"}
    ids = []
    for path, body in (
        ("contacts", {"name": f"{marker} client", "emails": [{"address": "b@example.com"}]}),
        ("users", {"first_name": marker, "last_name": "B", "email": "u@example.com"}),
    ):
        reply = requests.post(f"{api}/v1/{path}", json=body, headers=auth_b, timeout=30)
        if reply.status_code == 201:
            ids.append(reply.json()["id"])
    return {"api": api, "firms": firms, "marker": marker, "b_ids": ids}


def test_every_operation_answers_within_its_schema_and_its_tenant(world, capsys):
    api, marker = world["api"], world["marker"]
    schema = schemathesis.openapi.from_url(f"{api}/v1/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    keys = cycle(world["firms"]["A"]["admin"])
    read_key = world["firms"]["A"]["read"]
    b_ids = world["b_ids"] or ["none"]
    session = requests.Session()
    figures: Counter[str] = Counter()
    failures: list[str] = []
    per_operation = max(2, CASES // (len(operations) * 4))

    def run(case, who: str) -> None:
        headers = {}
        if who in ("admin", "other-tenant-ids"):
            headers["Authorization"] = f"Bearer {next(keys)}"
        elif who == "read":
            headers["Authorization"] = f"Bearer {read_key}"
        if who == "other-tenant-ids" and case.path_parameters:
            for name in list(case.path_parameters):
                if name not in ("provider",):
                    case.path_parameters[name] = b_ids[figures["requests"] % len(b_ids)]
        response = case.call(base_url=api, session=session, headers=headers, timeout=30)
        figures["requests"] += 1
        figures[f"status {response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            failures.append(f"{case.operation.label} ({who}): {response.status_code}")
        if marker in response.text:
            figures["cross-tenant reads"] += 1
            failures.append(f"{case.operation.label} ({who}) answered tenant B's data")
        try:
            checks = [not_a_server_error]
            if who == "admin" and response.status_code != 429:
                checks.append(response_schema_conformance)
            case.validate_response(response, checks=checks, headers=headers)
        except Exception as exc:
            figures["schema violations"] += 1
            failures.append(f"{case.operation.label} ({who}): {str(exc)[:300]}")

    def fuzz(strategy, who: str, examples: int):
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(case=strategy)
        def once(case):
            run(case, who)

        return once

    for operation in operations:
        for mode, who in (
            (GenerationMode.POSITIVE, "admin"),
            (GenerationMode.NEGATIVE, "admin"),
            (GenerationMode.POSITIVE, "anonymous"),
            (GenerationMode.POSITIVE, "read"),
            (GenerationMode.POSITIVE, "other-tenant-ids"),
        ):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:
                continue

            try:
                fuzz(strategy, who, per_operation)()
            except Unsatisfiable:  # e.g. negative data for an operation taking none
                figures["operations with no such case"] += 1
    with capsys.disabled():
        print(
            f"\nAPI fuzz: {len(operations)} operations, {figures['requests']} requests; "
            + ", ".join(f"{k}: {v}" for k, v in sorted(figures.items()) if k != "requests")
            + f"; 5xx: {sum(1 for f in failures if ': 5' in f)}, schema violations: "
            f"{figures['schema violations']}, cross-tenant reads: {figures['cross-tenant reads']}"
        )
    assert not failures, "\n".join(failures[:30])
    assert figures["requests"] >= CASES * 0.9 or figures["requests"] >= CASES - 50
