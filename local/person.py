"""What a person does in a browser, scripted for the demo and the end-to-end tests:
ask booksync for the provider's sign-in page, consent there, follow the redirects back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape

import requests


@dataclass
class ConnectResult:
    status: int
    title: str
    page: str
    hops: list[str]


def connect(
    api: str, key: str, provider: str, sim_company: str | None = None, reset: bool = False
) -> ConnectResult:
    """Connect a provider through the real redirects: booksync -> provider consent -> callback."""
    query = "?reset=true" if reset else ""
    start = requests.get(
        f"{api}/oauth/{provider}/connect{query}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    start.raise_for_status()
    url = start.json()["authorize_url"]
    if (
        sim_company
    ):  # the simulator's stand-in for the person picking a company on the consent screen
        url += f"&sim_company={sim_company}"
    browser = requests.Session()
    reply = browser.get(url, timeout=30)  # follows 302s: consent -> booksync's callback
    title = re.search(r"<h1>(.*?)</h1>", reply.text, re.S)
    return ConnectResult(
        status=reply.status_code,
        title=unescape(title.group(1)) if title else "",
        page=reply.text,
        hops=[r.headers.get("Location", "") for r in reply.history],
    )
