"""One QBO company's books: the entity store with Id/SyncToken/MetaData and the write rules.

Everything here is plain Python over dicts (no HTTP) so the rules are unit-testable. A write
either returns the stored object or raises `QBOFault` with the real code. Sources for each
rule are named at the rule; PROVIDERS.md 1.3 is the summary.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from . import catalog as cat
from . import errors as E

PACIFIC = ZoneInfo("America/Los_Angeles")
# The refusal for an invoice to be emailed without an address (bill.com KB "QuickBooks Online
# Sync Error: Business Validation Error: You must enter the email address for this customer in
# order to email statements."; code 6000 (U)).
NO_EMAIL = "You must enter the email address for this customer in order to email statements."
TWO = Decimal("0.01")

# Fields the server owns: whatever a client sends for them is ignored.
SERVER_FIELDS = {"Id", "SyncToken", "MetaData", "domain", "sparse", "status"}
RO_FIELDS: dict[str, set[str]] = {
    "Customer": {"Balance", "BalanceWithJobs", "FullyQualifiedName", "Level"},
    "Vendor": {"Balance"},
    "Account": {"CurrentBalance", "CurrentBalanceWithSubAccounts", "FullyQualifiedName"},
    "Item": {"FullyQualifiedName", "Level"},
    "Class": {"FullyQualifiedName"},
    "Department": {"FullyQualifiedName"},
    "Invoice": {"TotalAmt", "Balance", "HomeBalance", "HomeTotalAmt", "DeliveryInfo"},
    "Payment": {"UnappliedAmt"},
    "SalesReceipt": {"TotalAmt", "Balance"},
    "Estimate": {"TotalAmt"},
}


def money(v: Any) -> Decimal:
    try:
        return Decimal(str(v)).quantize(TWO, ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise E.invalid_field(f"Invalid amount: {v!r}") from exc


def num(v: Decimal) -> float | int:
    """How QBO prints amounts in JSON: a number (100.0, 12.5)."""
    return float(v.quantize(TWO, ROUND_HALF_UP))


def blank(v: Any) -> bool:
    return v is None or v == ""


def clean(obj: Any) -> Any:
    """Drop null and empty-string fields: python-quickbooks sends "" for every unset string
    field (`mixins.ToJsonMixin`), and the real API treats those as absent."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items() if not blank(v)}
    if isinstance(obj, list):
        return [clean(v) for v in obj]
    return obj


def ref_value(ref: Any) -> str | None:
    if isinstance(ref, dict):
        v = ref.get("value")
        return None if blank(v) else str(v)
    if isinstance(ref, str | int):
        return str(ref)
    return None


def parse_date(v: Any, element: str) -> date:
    try:
        return date.fromisoformat(str(v)[:10])
    except ValueError as exc:
        raise E.QBOFault(
            2170, "Invalid Date", f"Invalid date format for {element}: {v}", element
        ) from exc


class Company:
    """State of one realm. `data` is JSON-able (snapshots dump it as is)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        data.setdefault("objects", {})
        data.setdefault("seq", {})
        data.setdefault("deleted", {})
        data.setdefault("requestids", {})
        data.setdefault("docnum", 1000)

    @classmethod
    def new(cls, realm_id: str, name: str, country: str = "US") -> Company:
        return cls({"id": realm_id, "name": name, "country": country.upper()})

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def country(self) -> str:
        return str(self.data.get("country", "US"))

    @property
    def us(self) -> bool:
        return self.country == "US"

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.data["objects"].setdefault(kind, {})  # type: ignore[no-any-return]

    def get(self, kind: str, obj_id: Any) -> dict[str, Any] | None:
        return self.table(kind).get(str(obj_id))

    def next_id(self, kind: str) -> str:
        n = int(self.data["seq"].get(kind, 0)) + 1
        self.data["seq"][kind] = n
        return str(n)

    def tombstones(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.data["deleted"].setdefault(kind, {})  # type: ignore[no-any-return]

    def prefs(self) -> dict[str, Any]:
        return self.table("Preferences").setdefault("1", {"Id": "1"})


Event = tuple[str, str, str, str, str]  # realm, kind, id, operation, lastUpdated


class Books:
    """The write and read rules over a Company, with a clock and a change listener."""

    def __init__(
        self,
        company: Company,
        now: Callable[[], datetime],
        on_change: Callable[[Event], None] | None = None,
        mode: Callable[[str], Any] | None = None,
    ) -> None:
        self.c = company
        self._now = now
        self.on_change = on_change or (lambda e: None)
        self.mode = mode or (lambda name: None)

    # ---------------------------------------------------------------- time

    def now_iso(self) -> str:
        return self._now().astimezone(PACIFIC).isoformat(timespec="seconds")

    def now_ms_iso(self) -> str:
        return self._now().astimezone(PACIFIC).isoformat(timespec="milliseconds")

    def today(self) -> date:
        return self._now().astimezone(PACIFIC).date()

    # ---------------------------------------------------------------- helpers

    def _emit(self, kind: str, obj: dict[str, Any], op: str) -> None:
        stamp = obj.get("MetaData", {}).get("LastUpdatedTime", self.now_iso())
        self.on_change((self.c.id, kind, str(obj["Id"]), op, stamp))

    def _stamp_new(self, kind: str, obj: dict[str, Any], obj_id: str | None = None) -> None:
        now = self.now_iso()
        obj["Id"] = obj_id or self.c.next_id(kind)
        obj["SyncToken"] = "0"
        obj["MetaData"] = {"CreateTime": now, "LastUpdatedTime": now}
        obj["domain"] = "QBO"
        obj["sparse"] = False

    def _bump(self, obj: dict[str, Any]) -> None:
        obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        obj.setdefault("MetaData", {})["LastUpdatedTime"] = self.now_iso()

    def touch(self, kind: str, obj: dict[str, Any], op: str = "Update") -> None:
        """A server-side change to a stored object (e.g. an invoice's Balance after a
        payment): new SyncToken and LastUpdatedTime, CDC and webhook see it."""
        self._bump(obj)
        self._emit(kind, obj, op)

    def ref(
        self, kind: str, ref: Any, element: str, allow_inactive: bool = False
    ) -> dict[str, Any]:
        """Resolve a reference; 610 when missing or inactive (PROVIDERS.md 1.5)."""
        rid = ref_value(ref)
        if rid is None:
            raise E.required(element)
        obj = self.c.get(kind, rid)
        if obj is None or (not allow_inactive and obj.get("Active") is False):
            raise E.not_found(kind, rid, element)
        if isinstance(ref, dict):
            name = obj.get("DisplayName") or obj.get("FullyQualifiedName") or obj.get("Name")
            if name:
                ref["name"] = name
        return obj

    def _check_refs(self, kind: str, obj: Any, path: str = "") -> None:
        """Every *Ref in the body must name an existing, active object (610)."""
        if isinstance(obj, list):
            for item in obj:
                self._check_refs(kind, item, path)
            return
        if not isinstance(obj, dict):
            return
        for key, val in obj.items():
            element = f"{path}.{key}" if path else key
            if key == "ParentRef" and isinstance(val, dict):
                self.ref(kind, val, element)
            elif key in cat.REF_KINDS and isinstance(val, dict) and "value" in val:
                target = cat.REF_KINDS[key]
                if target == "TaxCode" and str(val["value"]) in ("TAX", "NON") and self.c.us:
                    continue
                if kind == "TimeActivity" and key == "ProjectRef":
                    continue
                self.ref(target, val, element)
            elif isinstance(val, dict | list) and key not in ("LinkedTxn",):
                self._check_refs(kind, val, element)

    def book_close_date(self) -> date | None:
        v = self.c.prefs().get("AccountingInfoPrefs", {}).get("BookCloseDate")
        return parse_date(v, "BookCloseDate") if v else None

    def _check_period(self, kind: str, *txn_dates: Any) -> None:
        """6200: no write dated on or before the BookCloseDate (PROVIDERS.md 1.3 Preferences)."""
        if kind not in cat.TXN_KINDS:
            return
        closed = self.book_close_date()
        if closed is None:
            return
        for d in txn_dates:
            if d and parse_date(d, "TxnDate") <= closed:
                raise E.period_closed()

    # ---------------------------------------------------------------- reads

    def read(self, kind: str, obj_id: str) -> dict[str, Any]:
        obj = self.c.get(kind, obj_id)
        if obj is None:
            raise E.not_found(kind, obj_id)
        return copy.deepcopy(obj)

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for o in self.c.table(kind).values()]

    # ---------------------------------------------------------------- writes

    def create(self, kind: str, body: dict[str, Any], params: dict[str, str] | None = None) -> dict:
        params = params or {}
        if kind in cat.READ_ONLY:
            raise E.unsupported(f"Operation Create is not supported for {kind}")
        if kind in cat.SINGLETONS:
            raise E.unsupported(f"Operation Create is not supported for {kind}")
        obj = clean(copy.deepcopy(body))
        for f in SERVER_FIELDS | RO_FIELDS.get(kind, set()):
            obj.pop(f, None)
        if kind in cat.LIST_KINDS:
            obj.setdefault("Active", True)
        self._validate(kind, obj, None, params)
        self._stamp_new(kind, obj)
        self._after_write(kind, obj, None)
        self.c.table(kind)[obj["Id"]] = obj
        self._emit(kind, obj, "Create")
        return copy.deepcopy(obj)

    def update(self, kind: str, body: dict[str, Any], params: dict[str, str] | None = None) -> dict:
        params = params or {}
        if kind in cat.READ_ONLY:
            raise E.unsupported(f"Operation Update is not supported for {kind}")
        obj_id = body.get("Id")
        if blank(obj_id):
            raise E.required("Id")
        existing = self.c.get(kind, obj_id)
        if existing is None:
            raise E.not_found(kind, str(obj_id))
        if blank(body.get("SyncToken")):
            raise E.required("SyncToken")
        if str(body.get("SyncToken")) != str(existing.get("SyncToken")):
            raise E.stale(str(obj_id))
        sparse = body.get("sparse") in (True, "true", "True")
        incoming = clean(copy.deepcopy(body))
        for f in SERVER_FIELDS:
            incoming.pop(f, None)
        if sparse:
            obj = copy.deepcopy(existing)
            if (
                kind in cat.SALES_FORMS
                and isinstance(incoming.get("Line"), list)
                and self.mode("invoice_sparse_lines") == "merge"
            ):
                incoming["Line"] = self._merge_lines(existing.get("Line", []), incoming["Line"])
            obj.update(incoming)  # Line, when sent, replaces every line (mode: replace)
        else:
            # A full update replaces the object: omitted writable fields are cleared.
            obj = incoming
            for f in SERVER_FIELDS:
                if f in existing:
                    obj[f] = copy.deepcopy(existing[f])
        for f in RO_FIELDS.get(kind, set()):
            if f in existing:
                obj[f] = copy.deepcopy(existing[f])
            else:
                obj.pop(f, None)
        if kind in cat.LIST_KINDS:
            obj.setdefault("Active", True)
        self._check_period(kind, existing.get("TxnDate"))
        self._validate(kind, obj, existing, params)
        obj["sparse"] = False
        self._bump(obj)
        self._after_write(kind, obj, existing)
        self.c.table(kind)[obj["Id"]] = obj
        op = "Update"
        if kind in cat.LIST_KINDS and existing.get("Active") is not False and not obj["Active"]:
            op = "Delete"  # deactivating a name list entry is reported as a Delete (U)
        self._emit(kind, obj, op)
        return copy.deepcopy(obj)

    @staticmethod
    def _merge_lines(old: list[Any], sent: list[Any]) -> list[Any]:
        """The `merge` reading of a sparse update's Line (mode `invoice_sparse_lines`): a sent
        line whose Id names an existing line updates it in place, any other sent line is
        added at the end, lines not sent stay (the subtotal line is recomputed anyway)."""
        kept = [
            copy.deepcopy(ln)
            for ln in old
            if isinstance(ln, dict) and ln.get("DetailType") != "SubTotalLineDetail"
        ]
        by_id = {str(ln["Id"]): ln for ln in kept if not blank(ln.get("Id"))}
        for ln in sent:
            if not isinstance(ln, dict) or ln.get("DetailType") == "SubTotalLineDetail":
                continue
            target = by_id.get(str(ln.get("Id"))) if not blank(ln.get("Id")) else None
            if target is not None:
                target.update(copy.deepcopy(ln))
            else:
                kept.append({k: copy.deepcopy(v) for k, v in ln.items() if k != "Id"})
        return kept

    def delete(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind in cat.LIST_KINDS or kind in cat.SINGLETONS:
            raise E.unsupported(
                f"Operation Delete is not supported for {kind}; make it inactive (Active:false)"
            )
        obj_id = body.get("Id")
        if blank(obj_id):
            raise E.required("Id")
        existing = self.c.get(kind, obj_id)
        if existing is None:
            raise E.not_found(kind, str(obj_id))
        if str(body.get("SyncToken")) != str(existing.get("SyncToken")):
            raise E.stale(str(obj_id))
        self._check_period(kind, existing.get("TxnDate"))
        if kind == "Invoice" and self._payments_on(existing):
            raise E.business(
                "This invoice has payments applied to it. Delete or void the payment first."
            )
        self._unapply(kind, existing)
        del self.c.table(kind)[str(obj_id)]
        now = self.now_iso()
        self.c.tombstones(kind)[str(obj_id)] = {
            "Id": str(obj_id),
            "status": "Deleted",
            "MetaData": {"LastUpdatedTime": now},
        }
        self.on_change((self.c.id, kind, str(obj_id), "Delete", now))
        self._refresh_customer_balances()
        return {"domain": "QBO", "status": "Deleted", "Id": str(obj_id)}

    def void(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind not in cat.VOIDABLE:
            raise E.unsupported(f"Operation Void is not supported for {kind}")
        obj_id = body.get("Id")
        if blank(obj_id):
            raise E.required("Id")
        existing = self.c.get(kind, obj_id)
        if existing is None:
            raise E.not_found(kind, str(obj_id))
        if str(body.get("SyncToken")) != str(existing.get("SyncToken")):
            raise E.stale(str(obj_id))
        self._check_period(kind, existing.get("TxnDate"))
        if kind == "Invoice" and self._payments_on(existing):
            raise E.business("This invoice has payments applied to it. Void the payment first.")
        self._unapply(kind, existing)
        obj = existing
        for line in obj.get("Line", []):
            line["Amount"] = 0.0
        for f in ("TotalAmt", "Balance", "UnappliedAmt", "HomeTotalAmt", "HomeBalance"):
            if f in obj:
                obj[f] = 0.0
        if "TxnTaxDetail" in obj:
            obj["TxnTaxDetail"]["TotalTax"] = 0.0
        # "Voided" is injected into PrivateNote, "prepended to existing text if present"
        # (Invoice entity reference, void); the separator is (U).
        note = str(obj.get("PrivateNote") or "")
        if not note.startswith("Voided"):
            obj["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        self._bump(obj)
        self._emit(kind, obj, "Void")
        self._refresh_customer_balances()
        return copy.deepcopy(obj)

    def send_invoice(self, obj_id: str, send_to: str | None) -> dict[str, Any]:
        """`POST /invoice/{id}/send[?sendTo=]`: EmailStatus EmailSent, DeliveryInfo; sendTo
        overwrites BillEmail (Invoice entity reference "Send an invoice"; python-quickbooks
        `mixins.SendMixin`; PROVIDERS.md 1.3). Without sendTo the invoice's BillEmail is used;
        with neither, the `send_without_email` mode decides: refuse (6000, the wording bill.com
        shows for an invoice marked to be emailed without an address; the code is (U)) or send
        to the customer's PrimaryEmailAddr. The invoice's SyncToken moves; the closing date is
        not checked (sending changes no amount; (U))."""
        inv = self.c.get("Invoice", obj_id)
        if inv is None:
            raise E.not_found("Invoice", obj_id)
        address = send_to or (inv.get("BillEmail") or {}).get("Address")
        if not address and self.mode("send_without_email") == "customer_email":
            cust = self.c.get("Customer", ref_value(inv.get("CustomerRef"))) or {}
            address = (cust.get("PrimaryEmailAddr") or {}).get("Address")
        if not address:
            raise E.business(NO_EMAIL, "BillEmail")
        inv["BillEmail"] = {"Address": address}
        inv["EmailStatus"] = "EmailSent"
        inv["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": self.now_iso()}
        self._bump(inv)
        self._emit("Invoice", inv, "Emailed")
        return copy.deepcopy(inv)

    def update_singleton(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Preferences/CompanyInfo: Id is fixed; sparse or full, SyncToken checked."""
        existing = next(iter(self.c.table(kind).values()))
        if blank(body.get("SyncToken")):
            raise E.required("SyncToken")
        if str(body.get("SyncToken")) != str(existing.get("SyncToken")):
            raise E.stale(str(existing["Id"]))
        incoming = clean(copy.deepcopy(body))
        for f in SERVER_FIELDS:
            incoming.pop(f, None)
        obj = copy.deepcopy(existing)
        for key, val in incoming.items():
            if isinstance(val, dict) and isinstance(obj.get(key), dict):
                obj[key].update(val)  # Preferences groups merge per field
            else:
                obj[key] = val
        if kind == "Preferences":
            close = obj.get("AccountingInfoPrefs", {}).get("BookCloseDate")
            if close:
                parse_date(close, "AccountingInfoPrefs.BookCloseDate")
            was_on = existing.get("CurrencyPrefs", {}).get("MultiCurrencyEnabled")
            if was_on and not obj.get("CurrencyPrefs", {}).get("MultiCurrencyEnabled"):
                # QuickBooks help: once multicurrency is on it cannot be turned off.
                raise E.business(
                    "Multicurrency can't be turned off once it's on.",
                    "CurrencyPrefs.MultiCurrencyEnabled",
                )
        self._bump(obj)
        self.c.table(kind)[str(obj["Id"])] = obj
        self._emit(kind, obj, "Update")
        return copy.deepcopy(obj)

    # ---------------------------------------------------------------- validation

    def _validate(
        self, kind: str, obj: dict[str, Any], existing: dict[str, Any] | None, params: dict
    ) -> None:
        if kind in cat.TXN_KINDS and kind != "TimeActivity":
            obj.setdefault("TxnDate", self.today().isoformat())
            parse_date(obj["TxnDate"], "TxnDate")
            self._check_period(kind, obj["TxnDate"])
        rule = getattr(self, f"_v_{kind.lower()}", None)
        if rule is not None:
            rule(obj, existing, params)
        elif kind in cat.TXN_KINDS:
            self._check_refs(kind, obj)
            self._generic_txn_totals(obj)
        else:
            self._check_refs(kind, obj)
            if kind in cat.LIST_KINDS and "Name" in obj:
                self._unique_name(kind, obj, existing)

    def _unique_name(self, kind: str, obj: dict[str, Any], existing: dict | None) -> None:
        name = str(obj.get("Name", "")).strip()
        if not name:
            raise E.required("Name")
        if len(name) > 100:
            raise E.QBOFault(
                2050,
                "String length is either shorter or longer than supported by specification",
                f"String length specified does not match the supported length. Min:1 Max:100 "
                f"supported. Supplied length:{len(name)}",
                "Name",
            )
        parent = ref_value(obj.get("ParentRef"))
        for other in self.c.table(kind).values():
            if existing is not None and other["Id"] == existing["Id"]:
                continue
            if str(other.get("Name", "")).strip().casefold() == name.casefold() and (
                ref_value(other.get("ParentRef")) == parent
            ):
                if kind == "Item":
                    raise E.duplicate_name("product or service")
                raise E.duplicate_name(f"{kind.lower()}")
        if kind in ("Account", "Class", "Department", "Item"):
            fqn = name
            if parent:
                p = self.ref(kind, obj["ParentRef"], "ParentRef")
                fqn = f"{p.get('FullyQualifiedName', p.get('Name'))}:{name}"
                if kind == "Class":
                    obj["SubClass"] = True
                elif kind == "Department":
                    obj["SubDepartment"] = True
                elif kind == "Account":
                    obj["SubAccount"] = True
            elif kind == "Class":
                obj["SubClass"] = False
            elif kind == "Department":
                obj["SubDepartment"] = False
            obj["FullyQualifiedName"] = fqn

    # -- names (Customer, Vendor, Employee share one DisplayName pool)

    def _display_name(self, kind: str, obj: dict[str, Any], existing: dict | None) -> None:
        """DisplayName built from Title/GivenName/MiddleName/FamilyName/Suffix when omitted
        (Customer entity reference, DisplayName field); unique across Customer, Vendor and
        Employee, inactive ones included (6240; QuickBooks-V3-PHP-SDK #241)."""
        if blank(obj.get("DisplayName")):
            parts = [
                str(obj[p]).strip()
                for p in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")
                if not blank(obj.get(p))
            ]
            if not parts and existing is not None:
                obj["DisplayName"] = existing.get("DisplayName")
            elif not parts:
                raise E.QBOFault(
                    6080,
                    "A business validation error has occurred while processing your request",
                    "Business Validation Error: Please fill in at least one of the following "
                    "fields: Title, First name, Middle name, Last name, Suffix, or Display name.",
                    "DisplayName",
                )
            else:
                obj["DisplayName"] = " ".join(parts)
        name = str(obj["DisplayName"]).strip()
        obj["DisplayName"] = name
        if ":" in name:
            raise E.QBOFault(
                2170,
                "Invalid Enumeration",
                "Invalid character: the name cannot contain a colon (:).",
                "DisplayName",
            )
        key = name.casefold()
        for pool in cat.NAME_POOL:
            for other in self.c.table(pool).values():
                if pool == kind and existing is not None and other["Id"] == existing["Id"]:
                    continue
                if str(other.get("DisplayName", "")).strip().casefold() == key:
                    raise E.duplicate_name()
        obj.setdefault("PrintOnCheckName", name)

    def _v_customer(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._display_name("Customer", obj, existing)
        if existing is not None and existing.get("Active") is not False and obj["Active"] is False:
            self._check_no_open_balance(existing)
        self._check_refs("Customer", {k: v for k, v in obj.items() if k != "ParentRef"})
        parent_id = ref_value(obj.get("ParentRef"))
        if parent_id:
            parent = self.ref("Customer", obj["ParentRef"], "ParentRef")
            if existing is not None and self._is_descendant(parent["Id"], existing["Id"]):
                raise E.business("A customer cannot be its own parent or sub-customer.")
            level = int(parent.get("Level", 0)) + 1
            if level > 5:
                # 6180: sub-customers nest at most 5 levels below the top (PROVIDERS.md 1.3)
                raise E.QBOFault(
                    6180,
                    "Sub Level Limit Reached",
                    "Sub Level Limit Reached : You can only have 5 levels of sub-customers.",
                    "ParentRef",
                )
            obj["Job"] = True
            obj["Level"] = level
            obj["FullyQualifiedName"] = f"{parent['FullyQualifiedName']}:{obj['DisplayName']}"
            obj.setdefault("BillWithParent", False)
        else:
            obj.pop("ParentRef", None)
            obj["Job"] = False
            obj["BillWithParent"] = False
            obj["Level"] = 0
            obj["FullyQualifiedName"] = obj["DisplayName"]
        obj.setdefault("Taxable", self.c.us)
        obj.setdefault("Balance", 0.0)
        obj.setdefault("BalanceWithJobs", 0.0)
        obj.setdefault("CurrencyRef", self._home_currency())
        obj.setdefault("PreferredDeliveryMethod", "Print")
        obj.setdefault("IsProject", False)

    @staticmethod
    def _check_no_open_balance(customer: dict[str, Any]) -> None:
        """A customer or job with an open balance (its own or its jobs') cannot be made
        inactive: ruckus/quickbooks-ruby #390 shows the answer, "Delete List Has Balance
        Error: The entity you are trying to delete has an open balance. : This customer
        cannot be deleted because it has a non-zero balance". Its code is not shown (U)."""
        balance = money(customer.get("BalanceWithJobs", customer.get("Balance", 0)))
        if balance != 0:
            raise E.QBOFault(
                6000,
                "Delete List Has Balance Error",
                "The entity you are trying to delete has an open balance. : This customer "
                "cannot be deleted because it has a non-zero balance",
                "Active",
            )

    def _is_descendant(self, cand_id: str, root_id: str) -> bool:
        cur = self.c.get("Customer", cand_id)
        while cur is not None:
            if cur["Id"] == root_id:
                return True
            pid = ref_value(cur.get("ParentRef"))
            cur = self.c.get("Customer", pid) if pid else None
        return False

    def _v_vendor(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._display_name("Vendor", obj, existing)
        self._check_refs("Vendor", obj)
        obj.setdefault("Balance", 0.0)
        obj.setdefault("Vendor1099", False)
        obj.setdefault("CurrencyRef", self._home_currency())

    def _v_employee(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._display_name("Employee", obj, existing)
        self._check_refs("Employee", obj)
        obj.setdefault("BillableTime", False)

    def _v_item(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """Item: Name <=100, unique among items (inactive ones included, case ignored: 6240
        "Duplicate Name Exists Error", Detail "... Another product or service is already using
        this name ..." (the QBO screens' wording, (2nd)), no tab/newline/colon; Service and
        NonInventory need IncomeAccountRef; Inventory also AssetAccountRef, QtyOnHand,
        InvStartDate (Item entity reference; PROVIDERS.md 1.3). An inactive item on a sales
        line is 610 like any inactive reference (blogs.intuit.com 2017-06-08 "Top QuickBooks
        Online API errors": "Something you're trying to use has been made inactive. Check the
        fields with accounts, customers, items, vendors or employees")."""
        name = str(obj.get("Name", ""))
        if any(ch in name for ch in "\t\n:"):
            raise E.QBOFault(
                2170,
                "Invalid Enumeration",
                "Item name cannot contain a tab, newline or colon (:).",
                "Name",
            )
        obj.setdefault("Type", "Inventory" if existing is None else existing.get("Type"))
        if obj["Type"] not in ("Service", "NonInventory", "Inventory", "Category", "Group"):
            raise E.QBOFault(2170, "Invalid Enumeration", f"Invalid Type: {obj['Type']}", "Type")
        self._check_refs("Item", {k: v for k, v in obj.items() if k != "ParentRef"})
        if obj["Type"] in ("Service", "NonInventory", "Inventory") and not ref_value(
            obj.get("IncomeAccountRef")
        ):
            raise E.required("IncomeAccountRef")
        if obj["Type"] == "Inventory":
            for f in ("AssetAccountRef", "QtyOnHand", "InvStartDate"):
                if blank(obj.get(f)):
                    raise E.required(f)
        self._unique_name("Item", obj, existing)
        obj.setdefault("Taxable", False)
        obj.setdefault("UnitPrice", 0)
        obj.setdefault("TrackQtyOnHand", obj["Type"] == "Inventory")

    def _v_account(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """Account: Name unique; AccountType or AccountSubType required (neither -> 6010;
        PROVIDERS.md 1.3). Classification follows the type."""
        if blank(obj.get("AccountType")) and blank(obj.get("AccountSubType")):
            raise E.QBOFault(
                6010,
                "Invalid account type",
                "Invalid account type: You must select a account type.",
                "AccountType",
            )
        self._check_refs("Account", {k: v for k, v in obj.items() if k != "ParentRef"})
        self._unique_name("Account", obj, existing)
        if blank(obj.get("AccountType")):
            obj["AccountType"] = SUBTYPE_TO_TYPE.get(obj["AccountSubType"], "Expense")
        atype = obj["AccountType"]
        if atype not in ACCOUNT_TYPES:
            raise E.QBOFault(2170, "Invalid Enumeration", f"Invalid AccountType: {atype}")
        sub, cls = ACCOUNT_TYPES[atype]
        obj.setdefault("AccountSubType", sub)
        obj["Classification"] = cls
        obj.setdefault("CurrentBalance", 0.0)
        obj.setdefault("CurrentBalanceWithSubAccounts", 0.0)
        obj.setdefault("CurrencyRef", self._home_currency())
        obj.setdefault("SubAccount", False)

    def _v_term(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._unique_name("Term", obj, existing)
        obj.setdefault("Type", "STANDARD")
        if obj["Type"] == "STANDARD":
            obj.setdefault("DueDays", 0)
            obj.setdefault("DiscountDays", 0)

    def _home_currency(self) -> dict[str, str]:
        return (
            {"value": "USD", "name": "United States Dollar"}
            if self.c.us
            else {
                "value": {"GB": "GBP", "AU": "AUD", "CA": "CAD"}.get(self.c.country, "USD"),
            }
        )

    # -- transactions

    def _lines(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        lines = obj.get("Line")
        if not isinstance(lines, list):
            return []
        return [ln for ln in lines if isinstance(ln, dict)]

    def _generic_txn_totals(self, obj: dict[str, Any]) -> None:
        total = Decimal(0)
        for i, ln in enumerate(self._lines(obj), start=1):
            ln.setdefault("Id", str(i))
            if ln.get("DetailType") != "SubTotalLineDetail" and not blank(ln.get("Amount")):
                total += money(ln["Amount"])
        if "Line" in obj and obj.get("TotalAmt") is None:
            obj["TotalAmt"] = num(total)

    def _v_invoice(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._sales_form("Invoice", obj, existing, params)

    def _v_salesreceipt(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._sales_form("SalesReceipt", obj, existing, params)

    def _v_estimate(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._sales_form("Estimate", obj, existing, params)

    def _v_creditmemo(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        self._sales_form("CreditMemo", obj, existing, params)

    def _sales_form(
        self, kind: str, obj: dict[str, Any], existing: dict | None, params: dict
    ) -> None:
        """Invoice-like forms. CustomerRef required; lines: Amount = Qty x UnitPrice (6070;
        the check applies when both are given and non-zero, because python-quickbooks sends
        Qty 0 and UnitPrice 0 for unset ones and the real API accepts that); US companies
        take TAX/NON line codes and one TxnTaxCodeRef (6100 otherwise), other countries a
        TaxCode Id per line; the server appends a SubTotalLineDetail line and computes
        TotalAmt and Balance; DocNumber unique (6140) unless include=allowduplicatedocnum."""
        if not ref_value(obj.get("CustomerRef")):
            raise E.required("CustomerRef")
        self._check_refs(kind, {k: v for k, v in obj.items() if k not in ("Line", "TxnTaxDetail")})
        lines = [ln for ln in self._lines(obj) if ln.get("DetailType") != "SubTotalLineDetail"]
        if not lines:
            raise E.required("Line")
        subtotal = Decimal(0)
        discount = Decimal(0)
        taxable_base = Decimal(0)
        per_code: dict[str, Decimal] = {}
        out: list[dict[str, Any]] = []
        for n, ln in enumerate(lines, start=1):
            element = f"Line[{n - 1}]"
            dtype = ln.get("DetailType")
            ln["Id"] = str(n)
            ln["LineNum"] = n
            if dtype == "SalesItemLineDetail":
                d = ln.setdefault("SalesItemLineDetail", {})
                if not ref_value(d.get("ItemRef")):
                    d["ItemRef"] = {"value": "1"}  # the API falls back to the default item (U)
                self.ref("Item", d["ItemRef"], f"{element}.SalesItemLineDetail.ItemRef")
                for key in ("ClassRef",):
                    if ref_value(d.get(key)):
                        self.ref("Class", d[key], f"{element}.SalesItemLineDetail.{key}")
                qty, price = d.get("Qty"), d.get("UnitPrice")
                if blank(ln.get("Amount")):
                    if not blank(qty) and not blank(price):
                        ln["Amount"] = num(Decimal(str(qty)) * Decimal(str(price)))
                    else:
                        raise E.required("Amount", f"{element}.Amount")
                amount = money(ln["Amount"])
                if (
                    not blank(qty)
                    and not blank(price)
                    and Decimal(str(qty))
                    and Decimal(str(price))
                ):
                    expected = (Decimal(str(qty)) * Decimal(str(price))).quantize(
                        TWO, ROUND_HALF_UP
                    )
                    if expected != amount:
                        raise E.QBOFault(
                            6070,
                            "Amount is not equal to UnitPrice * Qty",
                            f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount}",
                            f"{element}.Amount",
                        )
                ln["Amount"] = num(amount)
                subtotal += amount
                code = ref_value(d.get("TaxCodeRef"))
                if self.c.us:
                    if code is None:
                        item = self.c.get("Item", ref_value(d["ItemRef"]))
                        code = "TAX" if item and item.get("Taxable") else "NON"
                        d["TaxCodeRef"] = {"value": code}
                    if code not in ("TAX", "NON"):
                        raise E.QBOFault(
                            6100,
                            "Invalid line TaxCode",
                            "Invalid TaxCode: for US companies a line TaxCodeRef must be TAX or "
                            f"NON; supplied {code}",
                            f"{element}.SalesItemLineDetail.TaxCodeRef",
                        )
                    if code == "TAX":
                        taxable_base += amount
                else:
                    if code is None:
                        raise E.business(
                            "Make sure all your transactions have a VAT rate before you save.",
                            f"{element}.SalesItemLineDetail.TaxCodeRef",
                        )
                    if code in ("TAX", "NON"):
                        raise E.QBOFault(
                            6100,
                            "Invalid line TaxCode",
                            f"Invalid TaxCode: {code} is not a TaxCode of this company",
                            f"{element}.SalesItemLineDetail.TaxCodeRef",
                        )
                    self.ref(
                        "TaxCode", d["TaxCodeRef"], f"{element}.SalesItemLineDetail.TaxCodeRef"
                    )
                    per_code[code] = per_code.get(code, Decimal(0)) + amount
                if blank(d.get("ServiceDate")):
                    d.pop("ServiceDate", None)
                out.append(ln)
            elif dtype == "DiscountLineDetail":
                d = ln.setdefault("DiscountLineDetail", {})
                if d.get("PercentBased") and not blank(d.get("DiscountPercent")):
                    amount = (subtotal * Decimal(str(d["DiscountPercent"])) / 100).quantize(TWO)
                else:
                    amount = money(ln.get("Amount", 0))
                ln["Amount"] = num(amount)
                discount += amount
                out.append(ln)
            elif dtype == "DescriptionOnly":
                ln.setdefault("DescriptionLineDetail", {})
                ln.setdefault("Amount", 0.0)
                out.append(ln)
            else:
                raise E.QBOFault(
                    2170,
                    "Invalid Enumeration",
                    f"Invalid DetailType: {dtype}",
                    f"{element}.DetailType",
                )
        # The subtotal line stands before the first discount line (a discount applies to the
        # subtotal): python-quickbooks' end-to-end estimate test finds the discount at Line[2]
        # after one item line (tests/integration/test_estimate.py).
        first_discount = next(
            (i for i, ln in enumerate(out) if ln.get("DetailType") == "DiscountLineDetail"),
            len(out),
        )
        out.insert(
            first_discount,
            {
                "Amount": num(subtotal),
                "DetailType": "SubTotalLineDetail",
                "SubTotalLineDetail": {},
            },
        )
        obj["Line"] = out
        tax = self._tax(obj, taxable_base, per_code, subtotal)
        total = subtotal - discount + tax
        if obj.get("GlobalTaxCalculation") == "TaxInclusive":
            total = subtotal - discount
        obj["TotalAmt"] = num(total)
        obj.setdefault("CurrencyRef", self._home_currency())
        obj.setdefault("PrintStatus", "NotSet")
        obj.setdefault("EmailStatus", "NotSet")
        if kind == "Invoice":
            paid = self._applied_to(obj["Id"]) if existing else Decimal(0)
            if existing is not None and total < paid:
                raise E.business(
                    "The invoice total cannot be less than the payments applied to it.", "Line"
                )
            obj["Balance"] = num(total - paid)
            obj.setdefault("LinkedTxn", [])
            if existing is not None:
                obj["LinkedTxn"] = copy.deepcopy(existing.get("LinkedTxn", []))
            term = self._term_for(obj)
            if blank(obj.get("DueDate")):
                days = int(term.get("DueDays", 0)) if term else 0
                obj["DueDate"] = (
                    parse_date(obj["TxnDate"], "TxnDate") + timedelta(days=days)
                ).isoformat()
            else:
                parse_date(obj["DueDate"], "DueDate")
            if obj.get("EmailStatus") == "NeedToSend" and not obj.get("BillEmail", {}).get(
                "Address"
            ):
                # "If EmailStatus=NeedToSend, BillEmail is a required input" (Invoice entity
                # reference); the wording is the one bill.com's KB shows for this case.
                raise E.business(NO_EMAIL, "BillEmail")
        if kind in cat.DOCNUM_UNIQUE:
            self._doc_number(kind, obj, existing, params)

    def _term_for(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        tid = ref_value(obj.get("SalesTermRef"))
        if tid is None:
            cust = self.c.get("Customer", ref_value(obj.get("CustomerRef")))
            tid = ref_value(cust.get("SalesTermRef")) if cust else None
        return self.c.get("Term", tid) if tid else None

    def _tax(
        self,
        obj: dict[str, Any],
        taxable_base: Decimal,
        per_code: dict[str, Decimal],
        subtotal: Decimal,
    ) -> Decimal:
        detail = obj.get("TxnTaxDetail") if isinstance(obj.get("TxnTaxDetail"), dict) else {}
        tax_lines: list[dict[str, Any]] = []
        total = Decimal(0)
        inclusive = obj.get("GlobalTaxCalculation") == "TaxInclusive"
        if self.c.us:
            code_id = ref_value(detail.get("TxnTaxCodeRef"))
            if code_id is not None:
                code = self.ref("TaxCode", detail["TxnTaxCodeRef"], "TxnTaxDetail.TxnTaxCodeRef")
                for rate_ref in code.get("SalesTaxRateList", {}).get("TaxRateDetail", []):
                    rate = self.c.get("TaxRate", ref_value(rate_ref.get("TaxRateRef")))
                    if rate is None:
                        continue
                    pct = Decimal(str(rate.get("RateValue", 0)))
                    amt = (taxable_base * pct / 100).quantize(TWO, ROUND_HALF_UP)
                    total += amt
                    tax_lines.append(self._tax_line(rate, pct, amt, taxable_base))
        else:
            # A combined code (e.g. CA "GST/PST BC") carries several rates; each is a TaxLine
            # of its own on the same net amount. Tax-inclusive amounts are split by the sum of
            # the code's rates first ("Manage sales tax for non-US locales": a TaxCode is
            # "comprised of one or more tax rates"; compound tax-on-tax is not simulated).
            for code_id, base in per_code.items():
                code = self.c.get("TaxCode", code_id) or {}
                rates = [
                    r
                    for r in (
                        self.c.get("TaxRate", ref_value(d.get("TaxRateRef")))
                        for d in code.get("SalesTaxRateList", {}).get("TaxRateDetail", [])
                    )
                    if r is not None
                ]
                pcts = [Decimal(str(r.get("RateValue", 0))) for r in rates]
                net = base / (1 + sum(pcts, Decimal(0)) / 100) if inclusive else base
                net = net.quantize(TWO, ROUND_HALF_UP)
                for rate, pct in zip(rates, pcts, strict=True):
                    amt = (net * pct / 100).quantize(TWO, ROUND_HALF_UP)
                    total += amt
                    tax_lines.append(self._tax_line(rate, pct, amt, net))
        new_detail: dict[str, Any] = {"TotalTax": num(total)}
        if detail.get("TxnTaxCodeRef"):
            new_detail["TxnTaxCodeRef"] = detail["TxnTaxCodeRef"]
        if tax_lines:
            new_detail["TaxLine"] = tax_lines
        obj["TxnTaxDetail"] = new_detail
        return total

    @staticmethod
    def _tax_line(rate: dict[str, Any], pct: Decimal, amt: Decimal, base: Decimal) -> dict:
        return {
            "Amount": num(amt),
            "DetailType": "TaxLineDetail",
            "TaxLineDetail": {
                "TaxRateRef": {"value": rate["Id"], "name": rate.get("Name", "")},
                "PercentBased": True,
                "TaxPercent": float(pct),
                "NetAmountTaxable": num(base),
            },
        }

    def _doc_number(
        self, kind: str, obj: dict[str, Any], existing: dict | None, params: dict
    ) -> None:
        custom = self.c.prefs().get("SalesFormsPrefs", {}).get("CustomTxnNumbers", False)
        if blank(obj.get("DocNumber")):
            if existing is not None and existing.get("DocNumber"):
                obj["DocNumber"] = existing["DocNumber"]
            elif not custom:
                self.c.data["docnum"] = int(self.c.data["docnum"]) + 1
                obj["DocNumber"] = str(self.c.data["docnum"])
            else:
                return
        doc = str(obj["DocNumber"])
        if len(doc) > 21:
            raise E.QBOFault(
                2050,
                "String length is either shorter or longer than supported by specification",
                f"String length specified does not match the supported length. Min:0 Max:21 "
                f"supported. Supplied length:{len(doc)}",
                "DocNumber",
            )
        if "allowduplicatedocnum" in str(params.get("include", "")).lower():
            return
        if self.mode("duplicate_docnumber") == "allow":
            return  # the company's duplicate-number check is off (mode, modes.py)
        for other in self.c.table(kind).values():
            if existing is not None and other["Id"] == existing["Id"]:
                continue
            if str(other.get("DocNumber")) == doc:
                raise E.QBOFault(
                    6140,
                    "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={doc} is assigned to "
                    f"TxnType={kind} with TxnId={other['Id']}",
                    "DocNumber",
                )

    # -- payments

    def _payments_on(self, invoice: dict[str, Any]) -> list[str]:
        return [
            str(lt["TxnId"])
            for lt in invoice.get("LinkedTxn", [])
            if lt.get("TxnType") == "Payment"
        ]

    def _applied_to(self, invoice_id: str) -> Decimal:
        total = Decimal(0)
        for pay in self.c.table("Payment").values():
            for ln in pay.get("Line", []):
                for lt in ln.get("LinkedTxn", []):
                    if lt.get("TxnType") == "Invoice" and str(lt.get("TxnId")) == str(invoice_id):
                        total += money(ln.get("Amount", 0))
        return total

    def _v_payment(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """Payment: CustomerRef and TotalAmt required; each line links an invoice of the same
        customer (or of a job billed with it), else 620 (`_payable_by`); a line above the
        invoice's open balance is refused (6000; the real wording is (U)); lines above TotalAmt
        likewise; the rest is UnappliedAmt (PROVIDERS.md 1.3). Lines are ALL or NONE on update,
        sparse too: the lines sent replace the payment's lines, `Line: []` unapplies it (Payment
        entity reference). TxnDate may be in the future (no rule documented)."""
        if not ref_value(obj.get("CustomerRef")):
            raise E.required("CustomerRef")
        if blank(obj.get("TotalAmt")):
            raise E.required("TotalAmt")
        self._check_refs("Payment", {k: v for k, v in obj.items() if k != "Line"})
        cust_id = ref_value(obj["CustomerRef"])
        total = money(obj["TotalAmt"])
        if total < 0:
            raise E.business("The payment amount cannot be negative.", "TotalAmt")
        applied = Decimal(0)
        lines = []
        for n, ln in enumerate(self._lines(obj)):
            element = f"Line[{n}]"
            amount = money(ln.get("Amount", 0))
            links = [lt for lt in ln.get("LinkedTxn", []) if isinstance(lt, dict)]
            if not links:
                raise E.required("LinkedTxn", f"{element}.LinkedTxn")
            for lt in links:
                if lt.get("TxnType") != "Invoice":
                    continue
                inv = self.c.get("Invoice", lt.get("TxnId"))
                if inv is None or not self._payable_by(inv, cust_id):
                    raise E.cannot_link(str(lt.get("TxnId")))
                open_bal = money(inv.get("Balance", 0))
                if existing is not None:
                    open_bal += self._applied_by(existing, inv["Id"])
                if amount > open_bal:
                    raise E.business(
                        f"The amount applied to invoice {inv['Id']} ({amount}) is more than its "
                        f"open balance ({open_bal}).",
                        f"{element}.Amount",
                    )
            applied += amount
            ln["Amount"] = num(amount)
            lines.append(ln)
        if applied > total:
            raise E.business(
                f"The amounts applied ({applied}) are more than the payment total ({total}).",
                "TotalAmt",
            )
        obj["Line"] = lines
        obj["TotalAmt"] = num(total)
        obj["UnappliedAmt"] = num(total - applied)
        obj.setdefault("ProcessPayment", False)
        obj.setdefault("CurrencyRef", self._home_currency())
        if not ref_value(obj.get("DepositToAccountRef")):
            undeposited = next(
                (
                    a
                    for a in self.c.table("Account").values()
                    if a.get("AccountSubType") == "UndepositedFunds"
                ),
                None,
            )
            if undeposited is not None:
                obj["DepositToAccountRef"] = {"value": undeposited["Id"]}

    def _payable_by(self, invoice: dict[str, Any], cust_id: str | None) -> bool:
        """A payment line may link an invoice of the payment's own customer, or of a job
        (sub-customer, any depth) billed with its parent (BillWithParent) when the payment is
        the parent's. Any other customer: 620 "TxnID Cannot Be Linked" (Chargebee KB "QuickBooks
        error code 620", ServiceTitan and Syngency KBs; the job rule from Wise Owl's KB, which
        points at "bill with parent" for this error (2nd))."""
        owner = self.c.get("Customer", ref_value(invoice.get("CustomerRef")))
        while owner is not None:
            if owner["Id"] == cust_id:
                return True
            if not owner.get("BillWithParent"):
                return False
            owner = self.c.get("Customer", ref_value(owner.get("ParentRef")))
        return False

    @staticmethod
    def _applied_by(payment: dict[str, Any], invoice_id: str) -> Decimal:
        total = Decimal(0)
        for ln in payment.get("Line", []):
            for lt in ln.get("LinkedTxn", []):
                if lt.get("TxnType") == "Invoice" and str(lt.get("TxnId")) == str(invoice_id):
                    total += money(ln.get("Amount", 0))
        return total

    def _after_write(self, kind: str, obj: dict[str, Any], existing: dict | None) -> None:
        if kind == "Payment":
            old = {
                str(lt["TxnId"])
                for ln in (existing or {}).get("Line", [])
                for lt in ln.get("LinkedTxn", [])
                if lt.get("TxnType") == "Invoice"
            }
            new = {
                str(lt["TxnId"])
                for ln in obj.get("Line", [])
                for lt in ln.get("LinkedTxn", [])
                if lt.get("TxnType") == "Invoice"
            }
            # The payment is stored after this hook; compute balances with it in place.
            self.c.table("Payment")[obj["Id"]] = obj
            for inv_id in sorted(old | new, key=lambda s: (len(s), s)):
                self._reset_invoice(inv_id, obj["Id"], inv_id in new)
            self._refresh_customer_balances()
        elif kind == "Customer" and existing is not None:
            if existing.get("FullyQualifiedName") != obj.get("FullyQualifiedName"):
                self.c.table("Customer")[obj["Id"]] = obj
                self._refresh_children(obj)
        elif kind == "Invoice":
            self.c.table("Invoice")[obj["Id"]] = obj
            self._refresh_customer_balances()
        elif kind == "CompanyCurrency" and existing is None:
            self.add_rate(obj["Code"], self.feed_rate(obj["Code"]))  # the feed starts at once

    def _reset_invoice(self, inv_id: str, pay_id: str, linked: bool) -> None:
        inv = self.c.get("Invoice", inv_id)
        if inv is None:
            return
        links = [
            lt
            for lt in inv.get("LinkedTxn", [])
            if not (lt.get("TxnType") == "Payment" and str(lt.get("TxnId")) == pay_id)
        ]
        if linked:
            links.append({"TxnId": pay_id, "TxnType": "Payment"})
        inv["LinkedTxn"] = links
        inv["Balance"] = num(money(inv.get("TotalAmt", 0)) - self._applied_to(inv_id))
        # The invoice's SyncToken and LastUpdatedTime move (CDC sees it); whether its own
        # webhook event is sent is the `payment_invoice_event` mode (U).
        if self.mode("payment_invoice_event") == "none":
            self._bump(inv)
        else:
            self.touch("Invoice", inv)

    def _unapply(self, kind: str, existing: dict[str, Any]) -> None:
        """Deleting or voiding a payment gives its invoices their balance back."""
        if kind != "Payment":
            return
        pay_id = str(existing["Id"])
        inv_ids = {
            str(lt["TxnId"])
            for ln in existing.get("Line", [])
            for lt in ln.get("LinkedTxn", [])
            if lt.get("TxnType") == "Invoice"
        }
        for ln in existing.get("Line", []):
            ln["Amount"] = 0.0  # a voided payment keeps its lines at zero
        existing["UnappliedAmt"] = 0.0
        for inv_id in sorted(inv_ids):
            self._reset_invoice(inv_id, pay_id, False)
        self._refresh_customer_balances()

    def _refresh_children(self, parent: dict[str, Any]) -> None:
        for child in self.c.table("Customer").values():
            if ref_value(child.get("ParentRef")) == parent["Id"]:
                child["FullyQualifiedName"] = (
                    f"{parent['FullyQualifiedName']}:{child['DisplayName']}"
                )
                child["Level"] = int(parent.get("Level", 0)) + 1
                self._refresh_children(child)

    def _refresh_customer_balances(self) -> None:
        """Customer.Balance = open invoice balances (RO; updated without a SyncToken bump (U))."""
        own: dict[str, Decimal] = {}
        for inv in self.c.table("Invoice").values():
            cid = ref_value(inv.get("CustomerRef"))
            if cid:
                own[cid] = own.get(cid, Decimal(0)) + money(inv.get("Balance", 0))
        for pay in self.c.table("Payment").values():
            cid = ref_value(pay.get("CustomerRef"))
            if cid:
                own[cid] = own.get(cid, Decimal(0)) - money(pay.get("UnappliedAmt", 0))
        customers = self.c.table("Customer")
        for cust in customers.values():
            cust["Balance"] = num(own.get(cust["Id"], Decimal(0)))
        for cust in customers.values():
            total = Decimal(0)
            stack = [cust["Id"]]
            while stack:
                cid = stack.pop()
                total += own.get(cid, Decimal(0))
                stack.extend(
                    c["Id"] for c in customers.values() if ref_value(c.get("ParentRef")) == cid
                )
            cust["BalanceWithJobs"] = num(total)

    # -- time activity

    def _v_timeactivity(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """TimeActivity rules (PROVIDERS.md 1.3; TimeActivity entity reference): NameOf
        Employee|Vendor (6300), not both refs (6290); Hours/Minutes or StartTime/EndTime, not
        both (6390), start before end (6370); Billable needs CustomerRef (6310) and
        HourlyRate (6330). The real Message wording of 6290-6390 is (U)."""
        name_of = obj.get("NameOf")
        if name_of not in ("Employee", "Vendor"):
            raise E.QBOFault(
                6300,
                "Invalid NameOf",
                f"NameOf must be Employee or Vendor; supplied {name_of!r}",
                "NameOf",
            )
        if ref_value(obj.get("EmployeeRef")) and ref_value(obj.get("VendorRef")):
            raise E.QBOFault(
                6290,
                "Both EmployeeRef and VendorRef supplied",
                "A time activity is for an employee or a vendor, not both.",
                "EmployeeRef",
            )
        who = "EmployeeRef" if name_of == "Employee" else "VendorRef"
        if not ref_value(obj.get(who)):
            raise E.required(who)
        obj.setdefault("TxnDate", self.today().isoformat())
        parse_date(obj["TxnDate"], "TxnDate")
        self._check_period("TimeActivity", obj["TxnDate"])
        self._check_refs("TimeActivity", obj)
        if name_of == "Employee" and self.mode("payroll_time") == "refuse":
            raise E.business(
                "Time activities for employees paid through QuickBooks Payroll can't be "
                "added or changed through this app. Enter the time in QuickBooks Payroll.",
                "EmployeeRef",
            )
        has_duration = not blank(obj.get("Hours")) or not blank(obj.get("Minutes"))
        has_range = not blank(obj.get("StartTime")) or not blank(obj.get("EndTime"))
        if has_duration and has_range:
            raise E.QBOFault(
                6390,
                "Both duration and start/end time supplied",
                "Supply Hours/Minutes or StartTime/EndTime, not both.",
                "Hours",
            )
        if has_range:
            if blank(obj.get("StartTime")) or blank(obj.get("EndTime")):
                raise E.required("StartTime" if blank(obj.get("StartTime")) else "EndTime")
            try:
                start = datetime.fromisoformat(str(obj["StartTime"]))
                end = datetime.fromisoformat(str(obj["EndTime"]))
            except ValueError as exc:
                raise E.QBOFault(2170, "Invalid Date", "Invalid StartTime/EndTime") from exc
            if (start.tzinfo is None) != (end.tzinfo is None):
                start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
            if start > end:
                raise E.QBOFault(
                    6370,
                    "Start time after end time",
                    "The StartTime must be earlier than the EndTime.",
                    "StartTime",
                )
        elif not has_duration:
            raise E.required("Hours")
        else:
            obj.setdefault("Hours", 0)
            obj.setdefault("Minutes", 0)
        status = obj.setdefault("BillableStatus", "NotBillable")
        if status not in ("Billable", "NotBillable", "HasBeenBilled"):
            raise E.QBOFault(2170, "Invalid Enumeration", f"Invalid BillableStatus: {status}")
        if status == "Billable":
            if not ref_value(obj.get("CustomerRef")):
                raise E.QBOFault(
                    6310,
                    "Billable time needs a customer",
                    "A billable time activity needs a CustomerRef.",
                    "CustomerRef",
                )
            if blank(obj.get("HourlyRate")):
                raise E.QBOFault(
                    6330,
                    "Billable time needs an hourly rate",
                    "A billable time activity needs an HourlyRate.",
                    "HourlyRate",
                )
        obj.setdefault("Taxable", False)

    # -- transfers, credit card payments, attachments, currencies

    def _amount(self, obj: dict[str, Any]) -> Decimal:
        if blank(obj.get("Amount")):
            raise E.required("Amount")
        amount = money(obj["Amount"])
        if amount <= 0:
            raise E.business("The amount must be more than zero.", "Amount")
        obj["Amount"] = num(amount)
        return amount

    def _v_transfer(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """Transfer: FromAccountRef, ToAccountRef and Amount required (2020), two different
        accounts (Transfer entity reference; (2nd) for the wording), each a balance-sheet
        account (Asset, Liability or Equity; the refusal's code is (U), 6000 here)."""
        self._check_refs("Transfer", obj)
        for key in ("FromAccountRef", "ToAccountRef"):
            if not ref_value(obj.get(key)):
                raise E.required(key)
            acct = self.c.get("Account", ref_value(obj[key])) or {}
            if acct.get("Classification") not in ("Asset", "Liability", "Equity"):
                raise E.business("A transfer moves money between balance-sheet accounts.", key)
        if ref_value(obj["FromAccountRef"]) == ref_value(obj["ToAccountRef"]):
            raise E.business(
                "The transfer-from and transfer-to accounts must be different.", "ToAccountRef"
            )
        self._amount(obj)
        obj.setdefault("CurrencyRef", self._home_currency())

    def _v_creditcardpayment(
        self, obj: dict[str, Any], existing: dict | None, params: dict
    ) -> None:
        """CreditCardPayment (minor version 60+): Amount, BankAccountRef and CreditCardAccountRef
        required (CreditCardPayment entity reference). The card account must be of type Credit
        Card; the paying account is an asset account (the reference names a Bank account, but
        python-quickbooks' end-to-end test pays from the company's first asset account:
        tests/integration/test_creditcardpayment_entity.py; stricter enforcement is (U))."""
        self._check_refs("CreditCardPayment", obj)
        for key in ("BankAccountRef", "CreditCardAccountRef"):
            if not ref_value(obj.get(key)):
                raise E.required(key)
        card = self.c.get("Account", ref_value(obj["CreditCardAccountRef"])) or {}
        if card.get("AccountType") != "Credit Card":
            raise E.business(
                "CreditCardAccountRef must be a credit card account.", "CreditCardAccountRef"
            )
        bank = self.c.get("Account", ref_value(obj["BankAccountRef"])) or {}
        if bank.get("Classification") != "Asset":
            raise E.business(
                "BankAccountRef must be a bank or other asset account.", "BankAccountRef"
            )
        self._amount(obj)
        obj.setdefault("PrintStatus", "NotSet")
        obj.setdefault("CurrencyRef", self._home_currency())

    def _v_attachable(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """Attachable: a note or a file, linked through AttachableRef[].EntityRef {type, value}
        to existing objects (Attachable entity reference). A missing target answers 610."""
        refs = obj.get("AttachableRef") or []
        if not isinstance(refs, list):
            refs = [refs]
        for n, ar in enumerate(refs):
            ent = ar.get("EntityRef") if isinstance(ar, dict) else None
            if not isinstance(ent, dict):
                continue
            kind = cat.BY_PATH.get(str(ent.get("type", "")).lower())
            if kind is None:
                raise E.invalid_field(
                    f"Invalid EntityRef type: {ent.get('type')}", f"AttachableRef[{n}]"
                )
            self.ref(kind, ent, f"AttachableRef[{n}].EntityRef", allow_inactive=True)
            ent["type"] = kind
        obj["AttachableRef"] = refs
        if blank(obj.get("Note")) and blank(obj.get("FileName")):
            raise E.required("Note")

    def _v_companycurrency(self, obj: dict[str, Any], existing: dict | None, params: dict) -> None:
        """CompanyCurrency: only with multicurrency on (the refusal's code is (U), 6000 here);
        Code a known ISO 4217 code other than the home currency, once per company; Name from
        the code (CompanyCurrency entity reference)."""
        if not self.multicurrency():
            raise E.business("Multicurrency is not turned on for this company.", "Code")
        code = str(obj.get("Code") or (existing or {}).get("Code") or "").upper()
        if not code:
            raise E.required("Code")
        if code not in CURRENCY_NAMES:
            raise E.invalid_field(f"Invalid currency code: {code}", "Code")
        if code == self._home_currency()["value"]:
            raise E.business("The home currency is not a company currency.", "Code")
        for other in self.c.table("CompanyCurrency").values():
            if other.get("Code") == code and (existing is None or other["Id"] != existing["Id"]):
                raise E.duplicate_name("currency")
        obj["Code"] = code
        obj["Name"] = CURRENCY_NAMES[code]

    def multicurrency(self) -> bool:
        return bool(self.c.prefs().get("CurrencyPrefs", {}).get("MultiCurrencyEnabled"))

    def feed_rate(self, code: str) -> float:
        """The simulated exchange-rate feed QBO keeps for each company currency: a fixed rate
        per currency (U: the values are made up)."""
        home = self._home_currency()["value"]
        return round(USD_RATES.get(code, 1.0) / USD_RATES.get(home, 1.0), 6)

    def add_rate(self, code: str, rate: Any, as_of: str | None = None) -> dict[str, Any]:
        """Store (or replace) the rate of `code` to the home currency on a date. ExchangeRate
        has no Id on the wire; the store keys it by currency and date."""
        as_of = as_of or self.today().isoformat()
        table = self.c.table("ExchangeRate")
        row = table.get(f"{code}:{as_of}")
        if row is None:
            row = {"SyncToken": "0", "domain": "QBO", "AsOfDate": as_of, "sparse": False}
            table[f"{code}:{as_of}"] = row
        else:
            row["SyncToken"] = str(int(row.get("SyncToken", "0")) + 1)
        row.update(
            {
                "SourceCurrencyCode": code,
                "TargetCurrencyCode": self._home_currency()["value"],
                "Rate": rate,
                "MetaData": {"LastUpdatedTime": self.now_iso()},
            }
        )
        return row


# ISO 4217 codes a company can add, with the names QBO shows (illustrative subset) and a
# made-up starting rate to the US dollar for the simulated exchange-rate feed (U).
CURRENCY_NAMES = {
    "AUD": "Australian Dollar",
    "CAD": "Canadian Dollar",
    "CHF": "Swiss Franc",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
    "INR": "Indian Rupee",
    "JPY": "Japanese Yen",
    "MXN": "Mexican Peso",
    "NZD": "New Zealand Dollar",
    "USD": "United States Dollar",
}
USD_RATES = {
    "AUD": 0.66,
    "CAD": 0.73,
    "CHF": 1.13,
    "EUR": 1.08,
    "GBP": 1.27,
    "INR": 0.012,
    "JPY": 0.0067,
    "MXN": 0.055,
    "NZD": 0.6,
    "USD": 1.0,
}


ACCOUNT_TYPES: dict[str, tuple[str, str]] = {
    "Bank": ("Checking", "Asset"),
    "Other Current Asset": ("UndepositedFunds", "Asset"),
    "Fixed Asset": ("MachineryAndEquipment", "Asset"),
    "Other Asset": ("OtherLongTermAssets", "Asset"),
    "Accounts Receivable": ("AccountsReceivable", "Asset"),
    "Equity": ("OpeningBalanceEquity", "Equity"),
    "Expense": ("OtherMiscellaneousServiceCost", "Expense"),
    "Other Expense": ("OtherMiscellaneousExpense", "Expense"),
    "Cost of Goods Sold": ("SuppliesMaterialsCogs", "Expense"),
    "Accounts Payable": ("AccountsPayable", "Liability"),
    "Credit Card": ("CreditCard", "Liability"),
    "Long Term Liability": ("NotesPayable", "Liability"),
    "Other Current Liability": ("OtherCurrentLiabilities", "Liability"),
    "Income": ("ServiceFeeIncome", "Revenue"),
    "Other Income": ("OtherMiscellaneousIncome", "Revenue"),
}
SUBTYPE_TO_TYPE = {sub: t for t, (sub, _c) in ACCOUNT_TYPES.items()}
SUBTYPE_TO_TYPE.update(
    {
        "Savings": "Bank",
        "Inventory": "Other Current Asset",
        "SalesOfProductIncome": "Income",
        "GlobalTaxPayable": "Other Current Liability",
        "SalesTaxPayable": "Other Current Liability",
        "AdvertisingPromotional": "Expense",
        "Insurance": "Expense",
    }
)
