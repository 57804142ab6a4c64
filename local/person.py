"""What a person does in a browser, scripted for the demo and the end-to-end tests:
ask booksync for the connection page, read which firm it names and continue to the
provider's sign-in, consent there, follow the redirects back (with booksync's cookie).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import unescape
from typing import Any

import requests


@dataclass
class ConnectResult:
    status: int
    title: str
    page: str
    hops: list[str]


def connect(
    api: str,
    key: str,
    provider: str,
    sim_company: str | None = None,
    reset: bool = False,
    settings: dict[str, Any] | None = None,
) -> ConnectResult:
    """Connect a provider through the real redirects: booksync -> provider consent -> callback.
    `settings`: the connection's, from before its first pull (import options)."""
    params = {"reset": "true"} if reset else {}
    if settings:
        params["settings"] = json.dumps(settings)
    start = requests.get(
        f"{api}/oauth/{provider}/connect",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    start.raise_for_status()
    browser = requests.Session()  # keeps the cookie booksync's hand-off page sets
    # booksync's hand-off page names the firm; the person reads it and continues
    handoff = browser.get(start.json()["authorize_url"], timeout=30)
    handoff.raise_for_status()
    link = re.search(r'id="continue" href="([^"]+)"', handoff.text)
    if link is None:
        raise RuntimeError(f"no continue link on the hand-off page: {handoff.text[:300]}")
    url = unescape(link.group(1))
    if (
        sim_company
    ):  # the simulator's stand-in for the person picking a company on the consent screen
        url += f"&sim_company={sim_company}"
    reply = browser.get(url, timeout=30)  # follows 302s: consent -> booksync's callback
    title = re.search(r"<h1>(.*?)</h1>", reply.text, re.S)
    return ConnectResult(
        status=reply.status_code,
        title=unescape(title.group(1)) if title else "",
        page=reply.text,
        hops=[r.headers.get("Location", "") for r in reply.history],
    )
