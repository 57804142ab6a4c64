"""The QuickBooks Time simulator over HTTP, as a client sees it: OAuth, paging, batch writes
with per-item results, jobcode and custom field rules, TS-1006, polling and the rate limit."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from local.simulators import start

CLIENT_ID = "booksync-dev"
CLIENT_SECRET = "booksync-dev-secret"
REDIRECT = "http://127.0.0.1:9/callback"


@dataclass
class Conn:
    """A connected company: base URL, token set and the authorised session."""

    base: str
    company_id: str
    tokens: dict[str, Any]
    http: requests.Session

    def get(self, endpoint: str, **params: Any) -> requests.Response:
        return self.http.get(f"{self.base}/api/v1/{endpoint}", params=params, timeout=10)

    def post(self, endpoint: str, data: list[dict[str, Any]]) -> requests.Response:
        return self.http.post(f"{self.base}/api/v1/{endpoint}", json={"data": data}, timeout=10)

    def put(self, endpoint: str, data: list[dict[str, Any]]) -> requests.Response:
        return self.http.put(f"{self.base}/api/v1/{endpoint}", json={"data": data}, timeout=10)

    def delete(self, endpoint: str, ids: str) -> requests.Response:
        return self.http.delete(f"{self.base}/api/v1/{endpoint}", params={"ids": ids}, timeout=10)

    def one(self, endpoint: str, item: dict[str, Any], method: str = "post") -> dict[str, Any]:
        resp = getattr(self, method)(endpoint, [item])
        assert resp.status_code == 200, resp.text
        row: dict[str, Any] = resp.json()["results"][endpoint]["1"]
        return row


@pytest.fixture
def qbt() -> Iterator[str]:
    handles = start(providers=["qbt"])
    try:
        yield handles["qbt"].url
    finally:
        handles["qbt"].stop()


def new_company(base: str, seed: str = "sandbox", name: str = "Acme Books") -> str:
    resp = requests.post(f"{base}/_sim/companies", json={"name": name, "seed": seed}, timeout=10)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def authorize(base: str, **extra: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "xyz",
        **extra,
    }
    return requests.get(
        f"{base}/api/v1/authorize", params=params, allow_redirects=False, timeout=10
    )


def grant(base: str, **form: str) -> requests.Response:
    body = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}
    return requests.post(f"{base}/api/v1/grant", data=body, timeout=10)


def connect(base: str, company_id: str) -> Conn:
    resp = authorize(base, sim_company=company_id)
    code = parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]
    tokens = grant(base, grant_type="authorization_code", code=code, redirect_uri=REDIRECT).json()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return Conn(base, company_id, tokens, session)


def advance(base: str, seconds: float) -> None:
    resp = requests.post(f"{base}/_sim/clock/advance", json={"seconds": seconds}, timeout=10)
    assert resp.status_code == 200, resp.text


# -- OAuth -----------------------------------------------------------------------------------


def test_oauth_dance_gives_company_bound_ten_day_token_and_refresh_rotates(qbt: str) -> None:
    cid = new_company(qbt)

    resp = authorize(qbt, sim_company=cid)
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    tokens = grant(qbt, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)

    assert tokens.status_code == 200
    body = tokens.json()
    assert body["expires_in"] == 864000
    assert body["token_type"] == "bearer"
    assert body["scope"] == ""
    assert body["company_id"] == cid
    assert body["client_url"]
    me = requests.get(
        f"{qbt}/api/v1/current_user",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    ).json()
    assert list(me["results"]["users"]) == [body["user_id"]]
    assert me["results"]["users"][body["user_id"]]["permissions"]["admin"] is True

    refreshed = grant(qbt, grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != body["access_token"]
    assert refreshed.json()["company_id"] == cid

    reused = grant(qbt, grant_type="authorization_code", code=code, redirect_uri=REDIRECT)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"


def test_grant_wants_client_secret_in_the_body(qbt: str) -> None:
    cid = new_company(qbt)
    code = parse_qs(urlsplit(authorize(qbt, sim_company=cid).headers["Location"]).query)["code"]

    resp = requests.post(
        f"{qbt}/api/v1/grant",
        data={"grant_type": "authorization_code", "code": code[0], "redirect_uri": REDIRECT},
        auth=(CLIENT_ID, CLIENT_SECRET),
        timeout=10,
    )

    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"


def test_authorize_without_company_creates_sandbox_and_denial_redirects_with_error(
    qbt: str,
) -> None:
    resp = authorize(qbt)
    assert "code=" in resp.headers["Location"]
    companies = requests.get(f"{qbt}/_sim/companies", timeout=10).json()
    assert len(companies["companies"]) == 1

    denied = authorize(qbt, sim_deny="1")
    query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert "code" not in query


def test_bad_and_expired_bearer_get_401_in_the_error_envelope(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    bad = requests.get(f"{qbt}/api/v1/users", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 401
    assert bad.json() == {"error": {"code": 401, "message": "Unauthorized"}}

    advance(qbt, 864000 + 1)

    expired = conn.get("users")
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == 401


# -- reads -----------------------------------------------------------------------------------


def test_450_jobcodes_come_in_pages_of_200_keyed_by_id_with_more(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    for batch in range(9):
        resp = conn.post("jobcodes", [{"name": f"Job {batch * 50 + i}"} for i in range(50)])
        codes = {row["_status_code"] for row in resp.json()["results"]["jobcodes"].values()}
        assert codes == {200}

    pages = []
    for page in (1, 2, 3):
        body = conn.get("jobcodes", page=page, supplemental_data="no").json()
        pages.append(body)
        assert "supplemental_data" not in body

    assert [len(p["results"]["jobcodes"]) for p in pages] == [200, 200, 50]
    assert [p["more"] for p in pages] == [True, True, False]
    ids = [k for p in pages for k in p["results"]["jobcodes"]]
    assert len(set(ids)) == 450
    first = pages[0]["results"]["jobcodes"]
    assert all(str(obj["id"]) == key for key, obj in first.items())


@pytest.mark.parametrize("limit", ["0", "201", "ten"])
def test_limit_outside_1_to_200_is_an_error(qbt: str, limit: str) -> None:
    conn = connect(qbt, new_company(qbt))

    resp = conn.get("jobcodes", limit=limit)

    assert resp.status_code == 417
    assert resp.json()["error"]["code"] == 417


def test_timesheets_get_needs_ids_start_date_or_modified_filter(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))

    resp = conn.get("timesheets", user_ids="1")

    assert resp.status_code == 417
    assert "start_date" in resp.json()["error"]["message"]
    assert conn.get("timesheets", start_date="2020-01-01").status_code == 200


# -- writes ----------------------------------------------------------------------------------


def test_51_objects_in_one_write_are_refused_with_413_and_nothing_is_created(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))

    resp = conn.post("jobcodes", [{"name": f"J{i}"} for i in range(51)])

    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == 413
    assert conn.get("jobcodes").json()["results"]["jobcodes"] == {}


def test_seventh_active_custom_field_fails_its_item_but_not_the_request(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    fields = [{"name": f"Field {i}", "type": "free-form"} for i in range(7)]

    resp = conn.post("customfields", fields)

    assert resp.status_code == 200
    rows = resp.json()["results"]["customfields"]
    assert [rows[str(i)]["_status_code"] for i in range(1, 8)] == [200] * 6 + [417]
    assert rows["7"]["_status_message"] == "Expectation Failed"
    assert "6" in rows["7"]["_status_extra"]
    archived = conn.one("customfields", {"id": rows["1"]["id"], "active": False}, "put")
    assert archived["_status_code"] == 200
    assert conn.one("customfields", fields[6])["_status_code"] == 200


def test_duplicate_jobcode_under_same_parent_is_not_created_but_other_parent_is(
    qbt: str,
) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    a = conn.one("jobcodes", {"name": "Client A"})
    b = conn.one("jobcodes", {"name": "Client B"})
    conn.one("jobcodes", {"name": "Audit", "parent_id": a["id"], "short_code": "au1"})

    resp = conn.post(
        "jobcodes",
        [
            {"name": "Audit", "parent_id": a["id"]},
            {"name": "Audit", "parent_id": b["id"]},
            {"name": "Review", "parent_id": a["id"], "short_code": "au1"},
        ],
    )

    rows = resp.json()["results"]["jobcodes"]
    assert rows["1"]["_status_code"] == 202
    assert rows["2"]["_status_code"] == 200
    assert rows["3"]["_status_code"] == 417
    assert rows["3"]["_status_extra"] == "Oops! That Short Code is already in use"
    audits = conn.get("jobcodes", name="Audit").json()["results"]["jobcodes"]
    assert sorted(j["parent_id"] for j in audits.values()) == sorted([a["id"], b["id"]])


def test_archiving_a_jobcode_archives_children_drops_assignments_and_freezes_edits(
    qbt: str,
) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    parent = conn.one("jobcodes", {"name": "Client"})
    child = conn.one("jobcodes", {"name": "Bookkeeping", "parent_id": parent["id"]})
    user = conn.one("users", {"username": "ann", "first_name": "Ann", "last_name": "Lee"})
    assignment = conn.one(
        "jobcode_assignments", {"user_id": user["id"], "jobcode_id": parent["id"]}
    )

    archived = conn.one("jobcodes", {"id": parent["id"], "active": False}, "put")

    assert archived["_status_code"] == 200
    everything = conn.get("jobcodes", active="both").json()["results"]["jobcodes"]
    assert everything[str(child["id"])]["active"] is False
    assignments = conn.get("jobcode_assignments").json()["results"]["jobcode_assignments"]
    assert assignments[str(assignment["id"])]["active"] is False
    rename = conn.one("jobcodes", {"id": child["id"], "name": "Books"}, "put")
    assert rename["_status_code"] == 417
    restored = conn.one("jobcodes", {"id": child["id"], "name": "Books", "active": True}, "put")
    assert restored["_status_code"] == 200
    after = conn.get("jobcodes").json()["results"]["jobcodes"]
    assert after[str(parent["id"])]["active"] is True  # restoring a child restores parents
    assert after[str(child["id"])]["name"] == "Books"


def test_timesheet_for_user_without_time_tracking_is_403_ts_1006(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    job = conn.one("jobcodes", {"name": "Client"})
    user = conn.one("users", {"username": "tom", "first_name": "Tom", "last_name": "Ng"})
    assert user["permissions"]["time_tracking"] is False
    sheet = {
        "user_id": user["id"],
        "jobcode_id": job["id"],
        "type": "manual",
        "date": "2024-03-04",
        "duration": 3600,
    }

    resp = conn.post("timesheets", [sheet])

    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == 403
    assert "TS-1006" in resp.json()["error"]["message"]
    conn.one("users", {"id": user["id"], "permissions": {"time_tracking": True}}, "put")
    assert conn.one("timesheets", sheet)["_status_code"] == 200


def test_timesheets_compute_duration_allow_one_on_the_clock_and_record_deletions(
    qbt: str,
) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    job = conn.one("jobcodes", {"name": "Client"})
    me = next(iter(conn.get("current_user").json()["results"]["users"].values()))
    base = {"user_id": me["id"], "jobcode_id": job["id"], "type": "regular"}

    done = conn.one(
        "timesheets",
        {**base, "start": "2024-03-04T09:00:00-06:00", "end": "2024-03-04T11:30:00-06:00"},
    )
    running = conn.one("timesheets", {**base, "start": "2024-03-05T08:00:00-06:00", "end": ""})
    second = conn.one("timesheets", {**base, "start": "2024-03-06T08:00:00-06:00", "end": ""})
    manual = conn.one(
        "timesheets",
        {
            "user_id": me["id"],
            "jobcode_id": job["id"],
            "type": "manual",
            "date": "2024-03-07",
            "duration": 1000,
        },
    )

    assert (done["duration"], done["date"], done["on_the_clock"]) == (9000, "2024-03-04", False)
    assert running["on_the_clock"] is True
    assert second["_status_code"] == 406
    assert manual["duration"] == 1008  # stored as hours to 2 decimals: 0.28 h
    listed = conn.get("timesheets", start_date="2024-03-01").json()["results"]["timesheets"]
    assert str(running["id"]) not in listed  # on_the_clock defaults to "no"
    deleted = conn.delete("timesheets", str(done["id"])).json()["results"]["timesheets"]
    assert deleted[str(done["id"])]["_status_message"] == "OK, deleted"
    gone = conn.get("timesheets_deleted", ids=str(done["id"])).json()
    assert str(done["id"]) in gone["results"]["timesheets_deleted"]


def test_locked_timesheet_cannot_be_edited(qbt: str) -> None:
    cid = new_company(qbt, seed="empty")
    conn = connect(qbt, cid)
    job = conn.one("jobcodes", {"name": "Client"})
    me = next(iter(conn.get("current_user").json()["results"]["users"]))
    sheet = conn.one(
        "timesheets",
        {
            "user_id": int(me),
            "jobcode_id": job["id"],
            "type": "manual",
            "date": "2024-03-07",
            "duration": 3600,
        },
    )
    lock = requests.patch(
        f"{qbt}/_sim/companies/{cid}/objects/timesheets/{sheet['id']}",
        json={"locked": 1},
        timeout=10,
    )
    assert lock.status_code == 200, lock.text

    edit = conn.one("timesheets", {"id": sheet["id"], "notes": "late change"}, "put")

    assert edit["_status_code"] == 417


# -- polling and limits ----------------------------------------------------------------------


def test_modified_since_polling_finds_a_change_made_in_the_web_ui(qbt: str) -> None:
    cid = new_company(qbt)
    conn = connect(qbt, cid)
    jobs = conn.get("jobcodes").json()["results"]["jobcodes"]
    target = next(j for j in jobs.values() if j["name"] == "Internal")
    stamps = conn.get("last_modified_timestamps", endpoints="jobcodes,timesheets").json()
    mark = stamps["results"]["last_modified_timestamps"]["jobcodes"]
    advance(qbt, 60)

    ui = requests.patch(
        f"{qbt}/_sim/companies/{cid}/objects/jobcodes/{target['id']}",
        json={"name": "Internal Admin"},
        timeout=10,
    )
    assert ui.status_code == 200, ui.text

    later = conn.get("last_modified_timestamps", endpoints="jobcodes").json()
    assert later["results"]["last_modified_timestamps"]["jobcodes"] > mark
    changed = conn.get(
        "jobcodes", modified_since=later["results"]["last_modified_timestamps"]["jobcodes"]
    )
    names = [j["name"] for j in changed.json()["results"]["jobcodes"].values()]
    assert names == ["Internal Admin"]


def test_300_calls_per_token_then_429_until_the_window_passes(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt))
    other = connect(qbt, conn.company_id)
    for _ in range(300):
        assert conn.get("current_user").status_code == 200

    throttled = conn.get("current_user")

    assert throttled.status_code == 429
    assert throttled.json() == {"error": {"code": 429, "message": "Too Many Requests"}}
    assert "Retry-After" not in throttled.headers
    assert other.get("current_user").status_code == 200  # counted per access token
    advance(qbt, 301)
    assert conn.get("current_user").status_code == 200


def test_snapshot_and_restore_bring_back_the_data(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    conn.one("jobcodes", {"name": "Before"})
    snap = requests.get(f"{qbt}/_sim/snapshot", timeout=10).json()
    conn.one("jobcodes", {"name": "After"})

    restored = requests.post(f"{qbt}/_sim/restore", json=snap, timeout=10)

    assert restored.status_code in (200, 204), restored.text
    names = [j["name"] for j in conn.get("jobcodes").json()["results"]["jobcodes"].values()]
    assert names == ["Before"]


def test_token_from_sim_control_acts_as_the_company_owner(qbt: str) -> None:
    cid = new_company(qbt)
    made = requests.post(f"{qbt}/_sim/oauth/tokens", json={"company_id": cid}, timeout=10)
    assert made.status_code in (200, 201), made.text
    token = made.json()["access_token"]

    me = requests.get(
        f"{qbt}/api/v1/current_user", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    assert me.status_code == 200
    user = next(iter(me.json()["results"]["users"].values()))
    assert user["username"] == "admin"


def test_a_location_links_to_jobcodes_and_each_jobcode_answers_its_locations(qbt: str) -> None:
    conn = connect(qbt, new_company(qbt, seed="empty"))
    job = conn.one("jobcodes", {"name": "Acme Ltd"})
    place = conn.one(
        "locations",
        {"addr1": "1 Quay St", "city": "Bristol", "zip": "BS1", "label": "Acme",
         "linked_objects": {"jobcodes": [job["id"]]}},
    )  # fmt: skip
    assert place["formatted_address"] == "1 Quay St, Bristol, BS1"
    assert place["linked_objects"] == {"jobcodes": [job["id"]]}
    listed = conn.get("jobcodes", ids=str(job["id"])).json()["results"]["jobcodes"]
    assert listed[str(job["id"])]["locations"] == [place["id"]]
    # unlinked by an update with no jobcodes; the jobcode no longer names it
    conn.one("locations", {"id": place["id"], "linked_objects": {"jobcodes": []}}, "put")
    listed = conn.get("jobcodes", ids=str(job["id"])).json()["results"]["jobcodes"]
    assert listed[str(job["id"])]["locations"] == []
    # docs: one or more address parts are required; a jobcode that does not exist fails
    for bad in ({"label": "no address"}, {"city": "Leeds", "linked_objects": {"jobcodes": [9]}}):
        row = conn.post("locations", [bad]).json()["results"]["locations"]["1"]
        assert row["_status_code"] == 417
