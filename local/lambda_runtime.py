"""The inside of one local Lambda instance: a child process that imports a function's
handler once (a cold start) and then serves invocations read from a pipe.

Each function runs in its own process with its own environment, exactly as a Lambda
execution environment would: the code in functions/ and shared/ cannot tell the
difference. Requests and answers are JSON lines on private pipe descriptors, so the
function's own stdout (its JSON logs) stays free.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any


class LambdaContext:
    def __init__(self, function_name: str, request_id: str, deadline_ms: int, memory: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-uri", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--function-name", required=True)
    parser.add_argument("--memory", type=int, default=512)
    parser.add_argument("--req-fd", type=int, required=True)
    parser.add_argument("--resp-fd", type=int, required=True)
    parser.add_argument("--profile-dir", help="cProfile the invocations' CPU time (not init)")
    args = parser.parse_args()
    profile = cProfile.Profile(time.process_time) if args.profile_dir else None

    sys.path.insert(0, args.code_uri)
    module_name, func_name = args.handler.rsplit(".", 1)
    handler: Any = None
    init_error: dict[str, Any] | None = None
    began = time.monotonic()
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # reported on every invocation, as Lambda does
        init_error = {
            "errorType": "Runtime.ImportModuleError"
            if isinstance(exc, ImportError)
            else "Runtime.InitError",
            "errorMessage": f"{type(exc).__name__}: {exc}",
            "stackTrace": traceback.format_exc().splitlines(),
        }
        traceback.print_exc()
    # Lambda's "Init Duration": the handler module's import, reported with the first answer
    init_ms: float | None = (time.monotonic() - began) * 1000
    init_cpu = time.process_time()  # the interpreter's start and the import: CPU seconds

    requests = os.fdopen(args.req_fd, "r", encoding="utf-8")
    answers = os.fdopen(args.resp_fd, "w", encoding="utf-8")
    for line in requests:
        call = json.loads(line)
        if init_error:
            answer: dict[str, Any] = {"ok": False, **init_error}
        else:
            context = LambdaContext(
                args.function_name, call["request_id"], call["deadline_ms"], args.memory
            )
            try:
                if profile is not None:
                    profile.enable()
                try:
                    answer = {"ok": True, "result": handler(call["event"], context)}
                finally:
                    if profile is not None:
                        profile.disable()
                        out = Path(args.profile_dir) / f"{args.function_name}-{os.getpid()}.prof"
                        profile.dump_stats(out)
            except Exception as exc:
                traceback.print_exc()
                answer = {
                    "ok": False,
                    "errorType": type(exc).__name__,
                    "errorMessage": str(exc),
                    "stackTrace": traceback.format_exc().splitlines(),
                }
        if init_ms is not None:
            answer["init_ms"], answer["init_cpu_s"], init_ms = init_ms, init_cpu, None
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(json.dumps(answer, default=str) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
