"""The embedded local stack: moto, the provider simulators, and template.yaml run locally.

`LocalStack.start()` brings up, in order: AWS on a moto server (every resource created
from the template), the provider simulators, each function's local Lambda pool with
its environment resolved from the template (plus local parameter values pointing at
moto and the simulators), the HTTP API, the queue pollers and the schedules. It writes
the URLs to `<state>/endpoints.json` and the functions' environment to `<state>/env`
(for the operator CLI).

`LocalStack(metered=True)` meters the AWS server (local/aws.py `AwsMeter`): each function
then signs its AWS calls with an access key of its own ("fn.<function>", else all use
"local"), the event sources (queue and stream pollers) with "eventsource" and the
runner's own tooling (`drain`) with "stack", so a measurement can tell booksync's calls
from the machinery's, function by function. `GET /_local/meter` reads
it, `DELETE /_local/meter` starts it again; `GET /_local/cpu` gives each function's CPU
seconds.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from local import template as tpl
from local.aws import AwsMeter, LocalOverrides, MotoAws, provision, table_schemas
from local.gateway import Gateway, LocalHandler, Route
from local.lambdas import FunctionPool, InvokeError
from local.pollers import QueuePoller, Schedule, StreamPoller, rate_seconds, scheduled_event

DEFAULT_STATE = tpl.ROOT / ".local"
# access keys the local machinery signs its AWS calls with (the functions use "local",
# or FUNCTION_KEY_PREFIX + their name in a metered stack)
EVENT_SOURCE_KEY = "eventsource"
TOOLING_KEY = "stack"
FUNCTION_KEY_PREFIX = "fn."


def local_parameters(template: dict[str, Any], sims: dict[str, str]) -> dict[str, str]:
    """Stack parameter values for a local deployment: dev credentials and simulator URLs."""
    values = tpl.parameter_defaults(template)
    values.update(
        {
            "Stage": "local",
            "LogLevel": "INFO",
            "QboClientId": "booksync-dev",
            "QboClientSecret": "booksync-dev-secret",
            "QboWebhookVerifierToken": secrets.token_urlsafe(24),
            "QbtClientId": "booksync-dev",
            "QbtClientSecret": "booksync-dev-secret",
            "XeroClientId": "booksync-dev",
            "XeroClientSecret": "booksync-dev-secret",
            "XeroWebhookKey": secrets.token_urlsafe(24),
            "QboEnvironment": "sandbox",
        }
    )
    if "qbo" in sims:
        q = sims["qbo"]
        values.update(
            {
                "QboApiBase": q,
                "QboAuthorizeUrl": f"{q}/connect/oauth2",
                "QboTokenUrl": f"{q}/oauth2/v1/tokens/bearer",
                "QboRevokeUrl": f"{q}/v2/oauth2/tokens/revoke",
            }
        )
    if "qbt" in sims:
        values["QbtApiBase"] = f"{sims['qbt']}/api/v1"
    if "xero" in sims:
        x = sims["xero"]
        values.update(
            {
                "XeroApiBase": x,
                "XeroAuthorizeUrl": f"{x}/identity/connect/authorize",
                "XeroIdentityBase": x,
            }
        )
    return values


def start_simulators(port_base: int) -> dict[str, Any]:
    try:
        from local import simulators
    except ImportError:
        return {}
    start = getattr(simulators, "start", None)
    if start is None:
        return {}
    handles = start(port_base=port_base)
    return dict(handles) if isinstance(handles, dict) else {h.provider.name: h for h in handles}


@dataclass
class LocalStack:
    state_dir: Path = DEFAULT_STATE
    port: int = 0
    sim_port_base: int = 0
    echo_logs: TextIO | None = None
    with_simulators: bool = True
    run_pollers: bool = True
    run_schedules: bool = True
    metered: bool = False  # count AWS requests and estimate DynamoDB capacity (AwsMeter)
    # invocations at once per queue: the template's ScalingConfig.MaximumConcurrency, at
    # most this many here (each is a process; this machine is not Lambda's fleet). One by
    # default: at 4 the billing fault run still finds payments refused as overpaying
    # (README, "The local stack"); `python -m local --queue-concurrency 4` runs so
    queue_concurrency: int = 1
    overrides: LocalOverrides = field(default_factory=LocalOverrides)

    aws: MotoAws | None = None
    gateway: Gateway | None = None
    pools: dict[str, FunctionPool] = field(default_factory=dict)
    pollers: dict[str, QueuePoller] = field(default_factory=dict)
    streams: dict[str, StreamPoller] = field(default_factory=dict)
    schedules: dict[str, Schedule] = field(default_factory=dict)
    simulators: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, dict[str, str]] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    function_env: dict[str, dict[str, str]] = field(default_factory=dict)

    def start(self) -> LocalStack:
        template = tpl.load()
        self.aws = MotoAws.start(meter=AwsMeter() if self.metered else None)
        if self.with_simulators:
            self.simulators = start_simulators(self.sim_port_base)
        sim_urls = {name: h.url for name, h in self.simulators.items()}
        self.parameters = local_parameters(template, sim_urls)
        resolver = tpl.Resolver(
            parameters=self.parameters, conditions=template.get("Conditions", {})
        )
        self.resources = provision(self.aws.client, template, resolver)
        if self.aws.meter is not None:
            self.aws.meter.tables = table_schemas(template, self.resources["tables"])

        log_dir = self.state_dir / "logs"
        for _logical, spec in tpl.functions(template).items():
            env = {k: str(v) for k, v in resolver.resolve(spec.environment).items()}
            env.update(self.aws.env())
            if self.metered:  # the meter tells the functions apart by their access keys
                env["AWS_ACCESS_KEY_ID"] = FUNCTION_KEY_PREFIX + spec.name
            # the Lambda runtime would have no X-Ray daemon here; Powertools' own switch
            env["POWERTOOLS_TRACE_DISABLED"] = "true"
            self.function_env[spec.name] = env
            self.pools[spec.name] = FunctionPool(
                spec,
                env,
                log_dir,
                echo=self.echo_logs,
                max_instances=max(2, self._concurrency(spec)),
            )

        routes: list[Route] = []
        sqs = self.aws.client("sqs", access_key=EVENT_SOURCE_KEY)
        for spec in tpl.functions(template).values():
            pool = self.pools[spec.name]
            for event_name, ev in spec.events.items():
                props = ev.get("Properties", {})
                if ev["Type"] == "HttpApi":
                    routes.append(Route.make(props.get("Method", "ANY"), props["Path"], pool))
                elif ev["Type"] == "SQS":
                    arn = resolver.resolve(props["Queue"])
                    logical_queue = props["Queue"]["Fn::GetAtt"][0]
                    self.pollers[spec.name] = QueuePoller(
                        sqs=sqs,
                        queue_url=resolver.refs[logical_queue],
                        queue_arn=arn,
                        function=pool,
                        batch_size=int(props.get("BatchSize", 10)),
                        report_failures="ReportBatchItemFailures"
                        in props.get("FunctionResponseTypes", []),
                        concurrency=self._concurrency(spec),
                        crash_redelivery_seconds=self.overrides.crash_redelivery_seconds,
                    )
                elif ev["Type"] == "DynamoDB":
                    destination = (
                        (props.get("DestinationConfig") or {}).get("OnFailure") or {}
                    ).get("Destination")
                    failure_url = None
                    if destination is not None:
                        failure_url = resolver.refs[destination["Fn::GetAtt"][0]]
                    self.streams[spec.name] = StreamPoller(
                        streams=self.aws.client("dynamodbstreams", access_key=EVENT_SOURCE_KEY),
                        sqs=sqs,
                        stream_arn=resolver.resolve(props["Stream"]),
                        function=pool,
                        batch_size=int(props.get("BatchSize", 100)),
                        max_retries=int(props.get("MaximumRetryAttempts", 10)),
                        bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                        report_failures="ReportBatchItemFailures"
                        in props.get("FunctionResponseTypes", []),
                        on_failure_url=failure_url,
                    )
                elif ev["Type"] == "Schedule":
                    name = str(resolver.resolve(props.get("Name", event_name)))
                    self.schedules[name] = Schedule(
                        name=name,
                        aliases=(event_name, f"{spec.logical_id}.{event_name}", spec.name),
                        every_seconds=rate_seconds(str(resolver.resolve(props["Schedule"]))),
                        function=pool,
                        enabled=bool(props.get("Enabled", True)),
                    )

        self.gateway = Gateway(routes, self._local_routes(), port=self.port)
        self.gateway.start()
        self._point_webhooks_at_gateway()
        if self.run_pollers:
            for poller in self.pollers.values():
                poller.start()
            for stream in self.streams.values():
                stream.start()
        if self.run_schedules:
            for schedule in self.schedules.values():
                schedule.start()
        self._write_state()
        return self

    def _point_webhooks_at_gateway(self) -> None:
        """Register our webhook URLs and keys with the simulators, as a developer would
        in Intuit's and Xero's portals."""
        import requests

        assert self.gateway is not None
        keys = {"qbo": "QboWebhookVerifierToken", "xero": "XeroWebhookKey"}
        for name, param in keys.items():
            handle = self.simulators.get(name)
            if handle is None:
                continue
            reply = requests.put(
                f"{handle.url}/_sim/webhooks",
                json={"url": f"{self.gateway.url}/webhooks/{name}", "key": self.parameters[param]},
                timeout=10,
            )
            reply.raise_for_status()

    def _local_routes(self) -> dict[str, LocalHandler]:
        def fire(_method: str, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
            """Fire a schedule now; a JSON body `{"time": "2030-01-01T05:00:00Z"}` gives
            the event's time (the tick it stands for) instead of now."""
            schedule = self.schedule(name)
            if schedule is None:
                return 404, {"error": f"no schedule {name}", "schedules": sorted(self.schedules)}
            try:
                at = (json.loads(body) if body.strip() else {}).get("time")
            except (ValueError, AttributeError):
                return 400, {"error": 'the body must be JSON: {"time": "<ISO 8601 UTC>"}'}
            try:
                if at is None:
                    return 200, {"schedule": schedule.name, "result": schedule.fire()}
                return 200, {"schedule": schedule.name, "result": self.fire_at(schedule, at)}
            except InvokeError as exc:
                return 502, {"schedule": schedule.name, "error": str(exc)}

        def status(_m: str, _a: str, _b: bytes) -> tuple[int, dict[str, Any]]:
            return 200, self.endpoints()

        def meter(method: str, _a: str, _b: bytes) -> tuple[int, dict[str, Any]]:
            if self.aws is None or self.aws.meter is None:
                return 404, {"error": "the stack runs without a meter (LocalStack(metered=True))"}
            if method == "DELETE":
                self.aws.meter.reset()
            return 200, self.aws.meter.snapshot()

        def cpu(_m: str, _a: str, _b: bytes) -> tuple[int, dict[str, Any]]:
            return 200, {"cpu_seconds": self.cpu_seconds(), "busy_seconds": self.busy_seconds()}

        return {
            r"POST /_local/schedules/(?P<arg>[^/]+)": fire,
            r"GET /_local/status": status,
            r"(GET|DELETE) /_local/meter": meter,
            r"GET /_local/cpu": cpu,
        }

    @staticmethod
    def fire_at(schedule: Schedule, at: str) -> Any:
        """Invoke a schedule's function with an event whose `time` is `at`."""
        event = scheduled_event(schedule.name)
        event["time"] = at
        event["id"] = f"local-{at}"
        schedule.fired += 1
        return schedule.function.invoke(event)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) each function's processes have used so far."""
        return {name: pool.cpu_seconds() for name, pool in self.pools.items()}

    def busy_seconds(self) -> dict[str, float]:
        """Wall seconds each function has spent in invocations so far."""
        return {name: pool.busy_seconds for name, pool in self.pools.items()}

    def schedule(self, name: str) -> Schedule | None:
        for schedule in self.schedules.values():
            if name == schedule.name or name in schedule.aliases:
                return schedule
        return None

    def endpoints(self) -> dict[str, Any]:
        assert self.aws is not None
        assert self.gateway is not None
        return {
            "api": self.gateway.url,
            "aws": self.aws.url,
            "simulators": {name: h.url for name, h in self.simulators.items()},
            "queues": self.resources.get("queues", {}),
            "dead_letter_queues": self.resources.get("dead_letter_queues", {}),
            "tables": self.resources.get("tables", {}),
            "schedules": sorted(self.schedules),
        }

    def _write_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "endpoints.json").write_text(
            json.dumps(self.endpoints(), indent=2) + "\n"
        )
        env = self.function_env.get("api", {})
        lines = [
            f"{k}={v}" for k, v in sorted(env.items()) if not k.startswith("POWERTOOLS_SERVICE")
        ]
        (self.state_dir / "env").write_text("\n".join(lines) + "\n")

    def _concurrency(self, spec: tpl.FunctionSpec) -> int:
        """How many invocations a function's queue runs at once: its mapping's
        MaximumConcurrency (Lambda's own scaling without one), capped here."""
        for ev in spec.events.values():
            if ev["Type"] == "SQS":
                scaling = ev.get("Properties", {}).get("ScalingConfig") or {}
                wanted = int(scaling.get("MaximumConcurrency", self.queue_concurrency))
                return max(1, min(wanted, self.queue_concurrency))
        return 1

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every worker queue is empty and nothing is in flight (tests, demo).

        Quiet is seen twice in a row, the streams before the queues each time: a stream is
        quiet when a read that began after the last look found nothing, so whatever was
        written before that look (by the caller, or by a worker before it let go of its
        message) is in a queue by the time the queues are counted. Counting the queues
        first let a stream deliver just after the count (a CI run lost two pushes so). A
        stream nobody polls (a stack started without its pollers) is not waited for."""

        assert self.aws is not None
        sqs = self.aws.client("sqs", access_key=TOOLING_KEY)
        looked = time.monotonic()
        deadline = looked + timeout
        quiet = 0
        while time.monotonic() < deadline:
            busy = sum(
                1
                for s in self.streams.values()
                if s.running and (not s.caught_up or s.caught_up_at < looked)
            )
            for url in self.resources.get("queues", {}).values():
                attrs = sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed",
                    ],
                )["Attributes"]
                busy += sum(int(v) for v in attrs.values())
            looked = time.monotonic()
            quiet = quiet + 1 if busy == 0 else 0
            if quiet == 2:
                return
            time.sleep(0.2)
        raise TimeoutError(f"queues still busy after {timeout}s")

    def stop(self) -> None:
        for schedule in self.schedules.values():
            schedule.stop()
        for poller in self.pollers.values():
            poller.stop()
        for stream in self.streams.values():
            stream.stop()
        if self.gateway:
            self.gateway.stop()
        for pool in self.pools.values():
            pool.stop()
        for handle in self.simulators.values():
            handle.stop()
        if self.aws:
            self.aws.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--port", type=int, default=3000, help="HTTP API port (default 3000)")
    parser.add_argument(
        "--sim-port-base",
        type=int,
        default=8700,
        help="simulators listen on N+1 (QBO), N+2 (QBT), N+3 (Xero)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo function logs")
    parser.add_argument(
        "--queue-concurrency",
        type=int,
        default=1,
        help="invocations at once per queue, up to its MaximumConcurrency (default 1)",
    )
    args = parser.parse_args(argv)
    stack = LocalStack(
        port=args.port,
        sim_port_base=args.sim_port_base,
        echo_logs=None if args.quiet else sys.stdout,
        queue_concurrency=args.queue_concurrency,
    )
    stack.start()
    ep = stack.endpoints()
    print(f"booksync local stack\n  API        {ep['api']}\n  AWS (moto) {ep['aws']}")
    for name, url in ep["simulators"].items():
        print(f"  {name:<10} {url}")
    print(
        f"  schedules  {', '.join(ep['schedules'])}"
        f"  (fire now: POST {ep['api']}/_local/schedules/<name>)"
    )
    print(f"  written    {stack.state_dir / 'endpoints.json'}\nCtrl-C stops.", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0
