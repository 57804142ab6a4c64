"""Local Lambda execution environments: a pool of child processes per function.

An instance is started on first use (a cold start: its init duration, the handler
module's import, is kept in `cold_starts`), serves one invocation at a
time, is killed and replaced when an invocation overruns the function's timeout, and
writes the function's log lines to `<state>/logs/<function>.log` (and the console).
`cpu_seconds()` is the CPU time (user and system, from /proc) the function's
processes have used in invocations (their init, the cold start, is `init_cpu_seconds`),
and `busy_seconds` the wall time spent in invocations. LOCAL_PROFILE_DIR (below) profiles
the invocations.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from local.template import ROOT, FunctionSpec


class InvokeError(RuntimeError):
    def __init__(self, function: str, answer: dict[str, Any]) -> None:
        self.answer = answer
        super().__init__(f"{function}: {answer.get('errorType')}: {answer.get('errorMessage')}")


# LOCAL_PROFILE_DIR=<dir>: each instance cProfiles its invocations' CPU time (its init, the
# import, excluded, as the bench's CPU figures) into <dir>/<function>-<pid>.prof, for
# `python -m pstats` or snakeviz: where a record's CPU milliseconds go
PROFILE_DIR = os.environ.get("LOCAL_PROFILE_DIR")

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of a process (Linux /proc), None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    # after the command name: state is field 3, utime 14 and stime 15 (proc(5))
    return (int(fields[11]) + int(fields[12])) / _TICKS


@dataclass
class _Instance:
    proc: subprocess.Popen[bytes]
    requests: TextIO
    answers: TextIO
    started: float
    invocations: int = 0
    cpu_seen: float = 0.0  # its CPU seconds when last read (kept once it has exited)

    def cpu_seconds(self) -> float:
        if self.proc.poll() is None:
            now = process_cpu_seconds(self.proc.pid)
            if now is not None and now > self.cpu_seen:
                self.cpu_seen = now
        return self.cpu_seen


@dataclass
class FunctionPool:
    spec: FunctionSpec
    environment: dict[str, str]
    log_dir: Path
    echo: TextIO | None = None
    max_instances: int = 2
    cold_starts: list[float] = field(default_factory=list)
    busy_seconds: float = 0.0  # wall time spent in invocations, all instances
    init_cpu_seconds: float = 0.0  # CPU the instances' cold starts used (not in cpu_seconds)
    _instances: list[_Instance] = field(default_factory=list)
    _idle: queue.LifoQueue[_Instance] = field(default_factory=queue.LifoQueue)
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: threading.Semaphore | None = None

    def __post_init__(self) -> None:
        self._slots = threading.Semaphore(self.max_instances)
        self.log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def name(self) -> str:
        return self.spec.name

    def _spawn(self) -> _Instance:
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        env = {**self.environment}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "shared"), str(ROOT)])
        env["AWS_LAMBDA_FUNCTION_NAME"] = self.spec.logical_id
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = "512"
        env["PYTHONUNBUFFERED"] = "1"
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "local.lambda_runtime",
                "--code-uri",
                str(self.spec.code_uri),
                "--handler",
                self.spec.handler,
                "--function-name",
                self.spec.logical_id,
                "--req-fd",
                str(req_r),
                "--resp-fd",
                str(resp_w),
                *(["--profile-dir", PROFILE_DIR] if PROFILE_DIR else []),
            ],
            env=env,
            cwd=str(ROOT),
            pass_fds=(req_r, resp_w),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        os.close(req_r)
        os.close(resp_w)
        threading.Thread(target=self._pump_logs, args=(proc,), daemon=True).start()
        inst = _Instance(
            proc=proc,
            requests=os.fdopen(req_w, "w", encoding="utf-8"),
            answers=os.fdopen(resp_r, "r", encoding="utf-8"),
            started=time.monotonic(),
        )
        with self._lock:
            self._instances.append(inst)
        return inst

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) every instance this pool has started used in its
        invocations (its cold start excluded: a scaled-out queue's new instances would
        otherwise charge their imports to the records of the moment); an instance that
        has exited counts what it had when last read."""
        with self._lock:
            instances, init = list(self._instances), self.init_cpu_seconds
        return max(0.0, sum(inst.cpu_seconds() for inst in instances) - init)

    def _pump_logs(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with (self.log_dir / f"{self.name}.log").open("ab") as sink:
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                if self.echo is not None:
                    self.echo.write(f"[{self.name}] {line.decode(errors='replace')}")
                    self.echo.flush()

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler on `event`; return its result or raise InvokeError."""
        assert self._slots is not None
        with self._slots:
            began = time.monotonic()
            try:
                inst = self._idle.get_nowait()
            except queue.Empty:
                inst = self._spawn()
            request_id = str(uuid.uuid4())
            deadline_ms = int((time.time() + self.spec.timeout) * 1000)
            inst.requests.write(
                json.dumps({"event": event, "request_id": request_id, "deadline_ms": deadline_ms})
                + "\n"
            )
            inst.requests.flush()
            answer = self._read_answer(inst, self.spec.timeout + 5)
            if answer is not None and "init_cpu_s" in answer:  # its first answer
                with self._lock:
                    self.init_cpu_seconds += float(answer["init_cpu_s"])
            inst.cpu_seconds()  # read while it is alive
            with self._lock:
                self.busy_seconds += time.monotonic() - began
            if answer is None:
                inst.proc.kill()
                raise InvokeError(
                    self.name,
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"timed out after {self.spec.timeout}s",
                    },
                )
            if "init_ms" in answer:  # the instance's first answer: its init duration
                self.cold_starts.append(answer["init_ms"] / 1000)
            inst.invocations += 1
            self._idle.put(inst)
        if not answer.get("ok"):
            raise InvokeError(self.name, answer)
        return answer.get("result")

    @staticmethod
    def _read_answer(inst: _Instance, timeout: float) -> dict[str, Any] | None:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(inst.answers.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            return None
        answer: dict[str, Any] = json.loads(box[0])
        return answer

    def stop(self) -> None:
        while True:
            try:
                inst = self._idle.get_nowait()
            except queue.Empty:
                break
            inst.requests.close()
            inst.proc.terminate()
            try:
                inst.proc.wait(5)
            except subprocess.TimeoutExpired:
                inst.proc.kill()
