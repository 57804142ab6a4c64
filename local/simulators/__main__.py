"""`python -m local.simulators --port-base 8700`: serve QBO, QBT and Xero until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading

from . import PROVIDERS, start, stop_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.simulators", description=__doc__)
    parser.add_argument(
        "--port-base",
        type=int,
        default=8700,
        help="QBO on N+1, QBT on N+2, Xero on N+3 (default 8700)",
    )
    parser.add_argument(
        "--providers", default=",".join(PROVIDERS), help="comma-separated subset of qbo,qbt,xero"
    )
    args = parser.parse_args(argv)
    handles = start(args.port_base, [p.strip() for p in args.providers.split(",") if p.strip()])
    if not handles:
        print("no simulator started")
        return 1
    for name, handle in handles.items():
        print(f"{name:5} {handle.url}", flush=True)
    stop = threading.Event()
    # Ctrl-C and `kill` both end the serve loop cleanly (a background job inherits an
    # ignored SIGINT, so install handlers explicitly).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
        print("stopping", flush=True)
    finally:
        stop_all(handles)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
