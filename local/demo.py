"""`make demo`: start the embedded stack, run booksync end to end over HTTP, say what happened.

Everything goes through the public doors: the operator CLI makes a tenant and an API
key, the practice API takes a contact over HTTP, the firm connects QBO, QBT and Xero
through the providers' OAuth redirects (the simulators), a change made in QuickBooks
reaches booksync as a signed webhook and a pull, and the hourly schedule fires.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from booksync.engine.messages import encode, push_messages
from local.person import connect
from local.stack import LocalStack
from local.template import ROOT


class Demo:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = stack.gateway.url if stack.gateway else ""
        self.step_no = 0

    def step(self, text: str) -> None:
        self.step_no += 1
        print(f"\n{self.step_no}. {text}", flush=True)

    def show(self, label: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        print(f"   {label:<22} {text}", flush=True)

    def cli(self, *args: str) -> dict[str, Any]:
        env = {**os.environ, **self.stack.function_env["api"], "PYTHONPATH": str(ROOT / "shared")}
        out = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "booksync.ops.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def wait(self, what: str, probe: Any, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(0.2)
        raise SystemExit(f"demo failed: {what} did not happen within {timeout}s")


def run(demo: Demo) -> None:
    stack = demo.stack
    assert stack.aws is not None
    ep = stack.endpoints()
    demo.step("The embedded stack is up")
    demo.show("practice API", ep["api"])
    demo.show("AWS (moto)", ep["aws"])
    for name, url in ep["simulators"].items():
        demo.show(f"{name} simulator", url)
    demo.show("queues + DLQs", f"{len(ep['queues'])} + {len(ep['dead_letter_queues'])}")

    demo.step("The operator creates a tenant and an API key (booksync CLI)")
    tenant = demo.cli("tenants", "create", "Harbour & Co Accountants")
    key = demo.cli("api-keys", "create", tenant["tenant_id"])
    demo.show("tenant", tenant["tenant_id"])
    demo.show("api key", f"{key['key'][:12]}... (shown once, stored as a hash)")
    auth = {"Authorization": f"Bearer {key['key']}"}

    demo.step("The practice app creates a contact over HTTP and reads it back")
    created = requests.post(
        f"{demo.api}/v1/contacts",
        headers=auth,
        timeout=30,
        json={"name": "Bayside Dental", "emails": [{"address": "accounts@bayside.example"}]},
    )
    demo.show(f"POST /v1/contacts -> {created.status_code}", created.json())
    if created.status_code != 201:
        raise SystemExit("demo failed: the contact was not created")
    read = requests.get(f"{demo.api}{created.headers['Location']}", headers=auth, timeout=30)
    got = read.json()
    demo.show(
        f"GET  {created.headers['Location'][:22]}... -> {read.status_code}",
        f"name={got['name']!r} version={got['version']} ETag={read.headers['ETag']}",
    )
    bad = requests.post(f"{demo.api}/v1/contacts", headers=auth, timeout=30, json={"name": ""})
    demo.show(f"bad input -> {bad.status_code}", bad.json()["detail"])
    anon = requests.get(f"{demo.api}/v1/contacts", timeout=30)
    demo.show(f"no key -> {anon.status_code}", anon.json()["detail"])

    demo.step("The firm's QuickBooks holds 300 customers; the practice app knows 30 of them")
    sims = ep["simulators"]
    qbo_company = str(
        requests.post(
            f"{sims['qbo']}/_sim/companies",
            json={"name": "Harbour & Co Books", "seed": "empty"},
            timeout=30,
        ).json()["id"]
    )
    for i in range(300):  # as a bookkeeper made them, in QuickBooks' own screens
        requests.post(
            f"{sims['qbo']}/_sim/companies/{qbo_company}/objects/Customer",
            json={
                "DisplayName": f"Customer {i:03d}",
                "PrimaryEmailAddr": {"Address": f"c{i}@books.example"},
            },
            timeout=30,
        ).raise_for_status()
    for i in range(30):
        exact = i < 20  # same name and email (other case and spacing); else another email
        email = f"C{i}@books.example" if exact else f"old{i}@elsewhere.example"
        requests.post(
            f"{demo.api}/v1/contacts",
            headers=auth,
            timeout=30,
            json={
                "name": f"customer  {i:03d}" if exact else f"Customer {i:03d}",
                "emails": [{"address": email}],
            },
        ).raise_for_status()
    demo.show("QuickBooks", "300 customers")
    demo.show("practice app", "20 with the same name and email, 10 with the name only")

    demo.step("The firm connects QuickBooks (OAuth redirects); connecting imports the books")
    result = connect(demo.api, key["key"], "qbo", sim_company=qbo_company)
    hop = result.hops[0].split("?")[0] if result.hops else "-"
    demo.show("qbo", f"{result.status} {result.title!r} (provider redirected to {hop})")
    if result.status != 200:
        raise SystemExit("demo failed: qbo did not connect")
    stack.drain(timeout=120)
    duplicates = requests.get(
        f"{demo.api}/v1/duplicates", params={"status": "open"}, headers=auth, timeout=30
    ).json()["items"]
    linked = _count_all(demo, "/v1/links", auth, provider="qbo", kind="contact")
    imported = _count_all(demo, "/v1/contacts", auth, origin="qbo")
    demo.show("linked", f"{linked - imported} exact matches")
    demo.show("to review", f"{len(duplicates)} possible duplicates")
    demo.show("created in the hub", f"{imported} (no match; import never writes to QuickBooks)")
    for dup in duplicates[:2]:
        why = "; ".join(dup["candidates"][0]["reasons"]) if dup["candidates"] else ""
        demo.show(f"  e.g. {dup['provider_contact']['name']!r}", why)

    demo.step("A person resolves the 10 possible duplicates through the API: link each")
    for dup in duplicates:
        requests.post(
            f"{demo.api}/v1/duplicates/{dup['id']}/resolve",
            headers=auth,
            timeout=30,
            json={"action": "link", "hub_id": dup["candidates"][0]["hub_id"]},
        ).raise_for_status()
    demo.show(
        "qbo links",
        f"{_count_all(demo, '/v1/links', auth, provider='qbo', kind='contact')} of 300 customers",
    )

    demo.step("The firm connects QuickBooks Time and Xero (Xero's contacts are imported too)")
    for provider in ("qbt", "xero"):
        result = connect(demo.api, key["key"], provider)
        demo.show(provider, f"{result.status} {result.title!r}")
        if result.status != 200:
            raise SystemExit(f"demo failed: {provider} did not connect")
    rows = demo.wait("the first pulls", lambda: _all_synced(demo, auth))
    stack.drain(timeout=120)
    companies = {r["provider"]: r["company_id"] for r in rows}
    for row in rows:
        demo.show(f"  {row['provider']}", f"{row['status']}, company {row['company_name']!r}")

    demo.step("'Save and sync' sends every client to QuickBooks Time and Xero, in full batches")
    before = {p: _api_calls(sims[p]) for p in ("qbt", "xero")}
    for provider in ("qbt", "xero"):
        reply = requests.post(
            f"{demo.api}/v1/connections/{provider}/sync", headers=auth, timeout=60
        )
        reply.raise_for_status()
        queued = reply.json()["enqueued"].get("contact", 0)
        demo.show(f"POST .../{provider}/sync", f"{queued} queued")
    stack.drain(timeout=300)
    hub_total = _count_all(demo, "/v1/contacts", auth)
    for provider in ("qbt", "xero"):
        sent = _count_all(demo, "/v1/links", auth, provider=provider, kind="contact")
        calls = _api_calls(sims[provider]) - before[provider]
        demo.show(
            provider,
            f"{sent}/{hub_total} hub contacts linked; {calls} API calls "
            f"= {calls / max(sent, 1):.2f} per record",
        )

    demo.step("20 new clients in the practice app reach QuickBooks, Xero and QuickBooks Time")
    before = {p: _api_calls(sims[p]) for p in ("qbo", "xero", "qbt")}
    made = []
    for i in range(20):
        reply = requests.post(
            f"{demo.api}/v1/contacts",
            headers=auth,
            timeout=30,
            json={"name": f"Demo Client {i:02d}", "emails": [{"address": f"c{i}@demo.example"}]},
        )
        made.append(reply.json())
    stack.drain(timeout=180)
    for provider, (kind, field) in OBJECTS.items():
        names = _names(sims[provider], companies[provider], kind, field)
        arrived = sum(1 for c in made if c["name"] in names)
        calls = _api_calls(sims[provider]) - before[provider]
        demo.show(
            provider, f"{arrived}/20 arrived; {calls} API calls = {calls / 20:.2f} per record"
        )

    demo.step("A rename in the practice app renames all three")
    _rename(demo, auth, made[0]["id"], "Demo Client 00 Ltd")
    stack.drain(timeout=60)
    for provider, (kind, field) in OBJECTS.items():
        renamed = "Demo Client 00 Ltd" in _names(sims[provider], companies[provider], kind, field)
        demo.show(provider, "renamed" if renamed else "NOT renamed")

    demo.step("A bookkeeper renames the client in QuickBooks; its signed webhook updates the hub")
    qbo_url = sims["qbo"]
    target = next(
        c
        for c in _objects(qbo_url, companies["qbo"], "Customer")
        if c["DisplayName"] == "Demo Client 01"
    )
    requests.patch(
        f"{qbo_url}/_sim/companies/{companies['qbo']}/objects/Customer/{target['Id']}",
        json={"DisplayName": "Demo Client 01 (Harbour)"},
        timeout=30,
    ).raise_for_status()
    hub = demo.wait(
        "the webhook pull",
        lambda: (
            r
            if (
                r := requests.get(
                    f"{demo.api}/v1/contacts/{made[1]['id']}", headers=auth, timeout=30
                ).json()
            )["name"]
            == "Demo Client 01 (Harbour)"
            else None
        ),
    )
    demo.show("hub contact", f"{hub['name']!r}, version {hub['version']}, origin {hub['origin']}")
    stack.drain(timeout=60)
    in_xero = "Demo Client 01 (Harbour)" in _names(
        sims["xero"], companies["xero"], "Contacts", "Name"
    )
    demo.show("passed on to Xero", "yes" if in_xero else "no")

    demo.step("A rename made in QuickBooks Time does not change the hub (the link is the id)")
    jobcode = next(
        j
        for j in _objects(sims["qbt"], companies["qbt"], "jobcodes")
        if j["name"] == "Demo Client 02"
    )
    requests.patch(
        f"{sims['qbt']}/_sim/companies/{companies['qbt']}/objects/jobcodes/{jobcode['id']}",
        json={"name": "Renamed in QBT"},
        timeout=30,
    ).raise_for_status()
    requests.post(f"{demo.api}/_local/schedules/Hourly", timeout=60)
    stack.drain(timeout=60)
    still = requests.get(f"{demo.api}/v1/contacts/{made[2]['id']}", headers=auth, timeout=30).json()
    demo.show("hub contact", f"{still['name']!r} (unchanged)")

    demo.step(
        "A new client named like a QuickBooks supplier: a sync error, then a rename clears it"
    )
    requests.post(
        f"{qbo_url}/_sim/companies/{companies['qbo']}/objects/Vendor",
        json={"DisplayName": "Harbour Couriers"},
        timeout=30,
    ).raise_for_status()
    clash = requests.post(
        f"{demo.api}/v1/contacts", headers=auth, timeout=30, json={"name": "Harbour Couriers"}
    ).json()
    stack.drain(timeout=60)
    errors = requests.get(
        f"{demo.api}/v1/sync-errors", params={"status": "open"}, headers=auth, timeout=30
    ).json()["items"]
    error = next(e for e in errors if e["record"]["id"] == clash["id"])
    demo.show("sync error", f"{error['code']} ({error['provider']}): {error['title']}")
    demo.show("  QuickBooks said", error["provider_message"])
    demo.show("  what to do", error["what_to_do"])
    _rename(demo, auth, clash["id"], "Harbour Couriers Client")
    stack.drain(timeout=60)
    after = requests.get(
        f"{demo.api}/v1/sync-errors/{error['id']}", headers=auth, timeout=30
    ).json()
    in_qbo = "Harbour Couriers Client" in _names(
        qbo_url, companies["qbo"], "Customer", "DisplayName"
    )
    demo.show(
        "after the rename", f"in QuickBooks: {'yes' if in_qbo else 'no'}; error {after['status']}"
    )

    _time_story(demo, auth, sims, companies, made)
    _billing_story(demo, auth, sims, companies, made)
    _operations_story(demo, auth, sims, companies, tenant["tenant_id"], made)
    _xero_hours_story(demo, sims)

    demo.step("The hourly schedule fires now (POST /_local/schedules/Hourly)")
    fired = requests.post(f"{demo.api}/_local/schedules/Hourly", timeout=30).json()
    demo.show("scheduler answered", fired["result"])
    open_errors = requests.get(
        f"{demo.api}/v1/sync-errors", params={"status": "open"}, headers=auth, timeout=30
    ).json()
    open_errors = open_errors["items"]
    demo.show("open sync errors", str(len(open_errors)))
    for error in open_errors[:3]:
        demo.show(f"  {error['code']}", f"{error['title']}: {error['what_to_do'][:70]}")

    demo.step("The firm disconnects QuickBooks Time (tokens deleted, links kept)")
    gone = requests.post(f"{demo.api}/oauth/qbt/disconnect", headers=auth, timeout=30).json()
    demo.show("disconnect", gone)

    cold = {name: pool.cold_starts[0] for name, pool in stack.pools.items() if pool.cold_starts}
    demo.step("Figures")
    for name, seconds in sorted(cold.items()):
        demo.show(f"init {name}", f"{seconds * 1000:.0f} ms (cold start: the handler's import)")
    demo.show("function logs", str(stack.state_dir / "logs"))


def _time_story(
    demo: Demo,
    auth: dict[str, str],
    sims: dict[str, str],
    companies: dict[str, str],
    made: list[dict[str, Any]],
) -> None:
    """Issue 12, shortened: time both ways with QuickBooks Time, sent once to QuickBooks."""
    demo.step("A partner joins: booksync matches or creates her in QuickBooks and QuickBooks Time")
    ann = requests.post(
        f"{demo.api}/v1/users",
        headers=auth,
        timeout=30,
        json={
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann.lee@harbour.example",
            "task_types": ["Audit", "Tax"],
            "roles": ["Partner", "Senior"],
        },
    ).json()
    linked = demo.wait(
        "her links",
        lambda: (
            found
            if len(found := {r["provider"]: r for r in _links_of(demo, auth, "user", ann["id"])})
            >= 2
            else None
        ),
        timeout=60,
    )
    for provider, row in sorted(linked.items()):
        demo.show(f"  {provider}", f"user {ann['id'][:8]} <-> {row['provider_id']}")

    demo.step("Time entered in the practice app is in QuickBooks Time at once, task type and role")
    monday = date.today() - timedelta(days=date.today().weekday() + 7)
    client = made[3]
    entry = requests.post(
        f"{demo.api}/v1/time-entries",
        headers=auth,
        timeout=30,
        json={
            "user_id": ann["id"],
            "contact_id": client["id"],
            "date": monday.isoformat(),
            "duration_minutes": 95,
            "notes": "VAT return",
            "task_type": "Tax",
            "role": "Partner",
        },
    ).json()
    sheet_link = demo.wait(
        "the timesheet", lambda: _links_of(demo, auth, "time_entry", entry["id"], "qbt"), 30
    )[0]
    sheet = next(
        t
        for t in _objects(sims["qbt"], companies["qbt"], "timesheets")
        if str(t["id"]) == sheet_link["provider_id"]
    )
    fields = {
        str(f["id"]): f["name"] for f in _objects(sims["qbt"], companies["qbt"], "customfields")
    }
    shown = {fields.get(k, k): v for k, v in (sheet.get("customfields") or {}).items()}
    demo.show("QBT timesheet", f"{sheet['id']}: {sheet['duration'] / 3600:.2f} h, {shown}")

    demo.step("Time entered in QuickBooks Time lands in the hub on the next poll (every 5 min)")
    qbt_user = next(r for r in _links_of(demo, auth, "user", ann["id"]) if r["provider"] == "qbt")
    jobcode = _links_of(demo, auth, "contact", made[4]["id"], "qbt")[0]
    requests.post(
        f"{sims['qbt']}/_sim/companies/{companies['qbt']}/objects/timesheets",
        timeout=30,
        json={
            "user_id": int(qbt_user["provider_id"]),
            "jobcode_id": int(jobcode["provider_id"]),
            "type": "manual",
            "date": monday.isoformat(),
            "duration": 2700,
            "notes": "Phone call, entered in QuickBooks Time",
        },
    ).raise_for_status()
    fired = requests.post(f"{demo.api}/_local/schedules/QbtPoll", timeout=30).json()
    demo.show("QbtPoll fired", fired["result"])
    landed = demo.wait(
        "the poll",
        lambda: (
            [
                e
                for e in requests.get(
                    f"{demo.api}/v1/time-entries",
                    headers=auth,
                    params={"user_id": ann["id"], "origin": "qbt"},
                    timeout=30,
                ).json()["items"]
            ]
            or None
        ),
        timeout=60,
    )
    demo.show("hub time entry", f"{landed[0]['duration_minutes']} min, {landed[0]['notes']!r}")

    demo.step("A week of approved time goes to QuickBooks Online, once")
    for day in range(5):
        requests.post(
            f"{demo.api}/v1/time-entries",
            headers=auth,
            timeout=30,
            json={
                "user_id": ann["id"],
                "contact_id": client["id"],
                "date": (monday + timedelta(days=day)).isoformat(),
                "duration_minutes": 120 + 15 * day,
                "notes": f"Year end, day {day + 1}",
                "billable": True,
                "hourly_rate": "150.00",
                "approved": True,
            },
        ).raise_for_status()
    for odd in (
        {"contact_id": client["id"], "duration_minutes": 1440, "notes": "a whole day"},
        {"billable": True, "duration_minutes": 30, "notes": "billable, no client"},
    ):
        requests.post(
            f"{demo.api}/v1/time-entries",
            headers=auth,
            timeout=30,
            json={"user_id": ann["id"], "date": monday.isoformat(), "approved": True, **odd},
        ).raise_for_status()
    stack_drain = demo.stack.drain
    stack_drain(timeout=60)
    span = {"date_from": monday.isoformat(), "date_to": (monday + timedelta(days=6)).isoformat()}
    send_url = f"{demo.api}/v1/connections/qbo/time-activities/send"
    sent = requests.post(send_url, headers=auth, timeout=60, json=span).json()
    demo.show("POST .../send", sent["counts"])
    stack_drain(timeout=120)
    followed = requests.get(
        f"{demo.api}/v1/connections/qbo/time-activities/sends/{sent['id']}",
        headers=auth,
        timeout=30,
    ).json()
    demo.show("the send now", followed["counts"])
    for item in followed["items"]:
        if item["status"] == "not_sent":
            demo.show(f"  {item['code']}", f"{item['reason']}: {item['what_to_do'][:60]}")
    before = len(_objects(sims["qbo"], companies["qbo"], "TimeActivity"))
    again = requests.post(send_url, headers=auth, timeout=60, json=span).json()
    stack_drain(timeout=60)
    after = len(_objects(sims["qbo"], companies["qbo"], "TimeActivity"))
    demo.show("a second send", f"{again['counts']}; TimeActivities {before} -> {after}")


def _billing_story(
    demo: Demo,
    auth: dict[str, str],
    sims: dict[str, str],
    companies: dict[str, str],
    made: list[dict[str, Any]],
) -> None:
    """Issue 13, shortened: an invoice with two work types and a combined tax in both
    books, payments both ways, edit-and-resend in place, send via QBO without an email."""
    api, drain = demo.api, demo.stack.drain
    qbo, xero = sims["qbo"], sims["xero"]

    def in_books(sim: str, company: str, kind: str, fields: dict[str, Any]) -> dict[str, Any]:
        url = f"{sim}/_sim/companies/{company}/objects/{kind}"
        reply = requests.post(url, json=fields, timeout=30)
        reply.raise_for_status()
        return dict(reply.json())

    demo.step("Billing set-up: what is missing before invoices go (billing-setup), then mapped")
    income = {"Name": "Services", "AccountType": "Income"}  # a new company's chart holds one
    services = in_books(qbo, companies["qbo"], "Account", income)
    combined = in_books(
        xero,
        companies["xero"],
        "TaxRates",
        {
            "Name": "AZ+Tucson",
            "ReportTaxType": "OUTPUT",
            "TaxComponents": [
                {"Name": n, "Rate": r, "IsCompound": False, "IsNonRecoverable": False}
                for n, r in (("AZ State tax", 7.1), ("Tucson City", 2.0))
            ],
        },
    )
    client = made[2]
    line_items = [
        {
            "description": "Year-end accounts",
            "work_type": "Accounts",
            "quantity": "4",
            "rate": "150.00",
            "tax_rate": "AZ",
            "tax_percent": "7.1",
            "secondary_tax_rate": "Tucson",
            "secondary_tax_percent": "2",
        },
        {"description": "Tax return", "work_type": "Tax", "quantity": "1", "rate": "250.00"},
    ]

    def invoice(number: str, status: str, **extra: Any) -> dict[str, Any]:
        reply = requests.post(
            f"{api}/v1/invoices",
            headers=auth,
            timeout=30,
            json={
                "number": number,
                "contact_id": client["id"],
                "issue_date": date.today().isoformat(),
                "currency": "GBP",
                "status": status,
                "lines": line_items,
                **extra,
            },
        )
        reply.raise_for_status()
        return dict(reply.json())

    invoice("DRAFT-0", "draft")  # a work type and a rate in use, not yet mapped
    gaps = requests.get(f"{api}/v1/connections/qbo/billing-setup", headers=auth, timeout=60)
    for gap in gaps.json()["missing"]:
        demo.show(f"  qbo missing {gap['what']}", f"{gap['name']}: {gap['fix'][:60]}")
    for provider, settings in (
        ("qbo", {"default_income_account": services["Id"], "tax_codes": {"AZ+Tucson": "3"}}),
        (
            "xero",
            {
                "work_type_items": {"Accounts": "DevD", "Tax": "Train-MS"},
                "tax_types": {"AZ+Tucson": combined["TaxType"]},
                "payment_account_code": "090",
            },
        ),
    ):
        requests.put(
            f"{api}/v1/connections/{provider}/settings", headers=auth, timeout=30, json=settings
        ).raise_for_status()
        ready = requests.get(
            f"{api}/v1/connections/{provider}/billing-setup", headers=auth, timeout=60
        ).json()
        demo.show(f"{provider} billing-setup", "ready" if ready["ready"] else ready["missing"])

    demo.step("An invoice with two work types and a combined tax is sent: in QuickBooks and Xero")
    first = invoice("INV-2001", "sent")
    second = invoice("INV-2002", "sent")
    drain(timeout=120)
    demo.show("hub total", f"{first['total']} (tax {first['tax_total']})")
    qbo_inv = {i["DocNumber"]: i for i in _objects(qbo, companies["qbo"], "Invoice")}
    xero_inv = {i.get("InvoiceNumber"): i for i in _objects(xero, companies["xero"], "Invoices")}
    for number in ("INV-2001", "INV-2002"):
        q, x = qbo_inv.get(number, {}), xero_inv.get(number, {})
        demo.show(
            f"  {number}", f"QuickBooks total {q.get('TotalAmt')}, Xero total {x.get('Total')}"
        )

    demo.step("A partial and a split payment entered in QuickBooks reach the hub (webhook)")
    customer = _links_of(demo, auth, "contact", client["id"], "qbo")[0]["provider_id"]
    ids = [qbo_inv.get(n, {}).get("Id") for n in ("INV-2001", "INV-2002")]
    total = float(first["total"])
    for lines in ([(ids[0], 200.0)], [(ids[0], total - 200.0), (ids[1], 100.0)]):
        in_books(
            qbo,
            companies["qbo"],
            "Payment",
            {
                "CustomerRef": {"value": customer},
                "TotalAmt": round(sum(a for _, a in lines), 2),
                "TxnDate": date.today().isoformat(),
                "Line": [
                    {"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]}
                    for i, a in lines
                ],
            },
        )

    def hub_invoice(record_id: str) -> dict[str, Any]:
        reply = requests.get(f"{api}/v1/invoices/{record_id}", headers=auth, timeout=30)
        return dict(reply.json())

    paid = demo.wait(
        "the payments in the hub",
        lambda: hub_invoice(first["id"])["status"] == "paid" and hub_invoice(first["id"]),
        timeout=90,
    )
    other = hub_invoice(second["id"])
    demo.show("INV-2001", f"{paid['status']}, balance {paid['balance']}")
    demo.show("INV-2002", f"{other['status']}, balance {other['balance']}")
    history = requests.get(
        f"{api}/v1/invoices/{first['id']}/history", headers=auth, timeout=30
    ).json()
    for entry in [e for e in history["items"] if e.get("note")][-2:]:
        demo.show("  history", entry["note"])

    demo.step("A payment recorded in the hub reaches QuickBooks and Xero, once")
    rest = other["balance"]
    hub_payment = requests.post(
        f"{api}/v1/payments",
        headers=auth,
        timeout=30,
        json={
            "contact_id": client["id"],
            "date": date.today().isoformat(),
            "amount": rest,
            "currency": "GBP",
            "reference": "BACS 4471",
            "allocations": [{"invoice_id": second["id"], "amount": rest}],
        },
    )
    demo.show("POST /v1/payments", f"{hub_payment.status_code} ({rest} on INV-2002)")
    drain(timeout=120)
    in_qbo = [
        p
        for p in _objects(qbo, companies["qbo"], "Payment")
        if p.get("PaymentRefNum") == "BACS 4471"
    ]
    in_xero = [
        p
        for p in _objects(xero, companies["xero"], "Payments")
        if p.get("Reference") == "BACS 4471"
    ]
    balance = {i["DocNumber"]: i["Balance"] for i in _objects(qbo, companies["qbo"], "Invoice")}
    demo.show("QuickBooks", f"{len(in_qbo)} payment; INV-2002 balance {balance.get('INV-2002')}")
    demo.show("Xero", f"{len(in_xero)} payment")
    demo.show("hub INV-2002", hub_invoice(second["id"])["status"])

    demo.step("Edited and copied again: updated in place; send via QBO without a billing email")
    third = invoice("INV-2003", "approved")
    requests.post(f"{api}/v1/invoices/{third['id']}/copy", headers=auth, timeout=30)
    drain(timeout=60)
    current = hub_invoice(third["id"])
    fields = {k: current[k] for k in ("number", "contact_id", "issue_date", "currency", "status")}
    requests.put(
        f"{api}/v1/invoices/{third['id']}",
        headers={**auth, "If-Match": f'"{current["version"]}"'},
        timeout=30,
        json={**fields, "lines": [{**line_items[1], "quantity": "2"}]},
    ).raise_for_status()
    requests.post(f"{api}/v1/invoices/{third['id']}/copy", headers=auth, timeout=30)
    drain(timeout=60)
    copies = [i for i in _objects(qbo, companies["qbo"], "Invoice") if i["DocNumber"] == "INV-2003"]
    total_now = copies[0]["TotalAmt"] if copies else "-"
    demo.show("INV-2003 in QuickBooks", f"{len(copies)} invoice, total {total_now}")
    sent = requests.post(f"{api}/v1/invoices/{third['id']}/send?via=qbo", headers=auth, timeout=60)
    answer = sent.json()
    demo.show(f"POST .../send?via=qbo -> {sent.status_code}", f"emailed={answer.get('emailed')}")
    demo.show("  why", str(answer.get("reason", ""))[:90])


def _operations_story(
    demo: Demo,
    auth: dict[str, str],
    sims: dict[str, str],
    companies: dict[str, str],
    tenant_id: str,
    made: list[dict[str, Any]],
) -> None:
    """Issue 16, shortened: drift found and repaired, a dead letter read and re-driven."""
    stack, qbo = demo.stack, sims["qbo"]
    assert stack.aws is not None
    demo.step("Drift: QuickBooks refuses a new client; 'booksync reconcile --dry-run' finds it")
    refused = {"Fault": {"type": "ValidationFault", "Error": [{"Message": "Business Validation "
               "Error", "Detail": "a demo refusal", "code": "6000"}]}}  # fmt: skip
    rule = {"action": "error", "method": "POST", "path": "/(customer|batch)", "status": 400}
    requests.post(f"{qbo}/_sim/faults", json={**rule, "body": refused, "count": 1}, timeout=30)
    late = requests.post(
        f"{demo.api}/v1/contacts", headers=auth, json={"name": "Lighthouse Dental"}, timeout=30
    ).json()
    demo.wait("QuickBooks' refusal", lambda: _open_error(demo, auth, late["id"]), timeout=60)
    requests.delete(f"{qbo}/_sim/faults", timeout=30)
    (found,) = demo.cli("reconcile", tenant_id, "--provider", "qbo", "--dry-run")
    demo.show("reconcile --dry-run", found["counts"])
    demo.show("  not linked", ", ".join(str(r["name"]) for r in found["not_linked"]))
    apart = sum(1 for d in found["differs"] if not d["changed_since_linked"])
    demo.show("  differ", f"{apart} linked apart by the import (the practice record will go)")
    demo.show("  cost", f"{found['calls']} QuickBooks call(s)")
    (fixed,) = demo.cli("reconcile", tenant_id, "--provider", "qbo")
    stack.drain(timeout=60)
    (again,) = demo.cli("reconcile", tenant_id, "--provider", "qbo", "--dry-run")
    in_qbo = "Lighthouse Dental" in _names(qbo, companies["qbo"], "Customer", "DisplayName")
    demo.show("reconcile (repair)", f"queued {fixed['repaired']['queued']}")
    demo.show("after", f"in QuickBooks: {'yes' if in_qbo else 'no'}; drift {again['counts']}")

    demo.step("Dead letters: one the QBO push worker gave up on; 'booksync dlq' reads, re-drives")
    # a message as the worker leaves it after its last receive (12 receives take 45 minutes
    # of outage, so it is put there directly): a push of a client already in step
    conn_id = _connection_id(stack, "qbo")
    (message,) = push_messages(tenant_id, conn_id, "qbo", "contact", [(made[1]["id"], 1)], 1)
    stack.aws.client("sqs").send_message(
        QueueUrl=stack.resources["dead_letter_queues"]["QboPushDeadLetterQueue"],
        MessageBody=encode(message),
        MessageGroupId=message.group_id(),
        MessageDeduplicationId=f"demo-{message.dedup_id()}",
    )
    listed = {q["queue"]: q["dead_letters"] for q in demo.cli("dlq", "list")}
    demo.show("dlq list", listed)
    (letter,) = demo.cli("dlq", "show", "qbo-push")
    demo.show("dlq show qbo-push", f"{letter['operation']} {letter['kind']} {letter['records']}")
    demo.show("  why", str(letter["error"])[:80])
    writes_before = _writes(qbo)
    moved = demo.cli("dlq", "redrive", "qbo-push", "--tenant", tenant_id)
    stack.drain(timeout=60)
    demo.show("dlq redrive qbo-push", f"moved {moved['moved']}, left {moved['left']}")
    demo.show("  QuickBooks writes", f"{_writes(qbo) - writes_before} (the client is in step)")
    trail = demo.cli("audit", tenant_id)
    demo.show("audit (newest first)", ", ".join(row["action"] for row in trail[:4]))


def _xero_hours_story(demo: Demo, sims: dict[str, str]) -> None:
    """Issue 15, shortened: a second firm, books in Xero and hours in QuickBooks Time.
    Customers only, items and tracking as QBT custom fields, time billed as a draft Xero
    invoice, time off as a leave application (unpaid leave kept back), a rename in Xero."""
    api, drain = demo.api, demo.stack.drain
    qbt, xero = sims["qbt"], sims["xero"]

    def sim(url: str, method: str, path: str, body: Any = None) -> Any:
        reply = requests.request(method, f"{url}/_sim/{path}", json=body, timeout=30)
        reply.raise_for_status()
        return reply.json() if reply.content else None

    def call(method: str, path: str, body: Any = None) -> Any:
        reply = requests.request(method, f"{api}{path}", headers=auth, json=body, timeout=60)
        if reply.status_code >= 300:
            raise SystemExit(f"demo failed: {method} {path}: {reply.status_code} {reply.text}")
        return reply.json() if reply.content else None

    demo.step("A firm with its books in Xero and hours in QuickBooks Time: customers only")
    tenant = demo.cli("tenants", "create", "Harbour Bookkeeping")
    auth = {"Authorization": f"Bearer {demo.cli('api-keys', 'create', tenant['tenant_id'])['key']}"}
    books = {
        "qbt": str(sim(qbt, "POST", "companies", {"name": "Harbour hours", "seed": "empty"})["id"]),
        "xero": str(
            sim(xero, "POST", "companies", {"name": "Harbour UK", "seed": "sandbox"})["id"]
        ),
    }
    connect(demo.api, auth["Authorization"][7:], "qbt", sim_company=books["qbt"])
    # the import option is chosen as Xero is connected: it holds from the first import
    connect(
        demo.api,
        auth["Authorization"][7:],
        "xero",
        sim_company=books["xero"],
        settings={"customers_only": True},
    )
    demo.wait("the first pulls", lambda: _all_synced(demo, auth), timeout=60)
    drain(timeout=120)
    contacts = [
        c for c in _objects(xero, books["xero"], "Contacts") if c["ContactStatus"] == "ACTIVE"
    ]
    customers = sorted(c["Name"] for c in contacts if c["IsCustomer"])
    hub = sorted(c["name"] for c in call("GET", "/v1/contacts?limit=200")["items"])
    demo.show("Xero contacts", f"{len(contacts)} active, {len(customers)} customers")
    demo.show("hub contacts", f"{len(hub)}: {', '.join(hub)}")
    offered = call("GET", "/v1/connections/xero/non-customers")["items"]
    demo.show("non-customers", f"{len(offered)} offered, e.g. {offered[0]['name']!r}")
    added = call(
        "POST", "/v1/connections/xero/non-customers/add", {"contact_ids": [offered[0]["id"]]}
    )
    demo.show("  added on request", f"created {added['created']}")

    demo.step("Xero's items and tracking categories become QuickBooks Time custom fields")
    for code, name, price in (("BKPG", "Bookkeeping", 120.0), ("PAYR", "Payroll", 80.0)):
        item = {"Code": code, "Name": name, "IsSold": True, "SalesDetails": {"UnitPrice": price}}
        sim(xero, "POST", f"companies/{books['xero']}/objects/Items", item)
    stock = {
        "Code": "PAPER",
        "Name": "Paper",
        "IsSold": True,
        "IsTrackedAsInventory": True,
        "InventoryAssetAccountCode": "630",
        "PurchaseDetails": {"COGSAccountCode": "310"},
    }
    sim(xero, "POST", f"companies/{books['xero']}/objects/Items", stock)
    call("PUT", "/v1/connections/qbt/settings", {"xero_items": True, "xero_tracking": True})
    made = call("POST", "/v1/connections/qbt/import-from-xero", {})
    demo.show("Xero items", "Bookkeeping, Payroll (sold); Paper (sold, tracked as inventory)")
    for field in made["fields"]:
        values = ", ".join(field["added"])
        demo.show(f"  {field['field']}", f"{field['action']}: {values[:90]}")
    item_values = next(f["added"] for f in made["fields"] if f["field"] == "Item")
    demo.show("  Paper", "not a value: inventory" if "Paper" not in item_values else "listed!")
    call("POST", "/v1/connections/qbt/sync")
    drain(timeout=120)
    jobs = {j["name"]: j for j in _objects(qbt, books["qbt"], "jobcodes") if j["type"] == "regular"}
    demo.show("QBT customers", f"{len(jobs)} jobcodes: {', '.join(sorted(jobs))}")

    demo.step("Time and time off in QuickBooks Time: a draft Xero invoice and a leave application")
    users = {u["first_name"]: u for u in _objects(qbt, books["qbt"], "users")}
    jack = users["Jack"]
    monday = date.today() - timedelta(days=date.today().weekday() + 7)
    sunday = monday + timedelta(days=6)
    sim(
        qbt,
        "PATCH",
        f"companies/{books['qbt']}/objects/users/{jack['id']}",
        {"approved_to": sunday.isoformat()},
    )
    client = jobs[hub[0]]
    sim(
        qbt,
        "PATCH",
        f"companies/{books['qbt']}/objects/jobcodes/{client['id']}",
        {"billable": True},
    )
    codes = {j["name"]: j for j in _objects(qbt, books["qbt"], "jobcodes") if j["type"] == "pto"}
    unpaid = sim(
        qbt, "POST", f"companies/{books['qbt']}/objects/jobcodes", {"name": "Unpaid", "type": "pto"}
    )
    leave_types = {
        t["name"]: t["id"] for t in call("GET", "/v1/connections/xero/leave-mapping")["leave_types"]
    }
    mapping = {
        str(codes["Holiday"]["id"]): leave_types["Holiday"],
        str(unpaid["id"]): leave_types["Unpaid Leave"],
    }
    call("PUT", "/v1/connections/xero/leave-mapping", {"mapping": mapping})
    fields = {f["name"]: str(f["id"]) for f in _objects(qbt, books["qbt"], "customfields")}
    sheets = [
        (client["id"], 150, "Month-end close", {"Item": "Bookkeeping", "Region": "North"}),
        (client["id"], 60, "Payslips", {"Item": "Payroll"}),
        (codes["Holiday"]["id"], 480, "Half term", {}),
        (unpaid["id"], 480, "Unpaid day", {}),
    ]
    for day, (jobcode, minutes, notes, values) in enumerate(sheets):
        sheet = {"user_id": jack["id"], "jobcode_id": jobcode, "type": "manual", "notes": notes,
                 "date": (monday + timedelta(days=day)).isoformat(), "duration": minutes * 60,
                 "customfields": {fields[k]: v for k, v in values.items()}}  # fmt: skip
        sim(qbt, "POST", f"companies/{books['qbt']}/objects/timesheets", sheet)
    call("POST", "/v1/connections/qbt/sync")  # save and sync pulls too (else: the 5-min poll)
    drain(timeout=120)
    billed = call(
        "POST",
        "/v1/connections/xero/invoice-time",
        {"date_from": monday.isoformat(), "date_to": sunday.isoformat()},
    )
    drain(timeout=120)
    drafts = [
        i
        for i in _objects(xero, books["xero"], "Invoices")
        if str(i.get("InvoiceNumber")).startswith("TIME-")
    ]
    for inv in drafts:
        lines = "; ".join(
            f"{ln['Quantity']} h {ln.get('ItemCode')} x {ln['UnitAmount']}"
            for ln in inv["LineItems"]
        )
        demo.show(
            f"Xero {inv['Status']} {inv['InvoiceNumber']}", f"{inv['Contact'].get('Name')}: {lines}"
        )
    again = call(
        "POST",
        "/v1/connections/xero/invoice-time",
        {"date_from": monday.isoformat(), "date_to": sunday.isoformat()},
    )
    demo.show(
        "  billed again",
        f"{len(again['created'])} new invoices; {len(again['already_billed'])} entries "
        f"already billed (the first run made {len(billed['created'])})",
    )
    for row in _objects(xero, books["xero"], "EmployeeLeave"):
        name = next((n for n, t in leave_types.items() if t == row["leaveTypeID"]), "?")
        units = sum(p["numberOfUnits"] for p in row["periods"])
        demo.show(
            "Xero leave", f"{name} {str(row['startDate'])[:10]}: {units} h ({row['description']})"
        )
    demo.show("  unpaid day", "kept in QuickBooks Time (unpaid leave is never exported)")

    demo.step("A customer renamed in Xero is renamed in QuickBooks Time")
    contact = next(c for c in contacts if c["Name"] == hub[0])
    sim(
        xero,
        "PATCH",
        f"companies/{books['xero']}/objects/Contacts/{contact['ContactID']}",
        {"Name": f"{hub[0]} Group"},
    )
    call("POST", "/v1/connections/xero/sync")  # save and sync pulls too (else: its webhook)
    drain(timeout=120)
    renamed = f"{hub[0]} Group" in _names(qbt, books["qbt"], "jobcodes", "name")
    demo.show("QBT jobcode", f"{hub[0]!r} -> {hub[0] + ' Group'!r}: {'yes' if renamed else 'no'}")


def _writes(sim: str) -> int:
    """Writes (POSTs) the simulator answered on its API (its running counts per route)."""
    counts = requests.get(f"{sim}/_sim/calls", timeout=30).json()["counts"]
    return sum(n for route, n in counts.items() if route.startswith("POST /v3/company/"))


def _open_error(demo: Demo, auth: dict[str, str], record_id: str) -> bool:
    rows = requests.get(
        f"{demo.api}/v1/sync-errors", params={"status": "open"}, headers=auth, timeout=30
    ).json()["items"]
    return any(r["record"]["id"] == record_id for r in rows)


def _links_of(
    demo: Demo, auth: dict[str, str], kind: str, hub_id: str, provider: str | None = None
) -> list[dict[str, Any]]:
    """The links of one hub record (a page of the kind's links, searched)."""
    params: dict[str, Any] = {"kind": kind, "limit": 200}
    if provider:
        params["provider"] = provider
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        if cursor:
            params["cursor"] = cursor
        page = requests.get(f"{demo.api}/v1/links", headers=auth, params=params, timeout=30).json()
        rows += [r for r in page["items"] if r["hub_id"] == hub_id]
        cursor = page.get("next_cursor")
        if not cursor:
            return rows


OBJECTS = {
    "qbo": ("Customer", "DisplayName"),
    "xero": ("Contacts", "Name"),
    "qbt": ("jobcodes", "name"),
}
API_PREFIXES = ("/v3/company/", "/api.xro/", "/payroll.xro/", "/api/v1/")


def _objects(sim: str, company: str, kind: str) -> list[dict[str, Any]]:
    reply = requests.get(f"{sim}/_sim/companies/{company}/objects/{kind}", timeout=30)
    objects: list[dict[str, Any]] = reply.json()["objects"]
    return objects


def _rename(demo: Demo, auth: dict[str, str], contact_id: str, name: str) -> None:
    """A practice-app edit: read the contact's ETag, then PATCH with If-Match."""
    url = f"{demo.api}/v1/contacts/{contact_id}"
    current = requests.get(url, headers=auth, timeout=30)
    requests.patch(
        url,
        headers={**auth, "If-Match": current.headers["ETag"]},
        json={"name": name},
        timeout=30,
    ).raise_for_status()


def _names(sim: str, company: str, kind: str, field: str) -> set[str]:
    return {str(o.get(field)) for o in _objects(sim, company, kind)}


def _api_calls(sim: str) -> int:
    """API calls the simulator answered (OAuth and identity calls not counted)."""
    counts = requests.get(f"{sim}/_sim/calls", timeout=30).json()["counts"]
    return sum(
        n
        for k, n in counts.items()
        if any(p in k for p in API_PREFIXES) and "/authorize" not in k and "/grant" not in k
    )


def _count_all(demo: Demo, path: str, auth: dict[str, str], **filters: str) -> int:
    total, cursor = 0, None
    while True:
        query = {"limit": 200, **filters, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{demo.api}{path}", params=query, headers=auth, timeout=60).json()
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def _all_synced(demo: Demo, auth: dict[str, str]) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = requests.get(
        f"{demo.api}/v1/connections", headers=auth, timeout=30
    ).json()["items"]
    rows = [r for r in rows if r["status"] != "not_connected"]
    return rows if all(r["last_successful_sync"] for r in rows) else None


def _connection_id(stack: LocalStack, provider: str) -> str:
    assert stack.aws is not None
    items = stack.aws.client("dynamodb").scan(
        TableName=stack.resources["tables"]["ConnectionsTable"]
    )
    return next(i["connection_id"]["S"] for i in items["Items"] if i["provider"]["S"] == provider)


def main() -> int:
    state = Path(tempfile.mkdtemp(prefix="booksync-demo-"))
    print("booksync demo: starting the embedded stack (moto, simulators, functions)...", flush=True)
    stack = LocalStack(state_dir=state, port=0, sim_port_base=0, run_schedules=False)
    stack.start()
    try:
        run(Demo(stack))
    finally:
        stack.stop()
    print("\nDemo finished: every step above went through HTTP, SQS and the real handlers.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
