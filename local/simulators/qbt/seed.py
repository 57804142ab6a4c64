"""Sandbox data for a new simulated QuickBooks Time company.

QuickBooks Time has no sandbox (a developer signs up for a trial account), so "sandbox" here
means what such an account holds after a little setup: the owner (an admin who tracks
time), a few staff, a group, customer jobcodes with children, and the three PTO jobcodes a
new account comes with (Sick, Vacation, Holiday: docs Users/Examples/_create-response.md.erb
side-loads them for a fresh user's `pto_balances`). No custom fields: the docs do not say a
new account has any, so the 6-active cap is all free for tests.
"""

from __future__ import annotations

from typing import Any

from .store import QbtStore


def _one(store: QbtStore, cid: str, endpoint: str, item: dict[str, Any]) -> dict[str, Any]:
    row = store.write(cid, endpoint, "POST", {"data": [item]})["results"][endpoint]["1"]
    if row["_status_code"] != 200:
        raise RuntimeError(f"seed {endpoint} failed: {row}")
    return row


def seed_company(store: QbtStore, name: str, seed: str = "sandbox") -> dict[str, Any]:
    """Create a company; `seed` "sandbox" fills it, "empty" leaves only the owner (every real
    account has its admin: the person who signed up, who is also the OAuth consenting user)."""
    comp = store.create_company(name)
    cid = comp["id"]
    owner = _one(
        store,
        cid,
        "users",
        {
            "username": "admin",
            "first_name": "Avery",
            "last_name": "Owner",
            "email": f"admin@{comp['client_url']}.example",
            "payroll_id": "A-001",
            "permissions": {
                "admin": True,
                "manage_timesheets": True,
                "manage_users": True,
                "manage_jobcodes": True,
                "reports": True,
                "time_tracking": True,
            },
        },
    )
    comp["owner_user_id"] = owner["id"]
    comp["endpoint_modified"]["current_user"] = owner["last_modified"]
    for pto in ("Sick", "Vacation", "Holiday"):
        _one(store, cid, "jobcodes", {"name": pto, "type": "pto", "assigned_to_all": True})
    if seed == "empty":
        return comp
    group = _one(store, cid, "groups", {"name": "Office"})
    staff = [
        ("bkeeper", "Blair", "Keeper", "S-101"),
        ("cpayne", "Casey", "Payne", "S-102"),
        ("dledger", "Devon", "Ledger", "S-103"),
    ]
    for username, first, last, payroll in staff:
        _one(
            store,
            cid,
            "users",
            {
                "username": username,
                "first_name": first,
                "last_name": last,
                "email": f"{username}@{comp['client_url']}.example",
                "payroll_id": payroll,
                "group_id": group["id"],
                "permissions": {"time_tracking": True},
            },
        )
    tree = {
        "Acme Corp": ("acme", ["Bookkeeping", "Payroll"]),
        "Globex Ltd": ("globex", ["Tax Return", "Advisory"]),
    }
    for parent_name, (code, children) in tree.items():
        parent = _one(
            store,
            cid,
            "jobcodes",
            {
                "name": parent_name,
                "short_code": code,
                "billable": True,
                "billable_rate": 120.0,
                "assigned_to_all": True,
            },
        )
        for child in children:
            _one(
                store,
                cid,
                "jobcodes",
                {
                    "name": child,
                    "parent_id": parent["id"],
                    "billable": True,
                    "billable_rate": 120.0,
                },
            )
    _one(store, cid, "jobcodes", {"name": "Internal", "short_code": "int", "assigned_to_all": True})
    return comp
