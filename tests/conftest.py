"""Shared fixtures: AWS resources built from template.yaml under moto, and the real handlers."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "shared"))

from booksync.settings import get_settings  # noqa: E402
from booksync.store.models import bind_tables  # noqa: E402
from local import template as tpl  # noqa: E402
from local.aws import (  # noqa: E402
    CREDENTIALS,
    emulate_message_move_tasks_in_moto,
    keep_fifo_order_in_moto,
    provision,
    writes_are_atomic_in_moto,
)
from local.lambda_runtime import LambdaContext  # noqa: E402
from local.stack import local_parameters  # noqa: E402


@dataclass
class StackEnv:
    template: dict[str, Any]
    resolver: tpl.Resolver
    resources: dict[str, dict[str, str]]
    env: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=CREDENTIALS["AWS_REGION"])

    def queue_url(self, logical_id: str) -> str:
        return self.resolver.refs[logical_id]


@pytest.fixture
def stack_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[StackEnv]:
    """Every table, queue, key, secret and parameter of template.yaml, in moto's
    in-process mock, and the functions' environment variables set as the template sets them."""
    yield from _stack_env(monkeypatch, {})


@pytest.fixture(scope="session")
def sims() -> Iterator[dict[str, Any]]:
    """The three provider simulators on free loopback ports."""
    from local import simulators

    handles = simulators.start(port_base=0)
    yield handles
    for handle in handles.values():
        handle.stop()


@pytest.fixture
def sim_stack_env(monkeypatch: pytest.MonkeyPatch, sims: dict[str, Any]) -> Iterator[StackEnv]:
    """stack_env with the provider endpoints pointing at the simulators (fresh state)."""
    import requests

    for handle in sims.values():
        requests.post(f"{handle.url}/_sim/reset", timeout=10).raise_for_status()
    yield from _stack_env(monkeypatch, {name: h.url for name, h in sims.items()})


def _stack_env(monkeypatch: pytest.MonkeyPatch, sim_urls: dict[str, str]) -> Iterator[StackEnv]:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    keep_fifo_order_in_moto()
    emulate_message_move_tasks_in_moto()
    writes_are_atomic_in_moto()
    with mock_aws():
        template = tpl.load()
        resolver = tpl.Resolver(
            parameters=local_parameters(template, sim_urls),
            conditions=template.get("Conditions", {}),
        )
        made = provision(
            lambda service: boto3.client(service, region_name=CREDENTIALS["AWS_REGION"]),
            template,
            resolver,
        )
        glob = template["Globals"]["Function"]["Environment"]["Variables"]
        env = {k: str(v) for k, v in resolver.resolve(glob).items()}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        bind_tables(get_settings().tables)
        yield StackEnv(template, resolver, made, env)
    get_settings.cache_clear()


def load_handler(function: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import functions/<function>/app.py afresh, as a cold start would."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", function)
    parameters.clear_caches()  # a cold start has no cached secrets
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"fn_{function}_{uuid.uuid4().hex}", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(function: str = "test") -> LambdaContext:
    # 15 minutes ahead: the longest a Lambda invocation may run
    return LambdaContext(function, str(uuid.uuid4()), int(time.time() * 1000) + 900_000, 512)


def load_event(relative: str, **substitutions: str) -> dict[str, Any]:
    text = (ROOT / "events" / relative).read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    event: dict[str, Any] = json.loads(text)
    return event


@pytest.fixture
def handler(stack_env: StackEnv, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """handler("api") -> the function's lambda_handler, loaded against the moto stack."""

    def load(function: str) -> Any:
        return load_handler(function, monkeypatch).lambda_handler

    return load


class Outbox:
    """The Records table's stream, read as the fanout function's event source mapping
    reads it, under moto's mock: `flush()` hands what was written since the last flush to
    the real outbox (engine/outbox.fan_out_stream) and answers what it queued."""

    def __init__(self, stack: StackEnv) -> None:
        self.stack = stack
        ddb = stack.client("dynamodb")
        table = stack.resources["tables"]["RecordsTable"]
        self.arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.streams = stack.client("dynamodbstreams")
        shard = self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]

    def read(self) -> list[dict[str, Any]]:
        reply = self.streams.get_records(ShardIterator=self.iterator, Limit=1000)
        self.iterator = reply["NextShardIterator"]
        records = []
        for raw in reply.get("Records", []):
            record = dict(raw)
            dynamodb = dict(record["dynamodb"])
            dynamodb.pop("ApproximateCreationDateTime", None)
            record["dynamodb"] = dynamodb
            records.append(record)
        return records

    def flush(self) -> dict[str, Any]:
        from booksync.boot import boot
        from booksync.engine.outbox import fan_out_stream

        return fan_out_stream(boot(get_settings()).enqueuer, {"Records": self.read()})


@pytest.fixture
def outbox(stack_env: StackEnv) -> Outbox:
    return Outbox(stack_env)


@pytest.fixture
def api_key(stack_env: StackEnv) -> str:
    from booksync.store.tenants import create_api_key, create_tenant

    tenant = create_tenant("Test Firm")
    return create_api_key(tenant.tenant_id).key


os.environ.setdefault("AWS_DEFAULT_REGION", CREDENTIALS["AWS_REGION"])
