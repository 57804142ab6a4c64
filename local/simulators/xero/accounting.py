"""Accounting API 2.0 handlers: `/api.xro/2.0/...`.

Wire rules (Xero-OpenAPI `xero_accounting.yaml`; developer.xero.com/documentation/api/
accounting/requests-and-responses; PROVIDERS.md 3.2):
- JSON only with `Accept: application/json`; without it Xero answers in XML, its default
  (xml.py), with the same status: a client that forgets the header gets a 200 it cannot
  parse as JSON.
- Envelope `{"Id","Status":"OK","ProviderName","DateTimeUTC":"/Date(ms)/",<Plural>:[..]}`,
  plus `pagination` when `page` is given on a paged endpoint (Contacts, Invoices, Payments).
  Without `page` these return every match, and Invoices then omit `LineItems` (Xero's
  "summary" list; line items come with `page` or by id).
- PUT creates only, POST creates or updates, `POST /X/{id}` updates; bodies wrap arrays
  (`{"Contacts":[..]}`), a bare object is taken as one element.
- `summarizeErrors` (default true): any invalid element -> HTTP 400 ValidationException
  listing only the failed elements, while the valid ones ARE saved (StackOverflow q52706101,
  answered by Xero staff); `summarizeErrors=false` -> HTTP 200, every element carrying
  `StatusAttributeString` OK|ERROR (+ `ValidationErrors`, `HasErrors`/`HasValidationErrors`).
- `If-Modified-Since` filters on UpdatedDateUTC; `where`, `order`, `IDs`, `Statuses`,
  `ContactIDs`, `InvoiceNumbers`, `includeArchived`, `searchTerm`, `page`, `pageSize`
  (default 100, max 1000).
- Unknown id -> 404 plain text "The resource you're looking for cannot be found"
  (xero-python `NotFoundException.error_message` uses the same wording).
- High volume organisations (the company's `high_volume` mode, above
  `high_volume_threshold` objects of the kind): a Contacts, Invoices or Payments list
  whose `where` has an OR, or that is not paged, answers 400 HighVolumeException "Your
  request is not filtering Contacts efficiently, given the extremely high volume for this
  organisation..." (XeroAPI/xero-python #148: an OR of ContactNumbers; Xero-NetStandard
  #604: an OR filter, ErrorNumber 51, >100k contacts; xero-php-oauth2-app #31, Xero staff:
  "Don't request all payments in a single request (i.e. you must use paging)", threshold
  100,000). Which other filters Xero deems inefficient is not published in full (U).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core import BadRequest, Request, Response, Router
from .dates import DateFormatError, parse_if_modified_since
from .model import ID_FIELD, TYPE_NAME, Invalid, NotFound, Org
from .where import QueryParseError, apply_order, compile_where
from .xml import as_xml, wants_json


def compact(value: Any) -> Any:
    from .provider import compact as _compact

    return _compact(value)


if TYPE_CHECKING:
    from .provider import XeroProvider

BASE = "/api.xro/2.0"
PAGED = ("Contacts", "Invoices", "Payments")
MAX_PAGE_SIZE = 1000

# where-able property names that may be absent on every stored object of a kind
EXTRA_FIELDS = {
    "Contacts": {
        "emailaddress",
        "firstname",
        "lastname",
        "contactnumber",
        "accountnumber",
        "taxnumber",
        "defaultcurrency",
        "iscustomer",
        "issupplier",
        "name",
        "contactstatus",
        "contactid",
        "updateddateutc",
    },
    "Invoices": {
        "type",
        "contact",
        "date",
        "duedate",
        "status",
        "invoicenumber",
        "reference",
        "amountdue",
        "amountpaid",
        "total",
        "subtotal",
        "updateddateutc",
        "invoiceid",
        "currencycode",
        "sentcontact",
        "senttocontact",
        "fullypaidondate",
    },
    "Payments": {
        "paymentid",
        "date",
        "amount",
        "reference",
        "status",
        "paymenttype",
        "updateddateutc",
        "invoice",
        "account",
        "isreconciled",
    },
    "Items": {
        "itemid",
        "code",
        "name",
        "description",
        "issold",
        "ispurchased",
        "istrackedasinventory",
        "updateddateutc",
    },
    "Accounts": {
        "accountid",
        "code",
        "name",
        "type",
        "status",
        "class",
        "taxtype",
        "enablepaymentstoaccount",
        "bankaccountnumber",
        "updateddateutc",
    },
    "TaxRates": {"name", "taxtype", "status", "effectiverate", "reporttaxtype"},
    "BatchPayments": {
        "batchpaymentid",
        "date",
        "reference",
        "status",
        "type",
        "totalamount",
        "updateddateutc",
        "account",
        "isreconciled",
    },
    "TrackingCategories": {"trackingcategoryid", "name", "status"},
}


def xero_error(
    number: int,
    type_: str,
    message: str,
    status: int = 400,
    elements: list[dict[str, Any]] | None = None,
) -> Response:
    body: dict[str, Any] = {"ErrorNumber": number, "Type": type_, "Message": message}
    if elements is not None:
        body["Elements"] = [compact(e) for e in elements]
    return Response.json(status, body)


def validation_error(elements: list[dict[str, Any]]) -> Response:
    """HTTP 400 `ValidationException` (Xero-OpenAPI schema Error/Element/ValidationError)."""
    return xero_error(
        10, "ValidationException", "A validation exception occurred", elements=elements
    )


def not_found() -> Response:
    return Response.text(404, "The resource you're looking for cannot be found")


def _flag(req: Request, name: str, default: bool) -> bool:
    for key, values in req.query.items():
        if key.lower() == name.lower() and values:
            return values[0].strip().lower() in ("true", "1", "yes")
    return default


def _arg(req: Request, name: str) -> str | None:
    for key, values in req.query.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def _echo(kind: str, element: Any, messages: list[str]) -> dict[str, Any]:
    echo = dict(element) if isinstance(element, dict) else {}
    echo["ValidationErrors"] = [{"Message": m} for m in messages]
    if kind == "Invoices":
        echo["HasErrors"] = True
    else:
        echo["HasValidationErrors"] = True
    return echo


class Accounting:
    def __init__(self, p: XeroProvider) -> None:
        self.p = p

    # -- plumbing ------------------------------------------------------------------------

    def wrap(self, handler: Callable[[Request, Org], Response]) -> Callable[[Request], Response]:
        def run(req: Request) -> Response:
            org = self.p.org(str(req.state["company"]))
            if req.method in ("PUT", "POST"):
                resp = self.p.idempotent(req, lambda: self._locked(handler, req, org))
            else:
                resp = self._locked(handler, req, org)
            return resp if wants_json(req.headers.get("Accept")) else as_xml(resp)

        return run

    def _locked(
        self, handler: Callable[[Request, Org], Response], req: Request, org: Org
    ) -> Response:
        with self.p.lock:
            try:
                resp = handler(req, org)
            except NotFound:
                org.take_events()
                return not_found()
            except QueryParseError as exc:
                return xero_error(16, "QueryParseException", str(exc))
            finally:
                self.p.publish(org)
        return resp

    def body_elements(self, req: Request, plural: str) -> list[Any]:
        if not req.body.strip():
            raise BadRequest("Empty request body")
        data = req.json()
        if isinstance(data, dict):
            for key, value in data.items():
                if key.lower() == plural.lower():
                    if not isinstance(value, list):
                        raise BadRequest(f"{plural} must be an array")
                    return value
            return [data]
        if isinstance(data, list):
            return data
        raise BadRequest("Request body must be a JSON object")

    def write_many(
        self,
        req: Request,
        kind: str,
        elements: list[Any],
        save: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Response:
        summarize = _flag(req, "summarizeErrors", True)
        req.state["objects"] = len(elements)  # the latency mode's per-object part
        results: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for element in elements:
            if not isinstance(element, dict):
                echo = _echo(kind, {}, ["The element is not a valid object."])  # (U)
                failed.append(echo)
                results.append({**echo, "StatusAttributeString": "ERROR"})
                continue
            try:
                saved = save(element)
            except Invalid as exc:
                echo = _echo(kind, element, exc.messages)
                failed.append(echo)
                results.append({**echo, "StatusAttributeString": "ERROR"})
            else:
                out = dict(saved)
                if not summarize:
                    out["StatusAttributeString"] = "OK"
                results.append(out)
        if failed and summarize:
            return validation_error(failed)
        return Response.json(200, self.p.envelope(req, kind, results))

    def query(
        self,
        req: Request,
        org: Org,
        kind: str,
        extra: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Response:
        refused = self._high_volume(req, org, kind)
        if refused is not None:
            return refused
        items = list(org.data[kind].values())
        ims = req.headers.get("If-Modified-Since")
        if ims:
            try:
                since = parse_if_modified_since(ims)
            except DateFormatError:
                since = None  # Xero ignores an unparseable header (U)
            if since is not None:
                items = [o for o in items if org.updated_since(o, since)]
        ids = _arg(req, "IDs")
        if ids:
            wanted = {i.strip().lower() for i in ids.split(",") if i.strip()}
            items = [o for o in items if str(o[ID_FIELD[kind]]).lower() in wanted]
        if extra is not None:
            items = [o for o in items if extra(o)]
        fields: set[str] = set(EXTRA_FIELDS.get(kind, set()))
        for o in items[:50]:
            fields.update(k.lower() for k in o)
        where = _arg(req, "where")
        if where:
            pred = compile_where(where, TYPE_NAME.get(kind, kind), fields)
            items = [o for o in items if pred(o)]
        items = apply_order(items, _arg(req, "order"), TYPE_NAME.get(kind, kind), fields)
        page_raw = _arg(req, "page")
        pagination = None
        if kind in PAGED and page_raw is not None:
            try:
                page = max(1, int(page_raw))
            except ValueError:
                page = 1
            try:
                size = int(_arg(req, "pageSize") or 100)
            except ValueError:
                size = 100
            size = min(max(1, size), MAX_PAGE_SIZE)
            count = len(items)
            pagination = {
                "page": page,
                "pageSize": size,
                "pageCount": math.ceil(count / size) if count else 0,
                "itemCount": count,
            }
            items = items[(page - 1) * size : page * size]
        elif kind == "Invoices":
            items = [{**o, "LineItems": []} for o in items]
        return Response.json(200, self.p.envelope(req, kind, items, pagination))

    def _high_volume(self, req: Request, org: Org, kind: str) -> Response | None:
        """HighVolumeException for an inefficient list of a very large organisation (see
        the module docstring), when the company's `high_volume` mode is on."""
        if kind not in PAGED or self.p.mode(org.tenant_id, "high_volume") != "on":
            return None
        if len(org.data[kind]) <= int(self.p.mode(org.tenant_id, "high_volume_threshold")):
            return None
        where = re.sub(r'"[^"]*"', '""', _arg(req, "where") or "")
        has_or = bool(re.search(r"\|\||\bOR\b", where, re.IGNORECASE))
        unpaged = _arg(req, "page") is None and not _arg(req, "IDs")
        if not (has_or or unpaged):
            return None
        one = TYPE_NAME.get(kind, kind)
        return xero_error(
            51,
            "HighVolumeException",
            f"Your request is not filtering {kind} efficiently, given the extremely high "
            "volume for this organisation. Please check https://developer.xero.com/"
            f"documentation/api/efficient-data-retrieval for tips on making {one} retrieval "
            "more efficient.",
        )

    def one(self, req: Request, kind: str, obj: dict[str, Any]) -> Response:
        return Response.json(200, self.p.envelope(req, kind, [obj]))

    # -- organisation --------------------------------------------------------------------

    def get_organisation(self, req: Request, org: Org) -> Response:
        return Response.json(200, self.p.envelope(req, "Organisations", [org.organisation()]))

    # -- contacts ------------------------------------------------------------------------

    def get_contacts(self, req: Request, org: Org) -> Response:
        include_archived = _flag(req, "includeArchived", False)
        term = (_arg(req, "searchTerm") or "").strip().lower()

        def keep(c: dict[str, Any]) -> bool:
            if c["ContactStatus"] == "ARCHIVED" and not include_archived and not _arg(req, "IDs"):
                return False
            if term:
                hay = " ".join(
                    str(c.get(f) or "")
                    for f in (
                        "Name",
                        "FirstName",
                        "LastName",
                        "ContactNumber",
                        "EmailAddress",
                        "CompanyNumber",
                    )
                ).lower()
                return term in hay
            return True

        return self.query(req, org, "Contacts", keep)

    def _by_id_or(self, org: Org, kind: str, key: str, alt: str) -> dict[str, Any]:
        try:
            return org.get(kind, key)
        except NotFound:
            found = org.find(kind, lambda o: str(o.get(alt) or "") == key)
            if found is None:
                raise
            return found

    def get_contact(self, req: Request, org: Org) -> Response:
        c = self._by_id_or(org, "Contacts", req.path_params["id"], "ContactNumber")
        return self.one(req, "Contacts", c)

    def put_contacts(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "Contacts",
            self.body_elements(req, "Contacts"),
            lambda e: org.save_contact(e, "create"),
        )

    def post_contacts(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "Contacts",
            self.body_elements(req, "Contacts"),
            lambda e: org.save_contact(e, "upsert"),
        )

    def post_contact(self, req: Request, org: Org) -> Response:
        target = self._by_id_or(org, "Contacts", req.path_params["id"], "ContactNumber")
        return self.write_many(
            req,
            "Contacts",
            self.body_elements(req, "Contacts"),
            lambda e: org.save_contact(e, "update", target["ContactID"]),
        )

    # -- items ---------------------------------------------------------------------------

    def get_items(self, req: Request, org: Org) -> Response:
        return self.query(req, org, "Items")

    def get_item(self, req: Request, org: Org) -> Response:
        return self.one(req, "Items", self._by_id_or(org, "Items", req.path_params["id"], "Code"))

    def put_items(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req, "Items", self.body_elements(req, "Items"), lambda e: org.save_item(e, "create")
        )

    def post_items(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req, "Items", self.body_elements(req, "Items"), lambda e: org.save_item(e, "upsert")
        )

    def post_item(self, req: Request, org: Org) -> Response:
        target = self._by_id_or(org, "Items", req.path_params["id"], "Code")
        return self.write_many(
            req,
            "Items",
            self.body_elements(req, "Items"),
            lambda e: org.save_item(e, "update", target["ItemID"]),
        )

    # -- settings ------------------------------------------------------------------------

    def get_tax_rates(self, req: Request, org: Org) -> Response:
        tax_type = _arg(req, "TaxType")
        return self.query(
            req, org, "TaxRates", (lambda t: t["TaxType"] == tax_type) if tax_type else None
        )

    def put_tax_rates(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "TaxRates",
            self.body_elements(req, "TaxRates"),
            lambda e: org.save_tax_rate(e, create=True),
        )

    def post_tax_rates(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "TaxRates",
            self.body_elements(req, "TaxRates"),
            lambda e: org.save_tax_rate(e, create=False),
        )

    def get_accounts(self, req: Request, org: Org) -> Response:
        return self.query(req, org, "Accounts")

    def get_account(self, req: Request, org: Org) -> Response:
        return self.one(req, "Accounts", org.get("Accounts", req.path_params["id"]))

    def put_account(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req, "Accounts", self.body_elements(req, "Accounts")[:1], lambda e: org.save_account(e)
        )

    def post_account(self, req: Request, org: Org) -> Response:
        target = org.get("Accounts", req.path_params["id"])
        return self.write_many(
            req,
            "Accounts",
            self.body_elements(req, "Accounts")[:1],
            lambda e: org.save_account(e, target["AccountID"]),
        )

    def get_tracking_categories(self, req: Request, org: Org) -> Response:
        include_archived = _flag(req, "includeArchived", False)
        return self.query(
            req,
            org,
            "TrackingCategories",
            lambda t: t["Status"] == "ACTIVE" or (include_archived and t["Status"] == "ARCHIVED"),
        )

    def get_tracking_category(self, req: Request, org: Org) -> Response:
        return self.one(
            req, "TrackingCategories", org.get("TrackingCategories", req.path_params["id"])
        )

    def put_tracking_category(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "TrackingCategories",
            self.body_elements(req, "TrackingCategories")[:1],
            lambda e: org.save_tracking_category(e),
        )

    def post_tracking_category(self, req: Request, org: Org) -> Response:
        target = org.get("TrackingCategories", req.path_params["id"])
        return self.write_many(
            req,
            "TrackingCategories",
            self.body_elements(req, "TrackingCategories")[:1],
            lambda e: org.save_tracking_category(e, target["TrackingCategoryID"]),
        )

    def put_tracking_options(self, req: Request, org: Org) -> Response:
        cat = org.get("TrackingCategories", req.path_params["id"])
        return self.write_many(
            req,
            "Options",
            self.body_elements(req, "Options"),
            lambda e: org.add_tracking_option(cat["TrackingCategoryID"], e),
        )

    # -- invoices ------------------------------------------------------------------------

    def get_invoices(self, req: Request, org: Org) -> Response:
        statuses = {
            s.strip().upper() for s in (_arg(req, "Statuses") or "").split(",") if s.strip()
        }
        contact_ids = {
            s.strip().lower() for s in (_arg(req, "ContactIDs") or "").split(",") if s.strip()
        }
        numbers = {s.strip() for s in (_arg(req, "InvoiceNumbers") or "").split(",") if s.strip()}
        term = (_arg(req, "searchTerm") or "").strip().lower()

        def keep(i: dict[str, Any]) -> bool:
            if statuses and i["Status"] not in statuses:
                return False
            if contact_ids and i["Contact"]["ContactID"].lower() not in contact_ids:
                return False
            if numbers and i.get("InvoiceNumber") not in numbers:
                return False
            if term:
                hay = f"{i.get('InvoiceNumber') or ''} {i.get('Reference') or ''}".lower()
                return term in hay
            return True

        return self.query(req, org, "Invoices", keep)

    def get_invoice(self, req: Request, org: Org) -> Response:
        inv = self._by_id_or(org, "Invoices", req.path_params["id"], "InvoiceNumber")
        return self.one(req, "Invoices", inv)

    def put_invoices(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "Invoices",
            self.body_elements(req, "Invoices"),
            lambda e: org.save_invoice(e, "create"),
        )

    def post_invoices(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "Invoices",
            self.body_elements(req, "Invoices"),
            lambda e: org.save_invoice(e, "upsert"),
        )

    def post_invoice(self, req: Request, org: Org) -> Response:
        target = self._by_id_or(org, "Invoices", req.path_params["id"], "InvoiceNumber")
        return self.write_many(
            req,
            "Invoices",
            self.body_elements(req, "Invoices"),
            lambda e: org.save_invoice(e, "update", target["InvoiceID"]),
        )

    def email_invoice(self, req: Request, org: Org) -> Response:
        try:
            org.email_invoice(req.path_params["id"])
        except Invalid as exc:
            inv = org.get("Invoices", req.path_params["id"])
            return validation_error(
                [_echo("Invoices", {"InvoiceID": inv["InvoiceID"]}, exc.messages)]
            )
        return Response.empty(204)

    # -- payments ------------------------------------------------------------------------

    def get_payments(self, req: Request, org: Org) -> Response:
        return self.query(req, org, "Payments")

    def get_payment(self, req: Request, org: Org) -> Response:
        return self.one(req, "Payments", org.get("Payments", req.path_params["id"]))

    def put_payments(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req, "Payments", self.body_elements(req, "Payments"), org.save_payment
        )

    def post_payment(self, req: Request, org: Org) -> Response:
        target = org.get("Payments", req.path_params["id"])
        return self.write_many(
            req,
            "Payments",
            self.body_elements(req, "Payments")[:1],
            lambda e: org.update_payment(target["PaymentID"], e),
        )

    # -- batch payments ------------------------------------------------------------------

    def get_batch_payments(self, req: Request, org: Org) -> Response:
        return self.query(req, org, "BatchPayments")

    def get_batch_payment(self, req: Request, org: Org) -> Response:
        return self.one(req, "BatchPayments", org.get("BatchPayments", req.path_params["id"]))

    def put_batch_payments(self, req: Request, org: Org) -> Response:
        return self.write_many(
            req,
            "BatchPayments",
            self.body_elements(req, "BatchPayments"),
            org.save_batch_payment,
        )


def register_accounting(router: Router, p: XeroProvider) -> None:
    a = Accounting(p)

    def add(method: str, path: str, handler: Callable[[Request, Org], Response]) -> None:
        router.add(method, BASE + path, a.wrap(handler), auth=True, ci=True)

    add("GET", "/Organisation", a.get_organisation)
    add("GET", "/Contacts", a.get_contacts)
    add("PUT", "/Contacts", a.put_contacts)
    add("POST", "/Contacts", a.post_contacts)
    add("GET", "/Contacts/{id}", a.get_contact)
    add("POST", "/Contacts/{id}", a.post_contact)
    add("GET", "/Items", a.get_items)
    add("PUT", "/Items", a.put_items)
    add("POST", "/Items", a.post_items)
    add("GET", "/Items/{id}", a.get_item)
    add("POST", "/Items/{id}", a.post_item)
    add("GET", "/TaxRates", a.get_tax_rates)
    add("PUT", "/TaxRates", a.put_tax_rates)
    add("POST", "/TaxRates", a.post_tax_rates)
    add("GET", "/Accounts", a.get_accounts)
    add("PUT", "/Accounts", a.put_account)
    add("GET", "/Accounts/{id}", a.get_account)
    add("POST", "/Accounts/{id}", a.post_account)
    add("GET", "/TrackingCategories", a.get_tracking_categories)
    add("PUT", "/TrackingCategories", a.put_tracking_category)
    add("GET", "/TrackingCategories/{id}", a.get_tracking_category)
    add("POST", "/TrackingCategories/{id}", a.post_tracking_category)
    add("PUT", "/TrackingCategories/{id}/Options", a.put_tracking_options)
    add("GET", "/Invoices", a.get_invoices)
    add("PUT", "/Invoices", a.put_invoices)
    add("POST", "/Invoices", a.post_invoices)
    add("GET", "/Invoices/{id}", a.get_invoice)
    add("POST", "/Invoices/{id}", a.post_invoice)
    add("POST", "/Invoices/{id}/Email", a.email_invoice)
    add("GET", "/Payments", a.get_payments)
    add("PUT", "/Payments", a.put_payments)
    add("POST", "/Payments", a.put_payments)
    add("GET", "/Payments/{id}", a.get_payment)
    add("POST", "/Payments/{id}", a.post_payment)
    add("GET", "/BatchPayments", a.get_batch_payments)
    add("PUT", "/BatchPayments", a.put_batch_payments)
    add("GET", "/BatchPayments/{id}", a.get_batch_payment)
