"""booksync's provider simulators: faithful HTTP fakes of QBO, QBT and Xero.

`start()` runs the chosen simulators on 127.0.0.1 for tests and the local stack; each provider
package (`local.simulators.qbo`, `.qbt`, `.xero`) exposes `make_provider(clock)`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

from .core import Clock, SimServer, serve

PROVIDERS = ("qbo", "qbt", "xero")
# Fixed offsets from --port-base: QBO N+1, QBT N+2, Xero N+3 (CONTRACT.md "Starting").
PORT_OFFSETS = {"qbo": 1, "qbt": 2, "xero": 3}


def start(
    port_base: int = 0,
    providers: Iterable[str] = PROVIDERS,
    clock: Clock | None = None,
) -> dict[str, SimServer]:
    """Start each provider's simulator; returns `{name: handle}` (handle: .url .provider .stop()).

    `port_base=0` picks free ports. A provider whose package is not there yet is skipped with
    a message on stderr; a provider whose package fails to import raises.
    """
    handles: dict[str, SimServer] = {}
    try:
        for name in providers:
            if name not in PORT_OFFSETS:
                raise ValueError(f"unknown provider {name!r}; expected one of {PROVIDERS}")
            try:
                module = importlib.import_module(f"{__name__}.{name}")
            except ModuleNotFoundError as exc:
                if exc.name not in (f"{__name__}.{name}",):
                    raise
                print(f"simulators: skipping {name}: package {exc.name} not found", file=sys.stderr)
                continue
            if not hasattr(module, "make_provider"):
                print(
                    f"simulators: skipping {name}: {module.__name__} has no make_provider yet",
                    file=sys.stderr,
                )
                continue
            provider = module.make_provider(clock or Clock())
            port = port_base + PORT_OFFSETS[name] if port_base else 0
            handles[name] = serve(provider, port)
    except BaseException:
        stop_all(handles)
        raise
    return handles


def stop_all(handles: dict[str, SimServer]) -> None:
    for handle in handles.values():
        handle.stop()


__all__ = ["PORT_OFFSETS", "PROVIDERS", "start", "stop_all"]
