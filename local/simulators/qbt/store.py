"""QuickBooks Time (TSheets REST API v1) data and rules, with no HTTP in sight.

Everything a client of `https://rest.tsheets.com/api/v1` can observe about the data lives
here: the objects in their wire shape, GET filters and paging, the per-item results of
batch writes, and the error envelope. The HTTP layer (`provider.py`) only parses the request
and renders what this module returns, so the rules can be unit-tested without a server.

Sources (TSheetsTeam/api_docs, `source/includes/`), cited per rule below as `docs:<path>`:
- `Overview/_request_formats.md.erb`: error envelope `{"error":{"code","message"}}`, 413 for
  too many items, 417 for missing/malformed parameters, `more` on GETs, `supplemental_data`.
- `APIReference/<Entity>/_*.md.erb` and `Examples/*`: objects, filters, status codes.
Messages the docs do not spell out are marked (U) where they are produced; they follow the
documented "Oops! ..." / "<Reason>: <detail>" style.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

MAX_BATCH = 50  # docs: every create/update page, "The maximum batch size is 50 ..."
MAX_LIMIT = 200  # docs: Jobcodes/_retrieve.md.erb `limit`, "Default is 200. Max is 200."
OLD_PER_PAGE_MAX = 50  # docs: deprecated `per_page`, "Max is 50 ... over 50 is ignored"
MAX_ACTIVE_CUSTOMFIELDS = 6  # docs: CustomFields/_custom_fields.md.erb
MAX_JOBCODE_NAME = 64  # docs: Jobcodes/_jobcodes.md.erb `name`

ENDPOINTS = (
    "users",
    "groups",
    "jobcodes",
    "jobcode_assignments",
    "timesheets",
    "timesheets_deleted",
    "customfields",
    "customfielditems",
    "locations",
)
# Locations (docs: Locations/_create.md.erb, Examples/_create-response.md.erb,
# _update.md): an address, linked to jobcodes by `linked_objects.jobcodes` (the jobcode
# answers the ids in its `locations`); created with any one address part; 50 a write.
LOCATION_FIELDS = ("addr1", "addr2", "city", "state", "zip", "country", "label", "notes")
# docs: LastModified/_retrieve.md.erb, the list returned when `endpoints` is omitted.
DEFAULT_TIMESTAMP_ENDPOINTS = (
    "current_user",
    "customfields",
    "customfielditems",
    "effective_settings",
    "geolocations",
    "jobcodes",
    "jobcode_assignments",
    "timesheets",
    "timesheets_deleted",
    "users",
    "reminders",
    "locations",
    "geofence_configs",
)

# docs: Users/_users.md.erb "User Permissions" table, with its defaults.
DEFAULT_PERMISSIONS = {
    "admin": False,
    "mobile": True,
    "status_box": False,
    "reports": False,
    "manage_timesheets": False,
    "manage_authorization": False,
    "manage_users": False,
    "manage_my_timesheets": False,
    "manage_jobcodes": False,
    "pin_login": False,
    "approve_timesheets": False,
    "manage_schedules": False,
    "external_access": False,
    "manage_my_schedule": False,
    "manage_company_schedules": False,
    "view_company_schedules": False,
    "view_group_schedules": False,
    "manage_no_schedules": False,
    "view_my_schedules": False,
    "time_tracking": False,
}

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request entity too large",
    417: "Expectation Failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_ALNUM = re.compile(r"^[A-Za-z0-9]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


_MODE_DEFAULTS = {
    "customfields_addon": "installed",
    "customfield_defaults": "true",
}


def _default_mode(company_id: str | None, name: str) -> Any:
    """Mode values for a store used without a provider (unit tests of the rules)."""
    return _MODE_DEFAULTS[name]


class QbtError(Exception):
    """A whole-request failure: HTTP `status` with the `{"error":{...}}` envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message)


class ItemError(Exception):
    """One failed item of a batch write; the request as a whole still answers 200."""

    def __init__(self, status: int, extra: str, message: str | None = None) -> None:
        super().__init__(extra)
        self.status = status
        self.extra = extra
        self.message = message or REASONS.get(status, "Error")


def error_body(status: int, message: str) -> dict[str, Any]:
    """docs: Overview/_request_formats.md.erb "Exceptions": properties `code` and `message`."""
    return {"error": {"code": status, "message": message}}


def iso(dt: datetime) -> str:
    """`YYYY-MM-DDThh:mm:ss+00:00`, the format every `last_modified` uses (docs, all objects)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_iso(value: str, name: str) -> datetime:
    """An ISO 8601 date/time with offset, else 417 (a naive value has no zone to trust)."""
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        dt = None
    if dt is None or dt.tzinfo is None:
        # (U) wording; docs: 417 = "missing required parameters or ... otherwise malformed".
        raise QbtError(
            417,
            f"Expectation Failed: {name} must be in ISO 8601 format (YYYY-MM-DDThh:mm:ss±hh:mm)",
        )
    return dt


def _parse_date(value: str, name: str) -> date:
    if not _DATE.match(value or ""):
        raise QbtError(417, f"Expectation Failed: {name} must be a date in YYYY-MM-DD format")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise QbtError(417, f"Expectation Failed: {name} is not a valid date") from exc


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _wildcard(pattern: str) -> re.Pattern[str]:
    """docs: Jobcodes/_retrieve.md.erb `name`: "* will be interpreted as a wild card. Starts
    matching from the beginning of the string." Case-insensitive (U: MySQL collation)."""
    return re.compile(
        "^" + ".*".join(re.escape(p) for p in pattern.split("*")) + "$", re.IGNORECASE
    )


class Query:
    """GET parameters (first value each) with TSheets' list/flag conventions."""

    def __init__(self, query: dict[str, list[str]]) -> None:
        self.raw = {k: (v[0] if v else "") for k, v in query.items()}

    def has(self, name: str) -> bool:
        return self.raw.get(name, "") != ""

    def get(self, name: str, default: str = "") -> str:
        value = self.raw.get(name, "")
        return value if value != "" else default

    def ints(self, name: str) -> list[int] | None:
        """A comma-separated id list (docs: "Comma separated list of one or more ... ids")."""
        if not self.has(name):
            return None
        out = []
        for part in self.raw[name].split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(int(part))
            except ValueError as exc:
                raise QbtError(
                    417, f"Expectation Failed: {name} must be a comma-separated list of integers"
                ) from exc
        return out

    def strs(self, name: str) -> list[str] | None:
        if not self.has(name):
            return None
        return [p.strip() for p in self.raw[name].split(",") if p.strip()]

    def flag(self, name: str, default: str) -> str:
        """'yes' | 'no' | 'both' (docs: Overview flags and every `active` filter)."""
        value = self.get(name, default).lower()
        if value in ("true", "1"):
            value = "yes"
        if value in ("false", "0"):
            value = "no"
        if value not in ("yes", "no", "both"):
            raise QbtError(417, f"Expectation Failed: {name} must be one of yes, no or both")
        return value

    def paging(self) -> tuple[int, int]:
        """`page` 1-based; `limit` 1..200 else an error (docs: every retrieve page, `limit`:
        "must be: an integer, greater than zero, and not greater than 200")."""
        page_raw = self.get("page", "1")
        try:
            page = int(page_raw)
        except ValueError as exc:
            raise QbtError(417, "Expectation Failed: page must be a positive integer") from exc
        if page < 1:
            raise QbtError(417, "Expectation Failed: page must be a positive integer")
        if self.has("limit"):
            try:
                limit = int(self.raw["limit"])
            except ValueError:
                limit = 0
            if not 1 <= limit <= MAX_LIMIT:
                # (U) wording; the status follows docs' 417 "missing or malformed" meaning.
                raise QbtError(
                    417,
                    "Expectation Failed: limit must be an integer greater than 0 and not "
                    f"greater than {MAX_LIMIT}",
                )
            return page, limit
        if self.has("per_page"):
            try:
                per_page = int(self.raw["per_page"])
            except ValueError:
                per_page = OLD_PER_PAGE_MAX
            return page, max(1, min(per_page, OLD_PER_PAGE_MAX))
        return page, MAX_LIMIT

    def modified(self, obj: dict[str, Any]) -> bool:
        """`modified_since` (inclusive) and `modified_before` (exclusive) on `last_modified`."""
        lm = datetime.fromisoformat(obj["last_modified"])
        if self.has("modified_since") and lm < parse_iso(
            self.raw["modified_since"], "modified_since"
        ):
            return False
        if self.has("modified_before"):
            return lm < parse_iso(self.raw["modified_before"], "modified_before")
        return True

    def active(self, obj: dict[str, Any], default: str, name: str = "active") -> bool:
        want = self.flag(name, default)
        return want == "both" or obj["active"] == (want == "yes")


class QbtStore:
    """All companies' data. Methods return wire bodies or raise `QbtError`.

    Callers hold a lock around calls (the provider's `self.lock`); the store itself is not
    thread safe. State is plain JSON-able dicts so snapshots are `copy.deepcopy`.
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        mode: Callable[[str | None, str], Any] | None = None,
    ) -> None:
        self.now = now
        # The company's modes (provider.py MODES): mode(company_id, name) -> value.
        self.mode: Callable[[str | None, str], Any] = mode or _default_mode
        self.state: dict[str, Any] = {}
        self.reset()

    def addon(self, comp: dict[str, Any]) -> bool:
        """Is the Custom Fields add-on installed? (QuickBooks help "Set up and manage custom
        fields in QuickBooks Time": Feature Add-ons > Manage Add-ons > Custom Fields >
        Install; docs Users/_users.md.erb: a user's `customfields` "is present only if the
        Custom Fields Add-On is installed".) What the API answers without it is (U): no
        custom fields are listed, writes to them fail per item with 417, and the
        `customfields` property of users and timesheets is absent (and ignored on write)."""
        return bool(self.mode(comp["id"], "customfields_addon") == "installed")

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        self.state = {"next_id": 1_000_001, "companies": {}}

    def dump(self) -> dict[str, Any]:
        return copy.deepcopy(self.state)

    def load(self, state: dict[str, Any]) -> None:
        self.state = copy.deepcopy(state)

    def _id(self) -> int:
        value = int(self.state["next_id"])
        self.state["next_id"] = value + 1
        return value

    def _now(self) -> str:
        return iso(self.now())

    def company(self, company_id: str) -> dict[str, Any]:
        try:
            return self.state["companies"][str(company_id)]
        except KeyError as exc:
            raise QbtError(401, "Unauthorized: company not found") from exc

    def companies(self) -> list[dict[str, Any]]:
        return [
            {"id": c["id"], "name": c["name"], "client_url": c["client_url"]}
            for c in self.state["companies"].values()
        ]

    def create_company(self, name: str) -> dict[str, Any]:
        cid = str(self._id())
        slug = re.sub(r"[^a-z0-9]+", "", name.lower())[:24] or "company"
        now = self._now()
        comp = {
            "id": cid,
            "name": name,
            "client_url": f"{slug}{cid[-4:]}",
            "created": now,
            "owner_user_id": 0,
            "objects": {e: {} for e in ENDPOINTS},
            "endpoint_modified": {e: now for e in DEFAULT_TIMESTAMP_ENDPOINTS},
        }
        self.state["companies"][cid] = comp
        return comp

    def _objs(self, comp: dict[str, Any], endpoint: str) -> dict[str, dict[str, Any]]:
        objs: dict[str, dict[str, Any]] = comp["objects"][endpoint]
        return objs

    def _touch(self, comp: dict[str, Any], endpoint: str, obj: dict[str, Any]) -> None:
        """Every write stamps `last_modified` and the endpoint's last_modified_timestamp."""
        now = self._now()
        obj["last_modified"] = now
        comp["endpoint_modified"][endpoint] = now
        if endpoint == "users" and obj["id"] == comp["owner_user_id"]:
            comp["endpoint_modified"]["current_user"] = now

    # -- rendering and supplemental data ---------------------------------------------------

    def _children(self, comp: dict[str, Any], jobcode_id: int) -> list[dict[str, Any]]:
        return [j for j in self._objs(comp, "jobcodes").values() if j["parent_id"] == jobcode_id]

    def _descendants(self, comp: dict[str, Any], jobcode_id: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        stack = [jobcode_id]
        while stack:
            for child in self._children(comp, stack.pop()):
                out.append(child)
                stack.append(child["id"])
        return out

    def _ancestors(self, comp: dict[str, Any], jobcode: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        jobcodes = self._objs(comp, "jobcodes")
        parent = jobcodes.get(str(jobcode["parent_id"]))
        while parent is not None and len(out) < 100:
            out.append(parent)
            parent = jobcodes.get(str(parent["parent_id"]))
        return out

    def render(self, comp: dict[str, Any], endpoint: str, obj: dict[str, Any]) -> dict[str, Any]:
        """The wire object: stored fields plus the read-only computed ones."""
        out = copy.deepcopy(obj)
        if endpoint == "jobcodes":
            out["has_children"] = bool(self._children(comp, obj["id"]))
        elif endpoint == "users":
            out["pto_balances"] = {
                str(j["id"]): obj.get("_pto", {}).get(str(j["id"]), 0)
                for j in self._objs(comp, "jobcodes").values()
                if j["type"] == "pto" and j["active"]
            }
            out["manager_of_group_ids"] = [
                g["id"]
                for g in self._objs(comp, "groups").values()
                if obj["id"] in g.get("manager_ids", [])
            ]
        if endpoint in ("users", "timesheets", "timesheets_deleted") and not self.addon(comp):
            out.pop("customfields", None)
        for key in [k for k in out if k.startswith("_")]:
            del out[key]
        return out

    def _supplemental(
        self, comp: dict[str, Any], endpoint: str, objs: Iterable[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """docs: Overview/_request_formats.md.erb "If the resource object references any other
        objects via an id (i.e. group_id), a corresponding JSON representation of that object
        will be contained in ... supplemental_data"; Overview/_tips_and_suggestions.md.erb."""
        users: set[int] = set()
        jobcodes: set[int] = set()
        groups: set[int] = set()
        customfields: set[int] = set()
        for o in objs:
            if endpoint in ("timesheets", "timesheets_deleted", "jobcode_assignments"):
                users.add(o.get("user_id", 0))
                jobcodes.add(o.get("jobcode_id", 0))
            if endpoint == "timesheets" and isinstance(o.get("customfields"), dict):
                customfields.update(int(k) for k in o["customfields"])
            if endpoint == "jobcodes":
                jobcodes.add(o.get("parent_id", 0))
            if endpoint == "users":
                groups.add(o.get("group_id", 0))
                jobcodes.update(int(k) for k in o.get("pto_balances", {}))
            if endpoint == "customfielditems":
                customfields.add(o.get("customfield_id", 0))
        all_jobcodes = self._objs(comp, "jobcodes")
        for jid in list(jobcodes):  # trace each jobcode back to its top-level parent
            if str(jid) in all_jobcodes:
                jobcodes.update(a["id"] for a in self._ancestors(comp, all_jobcodes[str(jid)]))
        out: dict[str, dict[str, Any]] = {}
        for name, ids in (
            ("jobcodes", jobcodes),
            ("users", users),
            ("groups", groups),
            ("customfields", customfields),
        ):
            table = self._objs(comp, name)
            if name == "customfields" and not self.addon(comp):
                continue
            found = {str(i): self.render(comp, name, table[str(i)]) for i in ids if str(i) in table}
            if found:
                out[name] = found
        return out

    # -- GET -------------------------------------------------------------------------------

    def list(self, company_id: str, endpoint: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """`GET /<endpoint>`: `{"results":{endpoint:{id:obj}},"more":bool,"supplemental_data"}`.

        Results are maps keyed by id (docs: every Examples/_retrieve-response.md.erb), in id
        order; `more` says another page exists (docs: Overview/_request_formats.md.erb).
        """
        comp = self.company(company_id)
        q = Query(query)
        page, limit = q.paging()
        matcher = getattr(self, f"_filter_{endpoint}")
        rows = [o for o in self._objs(comp, endpoint).values() if matcher(comp, q, o)]
        if endpoint in ("customfields", "customfielditems") and not self.addon(comp):
            rows = []  # (U) without the add-on there are no custom fields to see
        rows.sort(key=lambda o: o["id"])
        start = (page - 1) * limit
        chunk = [self.render(comp, endpoint, o) for o in rows[start : start + limit]]
        body: dict[str, Any] = {
            "results": {endpoint: {str(o["id"]): o for o in chunk}},
            "more": len(rows) > start + limit,
        }
        if q.get("supplemental_data", "yes").lower() != "no":
            supp = self._supplemental(comp, endpoint, chunk)
            if supp:
                body["supplemental_data"] = supp
        return body

    def _filter_users(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        """docs: Users/_retrieve.md.erb (ids, usernames, group_ids, payroll_ids, active,
        first_name, last_name, modified_*)."""
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        names = q.strs("usernames")
        if names is not None and o["username"].lower() not in {n.lower() for n in names}:
            return False
        groups = q.ints("group_ids")
        if groups is not None and o["group_id"] not in groups:
            return False
        payroll = q.strs("payroll_ids")
        if payroll is not None and o["payroll_id"] not in payroll:
            return False
        for field in ("first_name", "last_name"):
            if q.has(field) and not _wildcard(q.get(field)).match(o[field]):
                return False
        return q.active(o, "yes") and q.modified(o)

    def _filter_groups(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        if q.has("name") and not _wildcard(q.get("name")).match(o["name"]):
            return False
        return q.active(o, "yes") and q.modified(o)

    def _filter_jobcodes(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        """docs: Jobcodes/_retrieve.md.erb: `parent_ids` default -1 (all), 0 = top level;
        `type` default 'regular' ('all' for every type); `active` default 'yes'."""
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        parents = q.ints("parent_ids")
        if parents is not None and -1 not in parents and o["parent_id"] not in parents:
            return False
        if q.has("name") and not _wildcard(q.get("name")).match(o["name"]):
            return False
        jtype = q.get("type", "regular").lower()
        if jtype != "all" and o["type"] != jtype:
            return False
        return q.active(o, "yes") and q.modified(o)

    def _filter_jobcode_assignments(
        self, comp: dict[str, Any], q: Query, o: dict[str, Any]
    ) -> bool:
        """docs: JobcodeAssignments/_retrieve.md.erb: `user_ids` also matches user_id 0
        (assigned_to_all); `type` default 'regular'; `active` and `active_jobcodes` 'both'."""
        users = q.ints("user_ids")
        if users is not None and o["user_id"] not in users and o["user_id"] != 0:
            return False
        jobcode = self._objs(comp, "jobcodes").get(str(o["jobcode_id"]))
        if jobcode is None:
            return False
        if q.has("jobcode_id") and str(o["jobcode_id"]) != q.get("jobcode_id"):
            return False
        if q.has("jobcode_parent_id") and str(jobcode["parent_id"]) != q.get("jobcode_parent_id"):
            return False
        jtype = q.get("type", "regular").lower()
        if jtype != "all" and jobcode["type"] != jtype:
            return False
        if not q.active(jobcode, "both", "active_jobcodes"):
            return False
        return q.active(o, "both") and q.modified(o)

    def _timesheet_common(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        day = date.fromisoformat(o["date"])
        if q.has("start_date") and day < _parse_date(q.get("start_date"), "start_date"):
            return False
        if q.has("end_date") and day > _parse_date(q.get("end_date"), "end_date"):
            return False
        users = q.ints("user_ids")
        if users is not None and o["user_id"] not in users:
            return False
        user = self._objs(comp, "users").get(str(o["user_id"]), {})
        groups = q.ints("group_ids")
        if groups is not None and user.get("group_id") not in groups:
            return False
        payroll = q.strs("payroll_ids")
        if payroll is not None and user.get("payroll_id") not in payroll:
            return False
        jobcode_ids = q.ints("jobcode_ids")
        if jobcode_ids is not None:
            # docs: "Only time recorded against these jobcodes or one of their children".
            allowed = set(jobcode_ids)
            for jid in jobcode_ids:
                allowed.update(d["id"] for d in self._descendants(comp, jid))
            if o["jobcode_id"] not in allowed:
                return False
        jtype = q.get("jobcode_type", "all").lower()
        if jtype != "all":
            jobcode = self._objs(comp, "jobcodes").get(str(o["jobcode_id"]), {})
            if jobcode.get("type") != jtype:
                return False
        return q.modified(o)

    def _filter_timesheets(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        """docs: Timesheets/_retrieve.md.erb; `on_the_clock` defaults to 'no'."""
        clock = q.flag("on_the_clock", "no")
        if clock != "both" and o["on_the_clock"] != (clock == "yes"):
            return False
        return self._timesheet_common(comp, q, o)

    def _filter_timesheets_deleted(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        ttype = q.get("type", "both").lower()
        if ttype != "both" and o["type"] != ttype:
            return False
        return self._timesheet_common(comp, q, o)

    def _filter_customfields(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        """docs: CustomFields/_retrieve.md.erb: `applies_to` default 'timesheet', `value_type`
        default 'both', `active` default 'yes'."""
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        applies = q.get("applies_to", "timesheet").lower()
        if applies != "all" and o["applies_to"] != applies:
            return False
        vtype = q.get("value_type", "both").lower()
        if vtype != "both" and o["type"] != vtype:
            return False
        return q.active(o, "yes") and q.modified(o)

    def _filter_customfielditems(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        if str(o["customfield_id"]) != q.get("customfield_id"):
            return False
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        if q.has("name") and not _wildcard(q.get("name")).match(o["name"]):
            return False
        return q.active(o, "yes") and q.modified(o)

    def _filter_locations(self, comp: dict[str, Any], q: Query, o: dict[str, Any]) -> bool:
        """docs: Locations/_retrieve.md: ids, active (default 'yes'), modified_*."""
        ids = q.ints("ids")
        if ids is not None and o["id"] not in ids:
            return False
        return q.active(o, "yes") and q.modified(o)

    def _create_locations(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Locations/_create.md.erb: "One or more of the following properties are
        required": addr1, addr2, city, state, zip, country."""
        if not any(str(item.get(f) or "").strip() for f in LOCATION_FIELDS[:6]):
            raise ItemError(417, "Oops! An address is required")  # (U) wording
        now = self._now()
        loc: dict[str, Any] = {
            "id": self._id(),
            **{f: "" for f in LOCATION_FIELDS},
            "country": "US",
            "active": True,
            "latitude": 0,
            "longitude": 0,
            "place_id": "",
            "place_id_hash": "",
            "geocoding_status": "none",
            "created": now,
            "last_modified": now,
            "linked_objects": {},
            "geofence_config_id": None,
        }
        self._location_fields(comp, loc, item)
        self._objs(comp, "locations")[str(loc["id"])] = loc
        self._touch(comp, "locations", loc)
        return 200, "Created", loc

    def _update_locations(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        loc = self._objs(comp, "locations").get(str(item.get("id")))
        if loc is None:
            raise ItemError(417, "Oops! That location does not exist")  # (U)
        self._location_fields(comp, loc, item)
        self._touch(comp, "locations", loc)
        return 200, "Updated", loc

    def _location_fields(
        self, comp: dict[str, Any], loc: dict[str, Any], item: dict[str, Any]
    ) -> None:
        jobcodes = self._objs(comp, "jobcodes")
        linked = (
            (item.get("linked_objects") or {}).get("jobcodes") if "linked_objects" in item else None
        )
        if linked is not None:
            wanted = [int(j) for j in linked]
            missing = [j for j in wanted if str(j) not in jobcodes]
            if missing:
                raise ItemError(417, f"Oops! That jobcode does not exist: {missing[0]}")  # (U)
        for f in LOCATION_FIELDS:
            if f in item:
                loc[f] = str(item[f] or "")
        if "active" in item:
            loc["active"] = _bool(item["active"])
        street = " ".join(p for p in (loc["addr1"], loc["addr2"]) if p)
        region = " ".join(p for p in (loc["state"], loc["zip"]) if p)
        loc["formatted_address"] = ", ".join(p for p in (street, loc["city"], region) if p)
        if linked is None:
            return
        before = set((loc.get("linked_objects") or {}).get("jobcodes") or [])
        loc["linked_objects"] = {"jobcodes": wanted} if wanted else {}
        for jid in before | set(wanted):  # a jobcode answers its locations' ids
            job = jobcodes[str(jid)]
            held = [i for i in job.get("locations") or [] if i != loc["id"]]
            job["locations"] = held + ([loc["id"]] if jid in wanted else [])
            self._touch(comp, "jobcodes", job)

    def list_checked(
        self, company_id: str, endpoint: str, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        """`list` plus the endpoint's required-filter rules."""
        q = Query(query)
        if endpoint == "timesheets" and not any(
            q.has(n) for n in ("ids", "start_date", "modified_before", "modified_since")
        ):
            # docs: Timesheets/_retrieve.md.erb, `ids` "required (unless modified_before,
            # modified_since, or start_date are set)". (U) wording.
            raise QbtError(
                417,
                "Expectation Failed: one of the following parameters is required: ids, "
                "start_date, modified_before, modified_since",
            )
        if endpoint == "timesheets_deleted" and not (
            any(q.has(n) for n in ("ids", "modified_before", "modified_since"))
            or (q.has("start_date") and q.has("end_date"))
        ):
            # docs: TimesheetsDeleted/_retrieve.md.erb. (U) wording.
            raise QbtError(
                417,
                "Expectation Failed: one of the following parameters is required: ids, "
                "start_date and end_date, modified_before, modified_since",
            )
        if endpoint == "customfielditems" and not q.has("customfield_id"):
            # docs: CustomFieldItems/_retrieve.md.erb, `customfield_id` required. (U) wording.
            raise QbtError(417, "Expectation Failed: customfield_id is required")
        return self.list(company_id, endpoint, query)

    def current_user(self, company_id: str, user_id: int) -> dict[str, Any]:
        """docs: CurrentUser/_retrieve.md.erb: the token's user, in `results.users`."""
        comp = self.company(company_id)
        user = self._objs(comp, "users").get(str(user_id))
        if user is None:
            raise QbtError(401, "Unauthorized")
        rendered = self.render(comp, "users", user)
        body: dict[str, Any] = {"results": {"users": {str(user_id): rendered}}, "more": False}
        supp = self._supplemental(comp, "users", [rendered])
        if supp:
            body["supplemental_data"] = supp
        return body

    def last_modified_timestamps(self, company_id: str, endpoints: str | None) -> dict[str, Any]:
        """docs: LastModified/_retrieve.md.erb; reply `results.last_modified_timestamps`."""
        comp = self.company(company_id)
        names = (
            [e.strip() for e in endpoints.split(",") if e.strip()]
            if endpoints
            else list(DEFAULT_TIMESTAMP_ENDPOINTS)
        )
        stamps = {n: comp["endpoint_modified"].get(n, comp["created"]) for n in names}
        return {"results": {"last_modified_timestamps": stamps}}

    # -- writes ------------------------------------------------------------------------------

    def write(
        self, company_id: str, endpoint: str, method: str, payload: Any, actor: int = 0
    ) -> dict[str, Any]:
        """`POST`/`PUT /<endpoint>` with `{"data":[...]}`: per-item results keyed by 1-based
        position (docs: Jobcodes/Examples/_create-response.md.erb), HTTP 200 overall."""
        comp = self.company(company_id)
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            # (U) wording; docs: 417 for a malformed request.
            raise QbtError(417, "Expectation Failed: data must be an array of objects")
        items = payload["data"]
        if len(items) > MAX_BATCH:
            # docs: every create/update page: "The maximum batch size is 50 ... If exceeded, a
            # 413: Request entity too large HTTP response will be returned."
            raise QbtError(413, f"Request entity too large: the maximum batch size is {MAX_BATCH}")
        if not items:
            raise QbtError(417, "Expectation Failed: data must contain at least one object")
        action = "create" if method == "POST" else "update"
        handler = getattr(self, f"_{action}_{endpoint}", None)
        if handler is None:
            raise QbtError(405, "Method Not Allowed")
        if endpoint == "timesheets":
            self._check_time_tracking(comp, items, action)
        results: dict[str, Any] = {}
        touched: list[dict[str, Any]] = []
        no_addon = endpoint in ("customfields", "customfielditems") and not self.addon(comp)
        for pos, item in enumerate(items, start=1):
            try:
                if not isinstance(item, dict):
                    raise ItemError(417, "Oops! Each item must be an object")
                if no_addon:
                    raise ItemError(417, "Oops! The Custom Fields add-on is not installed")  # (U)
                if endpoint in ("users", "timesheets") and not self.addon(comp):
                    item = {k: v for k, v in item.items() if k != "customfields"}
                code, message, obj = handler(comp, item, actor)
                rendered = self.render(comp, endpoint, obj)
                results[str(pos)] = {"_status_code": code, "_status_message": message, **rendered}
                touched.append(rendered)
            except ItemError as err:
                echo = item if isinstance(item, dict) else {}
                results[str(pos)] = {
                    "_status_code": err.status,
                    "_status_message": err.message,
                    "_status_extra": err.extra,
                    **{k: v for k, v in echo.items() if not k.startswith("_")},
                }
        body: dict[str, Any] = {"results": {endpoint: results}}
        supp = self._supplemental(comp, endpoint, touched)
        if supp:
            body["supplemental_data"] = supp
        return body

    def delete(self, company_id: str, endpoint: str, ids_param: str | None) -> dict[str, Any]:
        """`DELETE /<endpoint>?ids=1,2`: results keyed by id, "OK, deleted" (docs:
        Timesheets/Examples/_delete-response.md.erb, JobcodeAssignments/... likewise)."""
        comp = self.company(company_id)
        if endpoint not in ("timesheets", "jobcode_assignments"):
            raise QbtError(405, "Method Not Allowed")
        raw = [p.strip() for p in (ids_param or "").split(",") if p.strip()]
        if not raw:
            # docs: Timesheets/_delete.md.erb "If no filters are specified at all, no
            # timesheets are deleted." (U) that this is a 417 rather than an empty 200.
            raise QbtError(417, "Expectation Failed: ids is required")
        if len(raw) > MAX_BATCH:
            raise QbtError(413, f"Request entity too large: the maximum batch size is {MAX_BATCH}")
        results: dict[str, Any] = {}
        for key in raw:
            results[key] = self._delete_one(comp, endpoint, key)
        return {"results": {endpoint: results}}

    def _delete_one(self, comp: dict[str, Any], endpoint: str, key: str) -> dict[str, Any]:
        objs = self._objs(comp, endpoint)
        obj = objs.get(key)
        if endpoint == "jobcode_assignments":
            if obj is None or not obj["active"]:
                # docs: JobcodeAssignments/Examples/_delete-response.md.erb.
                return {
                    "_status_code": 417,
                    "_status_message": "Expectation Failed!",
                    "_status_extra": "That id is not found in the database",
                    "id": key,
                }
            obj["active"] = False  # docs: "If false, then the assignment has been deleted."
            self._touch(comp, endpoint, obj)
            return {"_status_code": 200, "_status_message": "OK, deleted", "id": obj["id"]}
        if obj is None:
            # docs: Timesheets/_delete.md.erb 404 "never existed or has already been deleted".
            return {
                "_status_code": 404,
                "_status_message": "Not Found",
                "_status_extra": "Timesheet either has never existed or has been deleted",
                "id": key,
            }
        if obj["locked"]:
            return {  # (U) wording; docs: Timesheets/_delete.md.erb lists 417.
                "_status_code": 417,
                "_status_message": "Expectation Failed",
                "_status_extra": "Oops! This timesheet is locked and cannot be deleted",
                "id": key,
            }
        del objs[key]
        gone = copy.deepcopy(obj)
        gone["active"] = "0"  # docs: TimesheetsDeleted/Examples/_retrieve-response-1.md.erb
        gone.pop("on_the_clock", None)
        self._objs(comp, "timesheets_deleted")[key] = gone
        self._touch(comp, "timesheets_deleted", gone)
        comp["endpoint_modified"]["timesheets"] = gone["last_modified"]
        return {"_status_code": 200, "_status_message": "OK, deleted", "id": key}

    # -- users -------------------------------------------------------------------------------

    def _unique(
        self, comp: dict[str, Any], endpoint: str, field: str, value: Any, self_id: int | None
    ) -> bool:
        if value in ("", None):
            return True
        norm = str(value).lower()
        return not any(
            str(o.get(field, "")).lower() == norm and o["id"] != self_id
            for o in self._objs(comp, endpoint).values()
        )

    def _user_fields(
        self, comp: dict[str, Any], user: dict[str, Any], item: dict[str, Any]
    ) -> None:
        # docs: Users/_users.md.erb: `payroll_id` is a "Unique company wide string"; nothing
        # makes `email` unique (two users may share one). `username` logs a person in, so it
        # stays unique (U).
        for field in ("username", "payroll_id"):
            if field in item and not self._unique(comp, "users", field, item[field], user["id"]):
                label = {"username": "username", "payroll_id": "payroll id"}[field]
                raise ItemError(417, f"Oops! That {label} is already in use")  # (U) wording
        group_id = item.get("group_id")
        if group_id not in (0, "0", None) and str(group_id) not in self._objs(comp, "groups"):
            raise ItemError(417, "Oops! That group_id does not exist")  # (U)
        for field in (
            "first_name",
            "last_name",
            "display_name",
            "username",
            "email",
            "payroll_id",
            "hire_date",
            "term_date",
            "mobile_number",
            "submitted_to",
            "approved_to",
        ):
            if field in item:
                user[field] = "" if item[field] is None else str(item[field])
        for field in ("salaried", "exempt"):
            if field in item:
                user[field] = _bool(item[field])
        if "employee_number" in item:
            user["employee_number"] = int(item["employee_number"] or 0)
        if "group_id" in item:
            user["group_id"] = int(item["group_id"] or 0)
        if "active" in item:
            user["active"] = _bool(item["active"])  # docs: "If false, ... archived"
        if isinstance(item.get("permissions"), dict):
            for key, value in item["permissions"].items():
                if key in DEFAULT_PERMISSIONS:
                    user["permissions"][key] = _bool(value)
        if "customfields" in item:
            user["customfields"] = item["customfields"] or ""

    def _create_users(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Users/_create.md.erb: username, first_name, last_name required; created with
        `time_tracking` false; defaults from Users/Examples/_create-response.md.erb."""
        for field in ("username", "first_name", "last_name"):
            if not str(item.get(field) or "").strip():
                raise ItemError(417, f"Oops! {field} is required")  # (U) wording
        now = self._now()
        user: dict[str, Any] = {
            "id": self._id(),
            "first_name": "",
            "last_name": "",
            "display_name": "",
            "group_id": 0,
            "active": True,
            "employee_number": 0,
            "salaried": False,
            "exempt": False,
            "username": "",
            "email": "",
            "email_verified": False,
            "payroll_id": "",
            "hire_date": "0000-00-00",
            "term_date": "0000-00-00",
            "last_modified": now,
            "last_active": "",
            "created": now,
            "client_url": comp["client_url"],
            "company_name": comp["name"],
            "profile_image_url": "",
            "mobile_number": "",
            "submitted_to": "2000-01-01",
            "approved_to": "2000-01-01",
            "require_password_change": False,
            "pay_rate": 0,
            "pay_interval": "hour",
            "permissions": dict(DEFAULT_PERMISSIONS),
            "customfields": "",
        }
        self._user_fields(comp, user, item)
        self._objs(comp, "users")[str(user["id"])] = user
        self._touch(comp, "users", user)
        return 200, "Created", user

    def _update_users(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Users/_update.md.erb: identified by `id` or `username`."""
        users = self._objs(comp, "users")
        user = None
        if item.get("id") not in (None, ""):
            user = users.get(str(item["id"]))
        elif item.get("username"):
            user = next(
                (
                    u
                    for u in users.values()
                    if u["username"].lower() == str(item["username"]).lower()
                ),
                None,
            )
        if user is None:
            raise ItemError(417, "Oops! That user does not exist")  # (U)
        self._user_fields(comp, user, {k: v for k, v in item.items() if k != "id"})
        self._touch(comp, "users", user)
        return 200, "Updated", user

    # -- groups ------------------------------------------------------------------------------

    def _create_groups(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        name = str(item.get("name") or "").strip()
        if not name:
            raise ItemError(417, "Oops! name is required")  # (U)
        if not self._unique(comp, "groups", "name", name, None):
            raise ItemError(417, "Oops! That group name is already in use")  # (U)
        now = self._now()
        group = {
            "id": self._id(),
            "active": _bool(item.get("active", True)),
            "name": name,
            "manager_ids": [int(m) for m in item.get("manager_ids") or []],
            "last_modified": now,
            "created": now,
        }
        self._objs(comp, "groups")[str(group["id"])] = group
        self._touch(comp, "groups", group)
        return 200, "Created", group

    def _update_groups(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        group = self._objs(comp, "groups").get(str(item.get("id")))
        if group is None:
            raise ItemError(417, "Oops! That group does not exist")  # (U)
        if "name" in item:
            if not self._unique(comp, "groups", "name", item["name"], group["id"]):
                raise ItemError(417, "Oops! That group name is already in use")  # (U)
            group["name"] = str(item["name"])
        if "active" in item:
            group["active"] = _bool(item["active"])
        if "manager_ids" in item:
            group["manager_ids"] = [int(m) for m in item["manager_ids"] or []]
        self._touch(comp, "groups", group)
        return 200, "Updated", group

    # -- jobcodes ----------------------------------------------------------------------------

    def _jobcode_checks(
        self,
        comp: dict[str, Any],
        *,
        self_id: int | None,
        name: str,
        short_code: str,
        parent_id: int,
        jtype: str,
    ) -> dict[str, Any] | None:
        """Name/short_code rules under one parent (docs: Jobcodes/_jobcodes.md.erb). Returns
        the existing same-parent/name/type jobcode when a create should answer 202."""
        if not name.strip():
            raise ItemError(417, "Oops! name is required")  # (U)
        if len(name) > MAX_JOBCODE_NAME:
            # docs: "Cannot be more than 64 characters". (U) wording.
            raise ItemError(417, "Oops! The jobcode name cannot be more than 64 characters")
        if not _ALNUM.match(short_code):
            # docs: short_code "may only consist of letters and numbers". (U) wording.
            raise ItemError(417, "Oops! Short Codes may only contain letters and numbers")
        jobcodes = self._objs(comp, "jobcodes")
        if parent_id != 0:
            parent = jobcodes.get(str(parent_id))
            if parent is None:
                raise ItemError(417, "Oops! That parent_id does not exist")  # (U)
            if parent["type"] != "regular":
                raise ItemError(417, "Oops! Only regular jobcodes may have children")  # (U)
            if self_id is not None and (
                parent_id == self_id
                or any(a["id"] == self_id for a in self._ancestors(comp, parent))
            ):
                raise ItemError(417, "Oops! A jobcode cannot be its own ancestor")  # (U)
        if jtype == "pto" and parent_id != 0:
            # docs: "'pto' ... only allowed with a parent_id of 0 (i.e. top-level)".
            raise ItemError(417, "Oops! PTO jobcodes must be top-level (parent_id 0)")
        siblings = [
            j for j in jobcodes.values() if j["parent_id"] == parent_id and j["id"] != self_id
        ]
        same_name = [j for j in siblings if j["name"].lower() == name.lower()]
        if self_id is None:
            dup = next((j for j in same_name if j["type"] == jtype), None)
            if dup is not None:
                return dup
        if same_name:
            # docs: name "must be unique for all jobcodes that share the same parent_id".
            raise ItemError(417, "Oops! That name is already in use")  # (U) wording
        if short_code and any(j["short_code"].lower() == short_code.lower() for j in siblings):
            # docs: Jobcodes/Examples/_create-response.md.erb, this exact text.
            raise ItemError(417, "Oops! That Short Code is already in use")
        return None

    def _create_jobcodes(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Jobcodes/_create.md.erb: 200 Created; 202 "accepted but not created because a
        jobcode with the same parent_id, name and type already exists"; 417 otherwise."""
        jtype = str(item.get("type") or "regular")
        if jtype in ("paid_break", "unpaid_break"):
            # docs: "These types of jobcodes may not be created/edited via the API."
            raise ItemError(417, "Oops! Break jobcodes are managed by the Breaks Add-On")
        if jtype not in ("regular", "pto"):
            raise ItemError(417, "Oops! type must be one of regular or pto")  # (U)
        try:
            parent_id = int(item.get("parent_id") or 0)
        except (TypeError, ValueError) as exc:
            raise ItemError(417, "Oops! parent_id must be an integer") from exc
        name = str(item.get("name") or "")
        short_code = str(item.get("short_code") or "")
        dup = self._jobcode_checks(
            comp, self_id=None, name=name, short_code=short_code, parent_id=parent_id, jtype=jtype
        )
        if dup is not None:
            # (U) whether the existing jobcode's fields are echoed; we return them with its id.
            return 202, "Accepted", dup
        now = self._now()
        jobcode: dict[str, Any] = {
            "id": self._id(),
            "parent_id": parent_id,
            "assigned_to_all": _bool(item.get("assigned_to_all", False)),
            "billable": _bool(item.get("billable", False)),
            "active": _bool(item.get("active", True)),
            "type": jtype,
            "billable_rate": float(item.get("billable_rate") or 0),
            "short_code": short_code,
            "name": name,
            "last_modified": now,
            "created": now,
            "required_customfields": [],
            "filtered_customfielditems": "",
            "locations": [],
        }
        self._objs(comp, "jobcodes")[str(jobcode["id"])] = jobcode
        self._touch(comp, "jobcodes", jobcode)
        if parent_id:
            parent = self._objs(comp, "jobcodes")[str(parent_id)]
            if len(self._children(comp, parent_id)) == 1:  # has_children just flipped
                self._touch(comp, "jobcodes", parent)
        if jobcode["assigned_to_all"]:
            self._assign(comp, 0, jobcode["id"])
        return 200, "Created", jobcode

    def _update_jobcodes(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Jobcodes/_update.md.erb and the `active` property in _jobcodes.md.erb."""
        jobcode = self._objs(comp, "jobcodes").get(str(item.get("id")))
        if jobcode is None:
            raise ItemError(417, "Oops! That jobcode does not exist")  # (U)
        restoring = "active" in item and _bool(item["active"])
        if not jobcode["active"] and not restoring:
            # docs: "You cannot edit a jobcode that is archived. You must restore the jobcode
            # first. It is permissible to make an edit ... and restore it in a single edit".
            raise ItemError(417, "Oops! You cannot edit an archived jobcode; restore it first")
        if jobcode["type"] in ("paid_break", "unpaid_break"):
            raise ItemError(417, "Oops! Break jobcodes are managed by the Breaks Add-On")
        if "type" in item and item["type"] != jobcode["type"]:
            # docs: type is "read/write-once". (U) wording.
            raise ItemError(417, "Oops! The type of a jobcode cannot be changed")
        new_parent = int(item.get("parent_id", jobcode["parent_id"]) or 0)
        name = str(item.get("name", jobcode["name"]))
        short_code = str(item.get("short_code", jobcode["short_code"]) or "")
        self._jobcode_checks(
            comp,
            self_id=jobcode["id"],
            name=name,
            short_code=short_code,
            parent_id=new_parent,
            jtype=jobcode["type"],
        )
        jobcode.update(name=name, short_code=short_code, parent_id=new_parent)
        for field in ("billable", "assigned_to_all"):
            if field in item:
                jobcode[field] = _bool(item[field])
        if "billable_rate" in item:
            jobcode["billable_rate"] = float(item["billable_rate"] or 0)
        self._touch(comp, "jobcodes", jobcode)
        if "active" in item:
            if _bool(item["active"]):
                # docs: "When a jobcode is restored, any parents of that jobcode are also
                # restored."
                jobcode["active"] = True
                for parent in self._ancestors(comp, jobcode):
                    if not parent["active"]:
                        parent["active"] = True
                        self._touch(comp, "jobcodes", parent)
            elif jobcode["active"]:
                self._archive_jobcode(comp, jobcode)
        if jobcode["assigned_to_all"] and jobcode["active"]:
            self._assign(comp, 0, jobcode["id"])
        return 200, "Updated", jobcode

    def _archive_jobcode(self, comp: dict[str, Any], jobcode: dict[str, Any]) -> None:
        """docs: Jobcodes/_jobcodes.md.erb `active`: "When a jobcode is archived, any children
        underneath the jobcode are archived as well ... any jobcode assignments ... are
        removed." Removed assignments stay visible with active false (JobcodeAssignments
        object: "If false, then the assignment has been deleted")."""
        for jc in [jobcode, *self._descendants(comp, jobcode["id"])]:
            if jc["active"] or jc is jobcode:
                jc["active"] = False
                self._touch(comp, "jobcodes", jc)
            for a in self._objs(comp, "jobcode_assignments").values():
                if a["jobcode_id"] == jc["id"] and a["active"]:
                    a["active"] = False
                    self._touch(comp, "jobcode_assignments", a)

    # -- jobcode assignments -----------------------------------------------------------------

    def _assign(self, comp: dict[str, Any], user_id: int, jobcode_id: int) -> dict[str, Any]:
        for a in self._objs(comp, "jobcode_assignments").values():
            if a["user_id"] == user_id and a["jobcode_id"] == jobcode_id and a["active"]:
                return a
        now = self._now()
        assignment = {
            "id": self._id(),
            "user_id": user_id,
            "jobcode_id": jobcode_id,
            "active": True,
            "last_modified": now,
            "created": now,
        }
        self._objs(comp, "jobcode_assignments")[str(assignment["id"])] = assignment
        self._touch(comp, "jobcode_assignments", assignment)
        return assignment

    def _create_jobcode_assignments(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: JobcodeAssignments/_create.md.erb: user_id (0 = all users, the same as
        `assigned_to_all`) and jobcode_id required."""
        try:
            user_id = int(item["user_id"])
            jobcode_id = int(item["jobcode_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ItemError(417, "Oops! user_id and jobcode_id are required") from exc  # (U)
        if user_id and str(user_id) not in self._objs(comp, "users"):
            raise ItemError(417, "Oops! That user does not exist")  # (U)
        jobcode = self._objs(comp, "jobcodes").get(str(jobcode_id))
        if jobcode is None or not jobcode["active"]:
            raise ItemError(417, "Oops! That jobcode does not exist or is archived")  # (U)
        if user_id == 0 and not jobcode["assigned_to_all"]:
            jobcode["assigned_to_all"] = True
            self._touch(comp, "jobcodes", jobcode)
        return 200, "Created", self._assign(comp, user_id, jobcode_id)

    # -- custom fields ----------------------------------------------------------------------

    def _active_customfields(self, comp: dict[str, Any], except_id: int | None = None) -> int:
        return sum(
            1
            for c in self._objs(comp, "customfields").values()
            if c["active"] and c["id"] != except_id
        )

    def _cap_error(self) -> ItemError:
        # docs: CustomFields/_custom_fields.md.erb "A maximum of 6 Custom Fields can be
        # 'active' on an account at any given time." (U) wording of the refusal.
        return ItemError(
            417,
            f"Oops! A maximum of {MAX_ACTIVE_CUSTOMFIELDS} custom fields can be active at any "
            "given time",
        )

    def _create_customfields(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: CustomFields/_create.md.erb: name and type required; applies_to 'timesheet'
        only; active defaults true; short_code letters and numbers. `required` and
        `show_to_all` default to the company's `customfield_defaults` mode: true as the
        api_docs page says, or false."""
        name = str(item.get("name") or "").strip()
        if not name:
            raise ItemError(417, "Oops! name is required")  # (U)
        ftype = str(item.get("type") or "")
        if ftype not in ("managed-list", "free-form"):
            raise ItemError(417, "Oops! type must be one of managed-list or free-form")  # (U)
        applies = str(item.get("applies_to") or "timesheet")
        if applies != "timesheet":
            raise ItemError(417, "Oops! applies_to must be timesheet")  # (U)
        short_code = str(item.get("short_code") or "")
        if not _ALNUM.match(short_code):
            raise ItemError(417, "Oops! Short Codes may only contain letters and numbers")
        active = _bool(item.get("active", True))
        if active and self._active_customfields(comp) >= MAX_ACTIVE_CUSTOMFIELDS:
            raise self._cap_error()
        default = self.mode(comp["id"], "customfield_defaults") == "true"
        now = self._now()
        field = {
            "id": self._id(),
            "name": name,
            "required": _bool(item.get("required", default)),
            "active": active,
            "applies_to": applies,
            "type": ftype,
            "short_code": short_code,
            "regex_filter": "",
            "show_to_all": _bool(item.get("show_to_all", default)),
            "last_modified": now,
            "created": now,
            # docs: CustomFields/Examples/_create-response.md.erb shows "dropdown".
            "ui_preference": "dropdown" if ftype == "managed-list" else "text_box_with_suggest",
            "required_customfields": [],
        }
        self._objs(comp, "customfields")[str(field["id"])] = field
        self._touch(comp, "customfields", field)
        return 200, "Created", field

    def _update_customfields(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        field = self._objs(comp, "customfields").get(str(item.get("id")))
        if field is None:
            raise ItemError(417, "Oops! That customfield does not exist")  # (U)
        restoring = "active" in item and _bool(item["active"]) and not field["active"]
        if restoring and self._active_customfields(comp, field["id"]) >= MAX_ACTIVE_CUSTOMFIELDS:
            raise self._cap_error()
        if "short_code" in item and not _ALNUM.match(str(item["short_code"] or "")):
            raise ItemError(417, "Oops! Short Codes may only contain letters and numbers")
        for key in ("name", "short_code"):
            if key in item:
                field[key] = str(item[key] or "")
        for key in ("required", "active", "show_to_all"):
            if key in item:
                field[key] = _bool(item[key])
        self._touch(comp, "customfields", field)
        return 200, "Updated", field

    def _item_checks(
        self,
        comp: dict[str, Any],
        customfield_id: int,
        name: str,
        short_code: str,
        self_id: int | None,
    ) -> None:
        if not name.strip():
            raise ItemError(417, "Oops! name is required")  # (U)
        if not _ALNUM.match(short_code):
            raise ItemError(417, "Oops! Short Codes may only contain letters and numbers")
        items = self._objs(comp, "customfielditems").values()
        if short_code and any(
            i["short_code"].lower() == short_code.lower() and i["id"] != self_id for i in items
        ):
            # docs: CustomFieldItems/_custom_field_items.md.erb "short_code values must be
            # unique for each TSheets account". Wording as the jobcode example.
            raise ItemError(417, "Oops! That Short Code is already in use")
        if any(
            i["customfield_id"] == customfield_id
            and i["name"].lower() == name.lower()
            and i["id"] != self_id
            for i in items
        ):
            raise ItemError(417, "Oops! That name is already in use")  # (U)

    def _create_customfielditems(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: CustomFieldItems/_create.md.erb: name and customfield_id required."""
        try:
            cf_id = int(item["customfield_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ItemError(417, "Oops! customfield_id is required") from exc  # (U)
        if str(cf_id) not in self._objs(comp, "customfields"):
            raise ItemError(417, "Oops! That customfield does not exist")  # (U)
        name = str(item.get("name") or "")
        short_code = str(item.get("short_code") or "")
        self._item_checks(comp, cf_id, name, short_code, None)
        return (
            200,
            "Created",
            self._new_item(comp, cf_id, name, short_code, _bool(item.get("active", True))),
        )

    def _new_item(
        self, comp: dict[str, Any], cf_id: int, name: str, short_code: str, active: bool
    ) -> dict[str, Any]:
        cfi = {
            "id": self._id(),
            "customfield_id": cf_id,
            "active": active,
            "short_code": short_code,
            "name": name,
            "last_modified": self._now(),
            "required_customfields": [],
        }
        self._objs(comp, "customfielditems")[str(cfi["id"])] = cfi
        self._touch(comp, "customfielditems", cfi)
        return cfi

    def _update_customfielditems(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        cfi = self._objs(comp, "customfielditems").get(str(item.get("id")))
        if cfi is None:
            raise ItemError(417, "Oops! That customfielditem does not exist")  # (U)
        name = str(item.get("name", cfi["name"]))
        short_code = str(item.get("short_code", cfi["short_code"]) or "")
        self._item_checks(comp, cfi["customfield_id"], name, short_code, cfi["id"])
        cfi.update(name=name, short_code=short_code)
        if "active" in item:
            cfi["active"] = _bool(item["active"])
        self._touch(comp, "customfielditems", cfi)
        return 200, "Updated", cfi

    # -- timesheets --------------------------------------------------------------------------

    def _check_time_tracking(self, comp: dict[str, Any], items: list[Any], action: str) -> None:
        """docs: Users/_create.md.erb: "Requests to create a timesheet for users in this state
        will result in a 403: Forbidden. TS-1006: User is not allowed to track time HTTP
        response." An HTTP-level 403 (nothing in the batch is written)."""
        users = self._objs(comp, "users")
        timesheets = self._objs(comp, "timesheets")
        for item in items:
            if not isinstance(item, dict):
                continue
            uid = item.get("user_id")
            if action == "update":
                ts = timesheets.get(str(item.get("id")))
                uid = ts["user_id"] if ts else None
            user = users.get(str(uid)) if uid is not None else None
            if user is not None and not user["permissions"].get("time_tracking", False):
                raise QbtError(403, "Forbidden. TS-1006: User is not allowed to track time")

    def _span(self, ts: dict[str, Any]) -> tuple[datetime, datetime] | None:
        if ts["type"] != "regular":
            return None
        start = datetime.fromisoformat(ts["start"])
        end = datetime.fromisoformat(ts["end"]) if ts["end"] else self.now()
        return start, end

    def _conflicts(self, comp: dict[str, Any], ts: dict[str, Any]) -> None:
        """One active timesheet per user (docs: Timesheets/_timesheets.md.erb aside) and no
        overlapping regular time (docs: create 406 "Conflict exists with another timesheet")."""
        others = [
            o
            for o in self._objs(comp, "timesheets").values()
            if o["user_id"] == ts["user_id"] and o["id"] != ts.get("id")
        ]
        if ts["on_the_clock"] and any(o["on_the_clock"] for o in others):
            raise ItemError(406, "Oops! That user is already on the clock")  # (U) wording
        span = self._span(ts)
        if span is None:
            return
        for other in others:
            o_span = self._span(other)
            if o_span and span[0] < o_span[1] and o_span[0] < span[1]:
                raise ItemError(  # (U) wording
                    406, f"Oops! This timesheet overlaps with timesheet {other['id']}"
                )

    def _ts_fields(self, comp: dict[str, Any], ts: dict[str, Any], item: dict[str, Any]) -> None:
        jobcodes = self._objs(comp, "jobcodes")
        if "jobcode_id" in item:
            jobcode = jobcodes.get(str(item["jobcode_id"]))
            if jobcode is None or not jobcode["active"]:
                raise ItemError(417, "Oops! That jobcode does not exist or is archived")  # (U)
            if self._children(comp, jobcode["id"]):
                # (U) time is recorded against leaf jobcodes; a parent is a folder
                # (docs: `has_children` "should be treated as a container or folder").
                raise ItemError(
                    417, "Oops! Time cannot be recorded against a jobcode that has children"
                )
            ts["jobcode_id"] = jobcode["id"]
        if "notes" in item:
            ts["notes"] = str(item["notes"] or "")
        if "attached_files" in item:
            ts["attached_files"] = [int(f) for f in item["attached_files"] or []]
        if "customfields" in item:
            ts["customfields"] = self._ts_customfields(comp, item["customfields"])
        if ts["type"] == "regular":
            start_raw = str(item.get("start", ts["start"]) or "")
            end_raw = item.get("end", ts["end"])
            end_raw = "" if end_raw is None else str(end_raw)
            if not start_raw:
                raise ItemError(417, "Oops! start is required for a regular timesheet")  # (U)
            start = self._ts_time(start_raw, "start")
            ts["start"] = start.isoformat()
            ts["tz"] = (start.utcoffset() or timedelta()).total_seconds() / 3600
            ts["date"] = start.date().isoformat()
            if end_raw:
                end = self._ts_time(end_raw, "end")
                if end < start:
                    raise ItemError(417, "Oops! end must be after start")  # (U)
                ts["end"] = end.isoformat()
                ts["duration"] = int((end - start).total_seconds())
                ts["on_the_clock"] = False
            else:
                # docs: Timesheets/_create.md.erb: `end` "" creates an on-the-clock timesheet.
                ts["end"] = ""
                ts["duration"] = 0
                ts["on_the_clock"] = True
        else:
            if "date" in item:
                if not _DATE.match(str(item["date"] or "")):
                    raise ItemError(417, "Oops! date must be in YYYY-MM-DD format")  # (U)
                ts["date"] = str(item["date"])
            if "duration" in item:
                try:
                    seconds = int(item["duration"])
                except (TypeError, ValueError) as exc:
                    raise ItemError(417, "Oops! duration must be a number of seconds") from exc
                if seconds < 0:
                    raise ItemError(417, "Oops! duration cannot be negative")  # (U)
                # docs: Timesheets/_create.md.erb manual `duration`: "Will get converted to
                # hours, rounded to the nearest 2 decimal places when the timesheet is saved."
                ts["duration"] = round(round(seconds / 3600, 2) * 3600)
            if not ts.get("date"):
                raise ItemError(417, "Oops! date is required for a manual timesheet")  # (U)
            ts["start"] = ""
            ts["end"] = ""
            ts["on_the_clock"] = False

    @staticmethod
    def _ts_time(value: str, name: str) -> datetime:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ItemError(417, f"Oops! {name} must be in ISO 8601 format") from exc
        if dt.tzinfo is None:
            raise ItemError(417, f"Oops! {name} must include a UTC offset")  # (U)
        return dt.replace(microsecond=0)

    def _ts_customfields(self, comp: dict[str, Any], value: Any) -> dict[str, str]:
        """Timesheet `customfields` {cfId: item name/value} (docs: Timesheets object). A
        managed-list value must name an active item; free-form values are added as items
        (docs: CustomFields object `type`: "they'll get added automatically")."""
        if value in ("", None):
            return {}
        if not isinstance(value, dict):
            raise ItemError(417, "Oops! customfields must be an object")  # (U)
        out: dict[str, str] = {}
        fields = self._objs(comp, "customfields")
        items = self._objs(comp, "customfielditems").values()
        for key, raw in value.items():
            field = fields.get(str(key))
            if field is None or not field["active"] or field["applies_to"] != "timesheet":
                raise ItemError(417, f"Oops! customfield {key} does not exist")  # (U)
            text = "" if raw is None else str(raw)
            if text:
                known = [
                    i
                    for i in items
                    if i["customfield_id"] == field["id"] and i["name"].lower() == text.lower()
                ]
                if field["type"] == "managed-list" and not any(i["active"] for i in known):
                    raise ItemError(  # (U)
                        417, f"Oops! '{text}' is not a valid value for customfield {key}"
                    )
                if field["type"] == "free-form" and not known:
                    self._new_item(comp, field["id"], text, "", True)
            out[str(field["id"])] = text
        return out

    def _create_timesheets(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Timesheets/_create.md.erb: user_id, jobcode_id, type required; regular needs
        start and end; manual needs duration and date."""
        ttype = str(item.get("type") or "")
        if ttype not in ("regular", "manual"):
            raise ItemError(417, "Oops! type must be one of regular or manual")  # (U)
        for field in ("user_id", "jobcode_id"):
            if item.get(field) in (None, ""):
                raise ItemError(417, f"Oops! {field} is required")  # (U)
        if ttype == "regular" and "end" not in item:
            raise ItemError(417, "Oops! end is required for a regular timesheet")  # (U)
        if ttype == "manual" and ("duration" not in item or "date" not in item):
            raise ItemError(417, "Oops! date and duration are required for a manual timesheet")
        user = self._objs(comp, "users").get(str(item["user_id"]))
        if user is None or not user["active"]:
            raise ItemError(417, "Oops! That user does not exist or is archived")  # (U)
        ts: dict[str, Any] = {
            "id": 0,
            "user_id": user["id"],
            "jobcode_id": 0,
            "start": "",
            "end": "",
            "duration": 0,
            "date": "",
            "tz": 0,
            "tz_str": "",
            "type": ttype,
            "location": "",
            "on_the_clock": False,
            "locked": 0,
            "notes": "",
            "customfields": {},
            "attached_files": [],
            "created_by_user_id": actor or user["id"],
            "last_modified": self._now(),
        }
        self._ts_fields(comp, ts, item)
        self._conflicts(comp, ts)
        ts["id"] = self._id()
        self._objs(comp, "timesheets")[str(ts["id"])] = ts
        self._touch(comp, "timesheets", ts)
        return 200, "Created", ts

    def _update_timesheets(
        self, comp: dict[str, Any], item: dict[str, Any], actor: int
    ) -> tuple[int, str, dict[str, Any]]:
        """docs: Timesheets/_update.md.erb: 404 when it never existed or was deleted; locked
        timesheets cannot be edited (Timesheets object `locked`)."""
        ts = self._objs(comp, "timesheets").get(str(item.get("id")))
        if ts is None:
            raise ItemError(404, "Timesheet either has never existed or has been deleted")
        if ts["locked"]:
            raise ItemError(417, "Oops! This timesheet is locked and cannot be edited")  # (U)
        if "type" in item and item["type"] != ts["type"]:
            raise ItemError(417, "Oops! The type of a timesheet cannot be changed")  # (U)
        draft = copy.deepcopy(ts)
        self._ts_fields(comp, draft, {k: v for k, v in item.items() if k not in ("id", "user_id")})
        self._conflicts(comp, draft)
        ts.clear()
        ts.update(draft)
        self._touch(comp, "timesheets", ts)
        return 200, "Updated", ts

    # -- people in the web UI (the /_sim "ui_change" surface) --------------------------------

    def ui_write(
        self, company_id: str, endpoint: str, action: str, object_id: Any, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """A change made in QuickBooks Time's own screens: the same rules as the API, plus a
        few things only people can do (lock a timesheet as an export would, force a value).
        Stamps `last_modified` like any write, so `modified_since` polling finds it."""
        comp = self.company(company_id)
        if action == "delete":
            result = self.delete(company_id, endpoint, str(object_id))
            row = next(iter(result["results"][endpoint].values()))
            if row["_status_code"] != 200:
                raise QbtError(row["_status_code"], row.get("_status_extra", "failed"))
            return row
        item = dict(fields)
        if action == "archive":
            item["active"] = False
        locked = item.pop("locked", None)
        if action in ("update", "archive"):
            item["id"] = object_id
            if endpoint == "timesheets" and locked is not None:
                ts = self._objs(comp, "timesheets").get(str(object_id))
                if ts is None:
                    raise QbtError(404, "no such timesheet")
                ts["locked"] = int(locked)
                if len(item) == 1:
                    self._touch(comp, "timesheets", ts)
                    return self.render(comp, endpoint, ts)
        method = "POST" if action == "create" else "PUT"
        result = self.write(company_id, endpoint, method, {"data": [item]})
        row = result["results"][endpoint]["1"]
        if row["_status_code"] not in (200, 201):
            raise QbtError(row["_status_code"], row.get("_status_extra", row["_status_message"]))
        return {k: v for k, v in row.items() if not k.startswith("_")}
