"""One Xero organisation's data and the Accounting API's business rules, without HTTP.

Objects are stored in their wire shape (the JSON the API answers), so `list_objects`,
snapshots and responses agree. Every write goes through `Org.save_*`, which validates the
way Xero does and returns the Xero validation messages; the HTTP layer only wraps them in
the `ValidationException` or `summarizeErrors=false` envelope.

Sources for the rules and the wording (quoted messages are Xero's own):
- Xero-OpenAPI `xero_accounting.yaml` schemas Contact, Item, TrackingCategory, Account,
  TaxRate, Invoice, LineItem, Payment, Organisation (field names, enums, read-only fields).
- "The contact name X is already assigned to another contact. The contact name must be
  unique across all active contacts." (developer.xero.com/documentation/api/accounting/
  contacts; quoted in public client code handling the 400, e.g. findOrCreateXeroContact).
- "Invoice # must be unique." (ACCREC only; ACCPAY numbers are the supplier's and may
  repeat), "Payment amount exceeds the amount outstanding on this document",
  "Payments can only be made against Authorised documents",
  "Account code 'X' is not a valid code for this document." (developer.xero.com
  invoices/payments pages; PROVIDERS.md 3.3).
- IsCustomer/IsSupplier are read-only and set by AR/AP invoices, and such changes do not
  bump the contact's UpdatedDateUTC (developer.xero.com contacts page; PROVIDERS.md 3.2).
- Lock dates (see `lock_messages`), tax rates with components (`save_tax_rate`), the edit
  rules of paid invoices and batch payments are documented where they are implemented.
- Messages marked (U) are plausible wording not confirmed in a public source.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .dates import DateFormatError, iso_string, ms_date, parse_date, parse_datetime

KINDS = (
    "Contacts",
    "Items",
    "TrackingCategories",
    "TaxRates",
    "Accounts",
    "Invoices",
    "Payments",
    "BatchPayments",
    "Employees",
    "LeaveTypes",
    "EmployeeLeave",  # Payroll UK leave, each stored with its `employeeID` (payroll.py)
)

ID_FIELD = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "TrackingCategories": "TrackingCategoryID",
    "TaxRates": "TaxType",
    "Accounts": "AccountID",
    "Invoices": "InvoiceID",
    "Payments": "PaymentID",
    "BatchPayments": "BatchPaymentID",
    "Employees": "employeeID",
    "LeaveTypes": "leaveTypeID",
    "EmployeeLeave": "leaveID",
}

TYPE_NAME = {
    "Contacts": "Contact",
    "Items": "Item",
    "TrackingCategories": "TrackingCategory",
    "TaxRates": "TaxRate",
    "Accounts": "Account",
    "Invoices": "Invoice",
    "Payments": "Payment",
    "BatchPayments": "BatchPayment",
}

INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
LINE_AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
ACCOUNT_TYPES = (
    "BANK",
    "CURRENT",
    "CURRLIAB",
    "DEPRECIATN",
    "DIRECTCOSTS",
    "EQUITY",
    "EXPENSE",
    "FIXED",
    "INVENTORY",
    "LIABILITY",
    "NONCURRENT",
    "OTHERINCOME",
    "OVERHEADS",
    "PREPAYMENT",
    "REVENUE",
    "SALES",
    "TERMLIAB",
)
ACCOUNT_CLASS = {
    "BANK": "ASSET",
    "CURRENT": "ASSET",
    "FIXED": "ASSET",
    "INVENTORY": "ASSET",
    "NONCURRENT": "ASSET",
    "PREPAYMENT": "ASSET",
    "CURRLIAB": "LIABILITY",
    "LIABILITY": "LIABILITY",
    "TERMLIAB": "LIABILITY",
    "EQUITY": "EQUITY",
    "DEPRECIATN": "EXPENSE",
    "DIRECTCOSTS": "EXPENSE",
    "EXPENSE": "EXPENSE",
    "OVERHEADS": "EXPENSE",
    "OTHERINCOME": "REVENUE",
    "REVENUE": "REVENUE",
    "SALES": "REVENUE",
}

CENT = Decimal("0.01")

# What `PATCH /_sim/companies/{id}/objects/Organisation/{id}` may set (Org.set_lock_dates)
LOCK_FIELDS = ("PeriodLockDate", "EndOfYearLockDate", "PayrollPaidUpTo")

# Defaults of the modes the model reads (provider.MODES declares them with doc and source);
# `Org.mode_of` answers the company's value once the provider has wired it.
MODE_DEFAULTS: dict[str, Any] = {
    "lock_user_role": "standard",
    "payment_touches_invoice": "yes",
    "future_payment": "allow",
}


def new_id() -> str:
    return str(uuid.uuid4())


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def num(value: Decimal) -> float | int:
    """A JSON number for an amount (Xero prints 2 dp; JSON drops the trailing zeros)."""
    return float(value)


APPLIES_TO = {
    "REVENUE": "CanApplyToRevenue",
    "EXPENSE": "CanApplyToExpenses",
    "ASSET": "CanApplyToAssets",
    "LIABILITY": "CanApplyToLiabilities",
    "EQUITY": "CanApplyToEquity",
}


def _applies(rate: dict[str, Any], account: dict[str, Any]) -> bool:
    """A rate's CanApplyTo* flag for the account's class (Xero-OpenAPI TaxRate)."""
    flag = APPLIES_TO.get(str(account.get("Class") or ""))
    return flag is None or bool(rate.get(flag, True))


def _dmy(iso: str) -> str:
    """31-Jul-2013, the form Xero prints lock dates in (xeroizer #92)."""
    return date.fromisoformat(iso).strftime("%d-%b-%Y")


def get_ci(obj: dict[str, Any], name: str, default: Any = None) -> Any:
    """A request field, ignoring case (Xero's deserialiser is case-insensitive)."""
    if name in obj:
        return obj[name]
    low = name.lower()
    for key, value in obj.items():
        if key.lower() == low:
            return value
    return default


def has_ci(obj: dict[str, Any], name: str) -> bool:
    low = name.lower()
    return any(k.lower() == low for k in obj)


class Invalid(Exception):
    """A write Xero rejects; `messages` are its ValidationErrors."""

    def __init__(self, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class NotFound(Exception):
    """An id that does not exist in this organisation (HTTP 404)."""


Event = tuple[str, str, str]  # (eventCategory CONTACT|INVOICE, eventType CREATE|UPDATE, id)


class Org:
    """One organisation (a Xero tenant). `now` is called for every timestamp."""

    def __init__(self, tenant_id: str, name: str, now: Callable[[], datetime]) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.now = now
        self.created = now()
        self.short_code = "!" + tenant_id.replace("-", "")[:5].upper()
        self.data: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self.invoice_seq = 0
        self.tax_seq = 0
        # PayrollPaidUpTo: the last day of the last posted Payroll UK pay run (payroll.py)
        self.lock_dates: dict[str, str | None] = {
            "PeriodLockDate": None,
            "EndOfYearLockDate": None,
            "PayrollPaidUpTo": None,
        }
        self.events: list[Event] = []
        self.mode_of: Callable[[str], Any] = MODE_DEFAULTS.__getitem__

    # -- snapshot ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "created": self.created.isoformat(),
            "short_code": self.short_code,
            "data": self.data,
            "invoice_seq": self.invoice_seq,
            "tax_seq": self.tax_seq,
            "lock_dates": dict(self.lock_dates),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], now: Callable[[], datetime]) -> Org:
        org = cls(d["tenant_id"], d["name"], now)
        org.created = datetime.fromisoformat(d["created"])
        org.short_code = d["short_code"]
        org.data = {k: dict(d["data"].get(k, {})) for k in KINDS}
        org.invoice_seq = d.get("invoice_seq", 0)
        org.tax_seq = d.get("tax_seq", 0)
        org.lock_dates.update(d.get("lock_dates") or {})
        return org

    # -- helpers -------------------------------------------------------------------------

    def stamp(self) -> str:
        return ms_date(self.now())

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        table = self.data[kind]
        if object_id in table:
            return table[object_id]
        low = object_id.lower()
        for key, value in table.items():
            if key.lower() == low:
                return value
        raise NotFound(object_id)

    def find(self, kind: str, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        for obj in self.data[kind].values():
            if pred(obj):
                return obj
        return None

    def account_by(self, code: str | None = None, account_id: str | None = None) -> Any:
        if account_id:
            try:
                return self.get("Accounts", account_id)
            except NotFound:
                return None
        if code is not None:
            return self.find(
                "Accounts",
                lambda a: str(a.get("Code") or "") == str(code) and a["Status"] != "DELETED",
            )
        return None

    def tax_rate(self, tax_type: str | None) -> dict[str, Any] | None:
        if not tax_type:
            return None
        return self.data["TaxRates"].get(tax_type)

    def emit(self, category: str, event_type: str, object_id: str) -> None:
        self.events.append((category, event_type, object_id))

    def take_events(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    # -- organisation --------------------------------------------------------------------

    def organisation(self) -> dict[str, Any]:
        """The `Organisation` object (Xero-OpenAPI schema Organisation); a UK demo company."""
        return {
            "OrganisationID": self.tenant_id,
            "APIKey": self.tenant_id.replace("-", "")[:30].upper(),
            "Name": self.name,
            "LegalName": self.name,
            "PaysTax": True,
            "Version": "UK",
            "OrganisationType": "COMPANY",
            "BaseCurrency": "GBP",
            "CountryCode": "GB",
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "TaxNumber": "GB123456789",
            "FinancialYearEndDay": 31,
            "FinancialYearEndMonth": 3,
            "SalesTaxBasis": "ACCRUALS",
            "SalesTaxPeriod": "QUARTERLY1",
            "DefaultSalesTax": "Tax Exclusive",
            "DefaultPurchasesTax": "Tax Exclusive",
            "CreatedDateUTC": ms_date(self.created),
            "OrganisationEntityType": "COMPANY",
            "Timezone": "GMTSTANDARDTIME",
            "ShortCode": self.short_code,
            "OrganisationID_": None,
            "Edition": "BUSINESS",
            "Class": "PREMIUM",
            "LineOfBusiness": "Professional services",
            "Addresses": [],
            "Phones": [],
            "ExternalLinks": [],
            "PaymentTerms": {},
            # "Shown if set" (Xero-OpenAPI Organisation.PeriodLockDate / EndOfYearLockDate)
            "PeriodLockDate": self._lock_ms("PeriodLockDate"),
            "EndOfYearLockDate": self._lock_ms("EndOfYearLockDate"),
        }

    # -- lock dates ----------------------------------------------------------------------

    def _lock_ms(self, name: str) -> str | None:
        value = self.lock_dates.get(name)
        return ms_date(date.fromisoformat(value)) if value else None

    def set_lock_dates(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Lock dates as an adviser sets them in Accounting > Advanced > Financial settings
        (help.xero.com Settings_LockDate): either date may be set, moved or cleared (null or
        ""). The API has no write for them; the `/_sim` route is the person's screen.
        `PayrollPaidUpTo` stands for posting Payroll UK pay runs up to that day (payroll.py:
        leave in a paid pay period is fixed); it is not part of the Organisation."""
        changes: dict[str, str | None] = {}
        for name in LOCK_FIELDS:
            if not has_ci(fields, name):
                continue
            raw = get_ci(fields, name)
            if raw in (None, ""):
                changes[name] = None
                continue
            try:
                changes[name] = parse_date(str(raw)).isoformat()
            except DateFormatError as exc:
                raise Invalid(f"{name}: the date format is not valid.") from exc  # (U)
        unknown = [k for k in fields if k.lower() not in {n.lower() for n in LOCK_FIELDS}]
        if unknown:
            raise Invalid(f"Only {', '.join(LOCK_FIELDS)} can be set: {unknown}")
        self.lock_dates.update(changes)
        return self.organisation()

    def lock_messages(self, *dates: date | None) -> list[str]:
        """Xero's refusal for a posted document (or payment) dated on or before a lock date.

        - Two dates (help.xero.com Settings_LockDate; help.dext.com 105721): the period lock
          date "stops all users except advisers", the end of year (adviser) lock date "stops
          all users, including advisers", from changes "on or before the set date". Which
          role the connecting user has decides whether the period lock binds an app
          (wise-sync FAQ 36000041312: an app connected by an adviser "will still be able to
          post to a closed period"): mode `lock_user_role` (`standard` | `adviser`).
        - Wording: "The document date cannot be before the end of year lock date, currently
          set at 31-Jul-2013" (waynerobinson/xeroizer #92, a ValidationError); "The document
          date cannot be before the period lock date" (chargebee kb how-to-check-the-lock-date-
          in-xero; public client code matching on it), ", currently set at ..." by analogy.
        - Drafts and submitted documents may still be saved in a locked period (help.xero.com:
          "Users can still create draft invoices ... and submit these items for approval").
        """
        out: list[str] = []
        eoy = self.lock_dates.get("EndOfYearLockDate")
        period = self.lock_dates.get("PeriodLockDate")
        adviser = self.mode_of("lock_user_role") == "adviser"
        for d in dates:
            if d is None:
                continue
            if eoy and d <= date.fromisoformat(eoy):
                msg = (
                    "The document date cannot be before the end of year lock date, currently "
                    f"set at {_dmy(eoy)}"
                )
            elif period and not adviser and d <= date.fromisoformat(period):
                msg = (
                    "The document date cannot be before the period lock date, currently set "
                    f"at {_dmy(period)}"
                )
            else:
                continue
            if msg not in out:
                out.append(msg)
        return out

    # -- contacts ------------------------------------------------------------------------

    def _contact_name_taken(self, name: str, except_id: str | None) -> bool:
        low = name.strip().lower()
        return any(
            c["ContactStatus"] == "ACTIVE"
            and c["Name"].strip().lower() == low
            and c["ContactID"] != except_id
            for c in self.data["Contacts"].values()
        )

    def save_contact(
        self, body: dict[str, Any], mode: str, object_id: str | None = None
    ) -> dict[str, Any]:
        """Create (`mode` "create"), update ("update"), or either ("upsert": POST)."""
        cid = object_id or get_ci(body, "ContactID")
        existing: dict[str, Any] | None = None
        if cid:
            if mode == "create":
                raise Invalid("A new contact cannot be created with a ContactID.")  # (U)
            try:
                existing = self.get("Contacts", str(cid))
            except NotFound as exc:
                if object_id:
                    raise
                raise Invalid("The contact could not be found.") from exc  # (U)
        elif mode == "upsert" and get_ci(body, "Name"):
            # POST without an id but with the name of an active contact updates it (2nd)
            name = str(get_ci(body, "Name")).strip().lower()
            existing = self.find(
                "Contacts",
                lambda c: c["ContactStatus"] == "ACTIVE" and c["Name"].strip().lower() == name,
            )
        elif mode == "upsert" and get_ci(body, "ContactNumber"):
            number = str(get_ci(body, "ContactNumber"))
            existing = self.find("Contacts", lambda c: c.get("ContactNumber") == number)
        errors: list[str] = []
        name = get_ci(body, "Name", existing["Name"] if existing else None)
        if name is None or not str(name).strip():
            errors.append("The contact name must be specified.")  # (U)
            name = ""
        name = str(name)
        if len(name) > 255:
            errors.append("The contact name must be 255 characters or less.")  # (U)
        status = str(
            get_ci(body, "ContactStatus", existing["ContactStatus"] if existing else "ACTIVE")
        ).upper()
        if status not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
            errors.append(f"'{status}' is not a valid ContactStatus.")  # (U)
        if (
            name
            and status == "ACTIVE"
            and self._contact_name_taken(name, existing["ContactID"] if existing else None)
        ):
            errors.append(
                f"The contact name {name} is already assigned to another contact. "
                "The contact name must be unique across all active contacts."
            )
        number = get_ci(body, "ContactNumber")
        if number:
            other = self.find(
                "Contacts",
                lambda c: (
                    c.get("ContactNumber") == str(number)
                    and (existing is None or c["ContactID"] != existing["ContactID"])
                ),
            )
            if other is not None:
                # wording seen in public client code handling the 400 (2nd)
                errors.append(
                    f"The contact number {number} is already assigned to another contact."
                )
            if len(str(number)) > 50:
                errors.append("The contact number must be 50 characters or less.")  # (U)
        email = get_ci(body, "EmailAddress")
        if email and ("@" not in str(email) or "." not in str(email).split("@")[-1]):
            errors.append("Email address must be valid.")
        if errors:
            raise Invalid(*errors)
        now = self.stamp()
        if existing is None:
            contact: dict[str, Any] = {
                "ContactID": new_id(),
                "ContactNumber": None,
                "AccountNumber": None,
                "ContactStatus": "ACTIVE",
                "Name": name,
                "FirstName": None,
                "LastName": None,
                "EmailAddress": None,
                "BankAccountDetails": "",
                "TaxNumber": None,
                "Addresses": [
                    {"AddressType": "STREET"},
                    {"AddressType": "POBOX"},
                ],
                "Phones": [
                    {"PhoneType": "DEFAULT"},
                    {"PhoneType": "DDI"},
                    {"PhoneType": "FAX"},
                    {"PhoneType": "MOBILE"},
                ],
                "UpdatedDateUTC": now,
                "ContactGroups": [],
                "IsSupplier": False,
                "IsCustomer": False,
                "DefaultCurrency": None,
                "ContactPersons": [],
                "HasAttachments": False,
                "HasValidationErrors": False,
            }
            event = "CREATE"
        else:
            contact = existing
            event = "UPDATE"
        for field in (
            "Name",
            "FirstName",
            "LastName",
            "EmailAddress",
            "ContactNumber",
            "AccountNumber",
            "TaxNumber",
            "BankAccountDetails",
            "DefaultCurrency",
            "Addresses",
            "Phones",
            "ContactPersons",
        ):
            if has_ci(body, field):
                contact[field] = get_ci(body, field)
        contact["Name"] = name
        contact["ContactStatus"] = status
        contact["UpdatedDateUTC"] = now
        self.data["Contacts"][contact["ContactID"]] = contact
        self.emit("CONTACT", event, contact["ContactID"])
        return contact

    def contact_summary(self, contact: dict[str, Any]) -> dict[str, Any]:
        """The contact as embedded in an invoice or payment."""
        return {
            "ContactID": contact["ContactID"],
            "ContactNumber": contact.get("ContactNumber"),
            "ContactStatus": contact["ContactStatus"],
            "Name": contact["Name"],
            "EmailAddress": contact.get("EmailAddress"),
            "Addresses": contact.get("Addresses", []),
            "Phones": contact.get("Phones", []),
            "UpdatedDateUTC": contact["UpdatedDateUTC"],
            "ContactGroups": [],
            "IsSupplier": contact["IsSupplier"],
            "IsCustomer": contact["IsCustomer"],
            "ContactPersons": [],
            "HasValidationErrors": False,
        }

    # -- items ---------------------------------------------------------------------------

    def save_item(
        self, body: dict[str, Any], mode: str, object_id: str | None = None
    ) -> dict[str, Any]:
        iid = object_id or get_ci(body, "ItemID")
        existing: dict[str, Any] | None = None
        if iid:
            try:
                existing = self.get("Items", str(iid))
            except NotFound as exc:
                if object_id:
                    raise
                raise Invalid("Item could not be found.") from exc  # (U)
        elif mode == "upsert" and get_ci(body, "Code"):
            code = str(get_ci(body, "Code"))
            existing = self.find("Items", lambda i: i["Code"] == code)
        errors: list[str] = []
        code = get_ci(body, "Code", existing["Code"] if existing else None)
        if not code:
            errors.append("Item code must be specified.")  # (U)
        elif len(str(code)) > 30:
            errors.append("The item code must be 30 characters or less.")  # (U)
        elif self.find(
            "Items",
            lambda i: (
                i["Code"] == str(code) and (existing is None or i["ItemID"] != existing["ItemID"])
            ),
        ):
            errors.append(f"Item code '{code}' already exists.")  # (U)
        name = get_ci(body, "Name", existing["Name"] if existing else None)
        if name and len(str(name)) > 50:
            errors.append("The item name must be 50 characters or less.")  # (U)
        for details in ("SalesDetails", "PurchaseDetails"):
            d = get_ci(body, details) or {}
            acct = get_ci(d, "AccountCode")
            if acct and self.account_by(code=acct) is None:
                errors.append(f"Account code '{acct}' is not a valid code.")  # (U)
        if errors:
            raise Invalid(*errors)
        item = existing or {
            "ItemID": new_id(),
            "Code": str(code),
            "Name": None,
            "Description": None,
            "PurchaseDescription": None,
            "IsSold": True,
            "IsPurchased": True,
            "IsTrackedAsInventory": False,
            "SalesDetails": {},
            "PurchaseDetails": {},
        }
        for field in (
            "Code",
            "Name",
            "Description",
            "PurchaseDescription",
            "IsSold",
            "IsPurchased",
            "SalesDetails",
            "PurchaseDetails",
            "InventoryAssetAccountCode",
        ):
            if has_ci(body, field):
                item[field] = get_ci(body, field)
        item["Code"] = str(code)
        # IsTrackedAsInventory iff an inventory asset account and a COGS account are given
        item["IsTrackedAsInventory"] = bool(
            item.get("InventoryAssetAccountCode")
            and (item.get("PurchaseDetails") or {}).get("COGSAccountCode")
        )
        item["UpdatedDateUTC"] = self.stamp()
        self.data["Items"][item["ItemID"]] = item
        return item

    # -- tracking ------------------------------------------------------------------------

    def save_tracking_category(
        self, body: dict[str, Any], object_id: str | None = None
    ) -> dict[str, Any]:
        existing = self.get("TrackingCategories", object_id) if object_id else None
        name = get_ci(body, "Name", existing["Name"] if existing else None)
        status = str(get_ci(body, "Status", existing["Status"] if existing else "ACTIVE"))
        errors = []
        if not name:
            errors.append("Tracking Category Name is required.")  # (U)
        elif len(str(name)) > 100:
            errors.append("Tracking Category Name must be 100 characters or less.")  # (U)
        elif self.find(
            "TrackingCategories",
            lambda t: (
                t["Name"].lower() == str(name).lower()
                and t["Status"] != "DELETED"
                and (existing is None or t["TrackingCategoryID"] != existing["TrackingCategoryID"])
            ),
        ):
            errors.append("The tracking category name must be unique.")  # (U)
        active = [
            t
            for t in self.data["TrackingCategories"].values()
            if t["Status"] == "ACTIVE" and (existing is None or t is not existing)
        ]
        if status == "ACTIVE" and len(active) >= 2:
            # an organisation has at most two active tracking categories (U for wording)
            errors.append("You can only have 2 active tracking categories.")
        if errors:
            raise Invalid(*errors)
        cat = existing or {"TrackingCategoryID": new_id(), "Options": []}
        cat["Name"] = str(name)
        cat["Status"] = status
        self.data["TrackingCategories"][cat["TrackingCategoryID"]] = cat
        return cat

    def add_tracking_option(self, category_id: str, body: dict[str, Any]) -> dict[str, Any]:
        cat = self.get("TrackingCategories", category_id)
        name = get_ci(body, "Name")
        if not name:
            raise Invalid("Tracking Option Name is required.")  # (U)
        if any(o["Name"].lower() == str(name).lower() for o in cat["Options"]):
            raise Invalid("The tracking option name must be unique.")  # (U)
        option = {
            "TrackingOptionID": new_id(),
            "Name": str(name),
            "Status": "ACTIVE",
            "HasValidationErrors": False,
        }
        cat["Options"].append(option)
        return option

    # -- accounts ------------------------------------------------------------------------

    def save_account(self, body: dict[str, Any], object_id: str | None = None) -> dict[str, Any]:
        existing = self.get("Accounts", object_id) if object_id else None
        errors = []
        code = get_ci(body, "Code", existing.get("Code") if existing else None)
        acc_type = str(get_ci(body, "Type", existing["Type"] if existing else "") or "").upper()
        name = get_ci(body, "Name", existing["Name"] if existing else None)
        if not name:
            errors.append("Please enter a name for this account.")  # (U)
        if acc_type not in ACCOUNT_TYPES:
            errors.append("Please select an account type.")  # (U)
        if code and self.find(
            "Accounts",
            lambda a: (
                a.get("Code") == str(code)
                and (existing is None or a["AccountID"] != existing["AccountID"])
            ),
        ):
            errors.append("Please enter a unique Code.")
        if acc_type == "BANK" and not get_ci(
            body, "BankAccountNumber", existing.get("BankAccountNumber") if existing else None
        ):
            errors.append("Bank account number is required.")  # (U)
        if errors:
            raise Invalid(*errors)
        acc = existing or {
            "AccountID": new_id(),
            "Status": "ACTIVE",
            "SystemAccount": None,
            "HasAttachments": False,
        }
        acc.update(
            {
                "Code": str(code) if code is not None else None,
                "Name": str(name),
                "Type": acc_type,
                "Class": ACCOUNT_CLASS[acc_type],
                "TaxType": get_ci(body, "TaxType", acc.get("TaxType", "NONE")),
                "Description": get_ci(body, "Description", acc.get("Description")),
                "EnablePaymentsToAccount": bool(
                    get_ci(
                        body, "EnablePaymentsToAccount", acc.get("EnablePaymentsToAccount", False)
                    )
                ),
                "ShowInExpenseClaims": bool(
                    get_ci(body, "ShowInExpenseClaims", acc.get("ShowInExpenseClaims", False))
                ),
                "ReportingCode": acc.get("ReportingCode"),
                "UpdatedDateUTC": self.stamp(),
            }
        )
        if acc_type == "BANK":
            acc["BankAccountNumber"] = get_ci(
                body, "BankAccountNumber", acc.get("BankAccountNumber")
            )
            acc["BankAccountType"] = get_ci(
                body, "BankAccountType", acc.get("BankAccountType", "BANK")
            )
            acc["CurrencyCode"] = get_ci(body, "CurrencyCode", acc.get("CurrencyCode", "GBP"))
        if has_ci(body, "Status"):
            acc["Status"] = str(get_ci(body, "Status")).upper()
        self.data["Accounts"][acc["AccountID"]] = acc
        return acc

    # -- invoices ------------------------------------------------------------------------

    def _resolve_contact(self, ref: Any, errors: list[str]) -> dict[str, Any] | None:
        if not isinstance(ref, dict) or not ref:
            errors.append("A Contact must be specified for this type of transaction")  # (U)
            return None
        cid = get_ci(ref, "ContactID")
        if cid:
            try:
                return self.get("Contacts", str(cid))
            except NotFound:
                errors.append("The contact could not be found.")  # (U)
                return None
        number = get_ci(ref, "ContactNumber")
        if number:
            found = self.find("Contacts", lambda c: c.get("ContactNumber") == str(number))
            if found:
                return found
        name = get_ci(ref, "Name")
        if name:
            low = str(name).strip().lower()
            found = self.find(
                "Contacts",
                lambda c: c["ContactStatus"] == "ACTIVE" and c["Name"].strip().lower() == low,
            )
            if found:
                return found
            # Xero creates a contact named on a transaction if none matches
            return self.save_contact(dict(ref), "create")
        errors.append("A Contact must be specified for this type of transaction")  # (U)
        return None

    def _next_invoice_number(self) -> str:
        while True:
            self.invoice_seq += 1
            candidate = f"INV-{self.invoice_seq:04d}"
            if not self._invoice_number_taken(candidate, None):
                return candidate

    def _invoice_number_taken(self, number: str, except_id: str | None) -> bool:
        return any(
            i["Type"] == "ACCREC"
            and i.get("InvoiceNumber") == number
            and i["Status"] != "DELETED"
            and i["InvoiceID"] != except_id
            for i in self.data["Invoices"].values()
        )

    def _lines(
        self, raw_lines: Any, lat: str, inv_type: str, errors: list[str], need_accounts: bool
    ) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        if not isinstance(raw_lines, list):
            return lines
        for raw in raw_lines:
            if not isinstance(raw, dict):
                errors.append("Line items are invalid.")  # (U)
                continue
            line: dict[str, Any] = {"LineItemID": get_ci(raw, "LineItemID") or new_id()}
            item = None
            item_code = get_ci(raw, "ItemCode")
            if item_code:
                item = self.find("Items", lambda i, c=str(item_code): i["Code"] == c)
                if item is None:
                    errors.append(f"Item code '{item_code}' is not valid.")  # (U)
                line["ItemCode"] = str(item_code)
            details: dict[str, Any] = {}
            if item is not None:
                details = (
                    item.get("SalesDetails" if inv_type == "ACCREC" else "PurchaseDetails") or {}
                )
                line["Item"] = {
                    "ItemID": item["ItemID"],
                    "Name": item.get("Name"),
                    "Code": item["Code"],
                }
            desc = get_ci(raw, "Description")
            if desc is None and item is not None:
                desc = item.get("Description")
            if not desc and item is None:
                errors.append("The description field is mandatory for each line item.")
            line["Description"] = desc
            try:
                qty = Decimal(
                    str(get_ci(raw, "Quantity", 1) if get_ci(raw, "Quantity") is not None else 1)
                )
                unit_raw = get_ci(raw, "UnitAmount")
                if unit_raw is None:
                    unit_raw = get_ci(details, "UnitPrice")
                line_amount_raw = get_ci(raw, "LineAmount")
                discount = get_ci(raw, "DiscountRate")
                disc = Decimal(str(discount)) if discount is not None else Decimal(0)
                if unit_raw is None and line_amount_raw is not None and qty:
                    unit = Decimal(str(line_amount_raw)) / qty
                else:
                    unit = Decimal(str(unit_raw if unit_raw is not None else 0))
            except ArithmeticError:
                errors.append("Line item amounts must be numbers.")  # (U)
                continue
            line_amount = money(qty * unit * (Decimal(100) - disc) / Decimal(100))
            if (
                line_amount_raw is not None
                and unit_raw is not None
                and money(line_amount_raw) != line_amount
            ):
                # Xero recomputes LineAmount from Quantity x UnitAmount and rejects a mismatch
                errors.append(
                    "The line total "
                    + f"{money(line_amount_raw)}"
                    + " does not match the expected line total "
                    + f"{line_amount}"
                )
            account_code = get_ci(raw, "AccountCode") or get_ci(details, "AccountCode")
            account = None
            if account_code:
                account = self.account_by(code=str(account_code))
                if account is None or account["Type"] == "BANK" or account["Status"] != "ACTIVE":
                    errors.append(
                        f"Account code '{account_code}' is not a valid code for this document."
                    )
            elif need_accounts:
                errors.append("Account code must be specified.")  # (U)
            tax_type = (
                get_ci(raw, "TaxType")
                or get_ci(details, "TaxType")
                or (account.get("TaxType") if account else None)
            )
            if lat == "NoTax":
                tax_type = "NONE"
            rate = self.tax_rate(tax_type) if tax_type else None
            if tax_type and (rate is None or rate.get("Status", "ACTIVE") != "ACTIVE"):
                # an unknown, deleted or archived rate (wording (U): Xero's own for this
                # case is not public; the mismatch below is documented)
                errors.append(
                    f"The TaxType code '{tax_type}' does not exist or cannot be used "
                    "for this type of transaction."
                )
                rate = None
            elif rate is not None and account is not None and not _applies(rate, account):
                # developer.xero.com/documentation/api/accounting/types#tax-rates: "Sending a
                # line item with a tax rate that can't be used with the line's account code
                # will generate the error ..."
                errors.append(
                    f"The TaxType code '{tax_type}' cannot be used with account code "
                    f"'{account_code}'."
                )
            pct = Decimal(str(rate["EffectiveRate"])) if rate else Decimal(0)
            if lat == "Exclusive":
                tax = money(line_amount * pct / 100)
            elif lat == "Inclusive":
                tax = money(line_amount * pct / (100 + pct))
            else:
                tax = Decimal("0.00")
            if get_ci(raw, "TaxAmount") is not None and lat != "NoTax":
                try:
                    tax = money(get_ci(raw, "TaxAmount"))
                except ArithmeticError:
                    errors.append("TaxAmount must be a number.")  # (U)
            tracking = get_ci(raw, "Tracking") or []
            if len(tracking) > 2:
                errors.append("A maximum of 2 tracking categories can be used per line item.")
            resolved = []
            for t in tracking:
                cat = None
                tid = get_ci(t, "TrackingCategoryID")
                tname = get_ci(t, "Name")
                for c in self.data["TrackingCategories"].values():
                    if (tid and c["TrackingCategoryID"] == tid) or (
                        tname and c["Name"].lower() == str(tname).lower()
                    ):
                        cat = c
                opt_name = get_ci(t, "Option")
                opt_id = get_ci(t, "TrackingOptionID")
                opt = None
                if cat:
                    for o in cat["Options"]:
                        if (opt_id and o["TrackingOptionID"] == opt_id) or (
                            opt_name and o["Name"].lower() == str(opt_name).lower()
                        ):
                            opt = o
                if cat is None or opt is None:
                    errors.append(
                        f"The TrackingOptionName '{opt_name}' is not valid for the "
                        f"TrackingCategory '{tname}'."
                    )  # (U)
                    continue
                resolved.append(
                    {
                        "TrackingCategoryID": cat["TrackingCategoryID"],
                        "TrackingOptionID": opt["TrackingOptionID"],
                        "Name": cat["Name"],
                        "Option": opt["Name"],
                    }
                )
            line.update(
                {
                    "UnitAmount": num(unit),
                    "TaxType": tax_type,
                    "TaxAmount": num(tax),
                    "LineAmount": num(line_amount),
                    "AccountCode": str(account_code) if account_code else None,
                    "Tracking": resolved,
                    "Quantity": num(qty),
                }
            )
            if account is not None:
                line["AccountID"] = account["AccountID"]
            if discount is not None:
                line["DiscountRate"] = num(disc)
            lines.append(line)
        return lines

    PAID_EDIT = "This document cannot be edited as it has a payment or credit note allocated to it."

    def _check_paid_edit(self, existing: dict[str, Any], body: dict[str, Any], status: str) -> None:
        """Xero's refusals for an invoice with money on it (messages as matched in public
        client code: civicrm nz.co.fuzion.civixero `getNotUpdateCandidateResponses`,
        fooman connect, Garage Hive "Common Xero errors"):
        - voided/deleted: "Invoice not of valid status for modification";
        - a status change once paid or part-paid: "The status VOIDED cannot be applied to
          the invoice because it has payments or credit notes allocated to it." (likewise
          DRAFT, SUBMITTED, AUTHORISED, DELETED);
        - any other change to a PAID invoice: "Invoice not of valid status for modification"
          and "This document cannot be edited as it has a payment or credit note allocated
          to it." (both, as Garage Hive shows them; a paid bill's reference or due date
          cannot be changed by the API either: xero.uservoice.com 49050935);
        - lines, contact, date or tax of a part-paid AUTHORISED invoice: the second only.
        An AUTHORISED invoice without payments may be edited, its lines replaced."""
        old_status = existing["Status"]
        if old_status in ("VOIDED", "DELETED"):
            raise Invalid("Invoice not of valid status for modification")
        paid = money(existing["AmountPaid"]) > 0
        if not paid:
            return
        if status != old_status:
            raise Invalid(
                f"The status {status} cannot be applied to the invoice because it has "
                "payments or credit notes allocated to it."
            )
        if old_status == "PAID":
            raise Invalid("Invoice not of valid status for modification", self.PAID_EDIT)
        if any(
            has_ci(body, f)
            for f in ("LineItems", "Contact", "LineAmountTypes", "Date", "CurrencyCode")
        ):
            raise Invalid(self.PAID_EDIT)

    def save_invoice(
        self, body: dict[str, Any], mode: str, object_id: str | None = None
    ) -> dict[str, Any]:
        iid = object_id or get_ci(body, "InvoiceID")
        existing: dict[str, Any] | None = None
        if iid:
            if mode == "create":
                raise Invalid("A new invoice cannot be created with an InvoiceID.")  # (U)
            try:
                existing = self.get("Invoices", str(iid))
            except NotFound as exc:
                if object_id:
                    raise
                raise Invalid("Invoice could not be found.") from exc  # (U)
        elif (
            mode == "upsert"
            and get_ci(body, "InvoiceNumber")
            and get_ci(body, "Type", "ACCREC") == "ACCREC"
        ):
            number = str(get_ci(body, "InvoiceNumber"))
            existing = self.find(
                "Invoices",
                lambda i: (
                    i["Type"] == "ACCREC"
                    and i.get("InvoiceNumber") == number
                    and i["Status"] != "DELETED"
                ),
            )
        errors: list[str] = []
        old_status = existing["Status"] if existing else None
        status = str(get_ci(body, "Status", old_status or "DRAFT")).upper()
        if existing is not None:
            self._check_paid_edit(existing, body, status)
        if status not in INVOICE_STATUSES:
            errors.append(f"'{status}' is not a valid status for an invoice.")  # (U)
        elif status == "PAID" and old_status != "PAID":
            errors.append("Invoice status cannot be set to PAID; apply a payment instead.")  # (U)
        elif (old_status == "AUTHORISED" and status in ("DRAFT", "SUBMITTED", "DELETED")) or (
            status == "VOIDED" and old_status not in ("AUTHORISED", "SUBMITTED")
        ):
            errors.append("Invoice not of valid status for modification")
        inv_type = str(get_ci(body, "Type", existing["Type"] if existing else "") or "").upper()
        if inv_type not in ("ACCREC", "ACCPAY"):
            errors.append("Invoice Type must be specified as ACCREC or ACCPAY.")  # (U)
            inv_type = "ACCREC"
        contact = self._resolve_contact(
            get_ci(body, "Contact")
            if has_ci(body, "Contact")
            else ({"ContactID": existing["Contact"]["ContactID"]} if existing else None),
            errors,
        )
        lat = str(
            get_ci(
                body, "LineAmountTypes", existing["LineAmountTypes"] if existing else "Exclusive"
            )
        )
        lat = {x.lower(): x for x in LINE_AMOUNT_TYPES}.get(lat.lower(), lat)
        if lat not in LINE_AMOUNT_TYPES:
            errors.append(f"'{lat}' is not a valid LineAmountTypes value.")  # (U)
            lat = "Exclusive"
        need_accounts = status in ("SUBMITTED", "AUTHORISED")
        if has_ci(body, "LineItems"):
            lines = self._lines(get_ci(body, "LineItems"), lat, inv_type, errors, need_accounts)
        elif existing is not None:
            lines = existing["LineItems"]
            if has_ci(body, "LineAmountTypes") or need_accounts:
                lines = self._lines(existing["LineItems"], lat, inv_type, errors, need_accounts)
        else:
            lines = []
        if need_accounts and not lines:
            errors.append("Invoices must have at least one line item to be approved.")  # (U)
        number = get_ci(body, "InvoiceNumber", existing.get("InvoiceNumber") if existing else None)
        if number is not None and len(str(number)) > 255:
            errors.append("Invoice # must be 255 characters or less.")  # (U)
        if (
            inv_type == "ACCREC"
            and number
            and self._invoice_number_taken(str(number), existing["InvoiceID"] if existing else None)
        ):
            errors.append("Invoice # must be unique.")
        inv_date: date | None = None
        due_date: date | None = None
        try:
            raw_date = get_ci(body, "Date")
            if raw_date:
                inv_date = parse_date(str(raw_date))
            elif existing is not None and existing.get("Date"):
                inv_date = parse_date(existing["Date"])
            else:
                inv_date = self.now().date()
            raw_due = get_ci(body, "DueDate")
            if raw_due:
                due_date = parse_date(str(raw_due))
            elif existing is not None and existing.get("DueDate"):
                due_date = parse_date(existing["DueDate"])
        except DateFormatError:
            errors.append("The date format is not valid.")  # (U)
        if status in ("SUBMITTED", "AUTHORISED") and due_date is None:
            errors.append("Due Date must be specified.")  # (U)
        # lock dates bind posted documents only: approving, editing, voiding (drafts and
        # submitted ones may still be saved or deleted; see `lock_messages`)
        posted_before = old_status in ("AUTHORISED", "PAID")
        if status in ("AUTHORISED", "PAID", "VOIDED") or posted_before:
            old_date = parse_date(existing["Date"]) if existing and existing.get("Date") else None
            errors.extend(self.lock_messages(inv_date, old_date if posted_before else None))
        if errors:
            raise Invalid(*errors)
        assert contact is not None
        sub = sum((Decimal(str(line["LineAmount"])) for line in lines), Decimal(0))
        tax = sum((Decimal(str(line["TaxAmount"])) for line in lines), Decimal(0))
        if lat == "Inclusive":
            sub_total, total = sub - tax, sub
        else:
            sub_total, total = sub, sub + tax
        now = self.stamp()
        if existing is None:
            if inv_type == "ACCREC" and not number:
                number = self._next_invoice_number()
            inv: dict[str, Any] = {
                "Type": inv_type,
                "InvoiceID": new_id(),
                "Payments": [],
                "CreditNotes": [],
                "Prepayments": [],
                "Overpayments": [],
                "AmountPaid": 0.0,
                "AmountCredited": 0.0,
                "SentToContact": False,
                "CurrencyRate": 1.0,
                "IsDiscounted": False,
                "HasAttachments": False,
                "HasErrors": False,
            }
            event = "CREATE"
        else:
            inv = existing
            event = "UPDATE"
        inv.update(
            {
                "InvoiceNumber": str(number) if number is not None else "",
                "Reference": get_ci(body, "Reference", inv.get("Reference", "")),
                "Contact": self.contact_summary(contact),
                "DateString": iso_string(inv_date) if inv_date else None,
                "Date": ms_date(inv_date) if inv_date else None,
                "DueDateString": iso_string(due_date) if due_date else None,
                "DueDate": ms_date(due_date) if due_date else None,
                "Status": status,
                "LineAmountTypes": lat,
                "LineItems": lines,
                "SubTotal": num(money(sub_total)),
                "TotalTax": num(money(tax)),
                "Total": num(money(total)),
                "CurrencyCode": get_ci(body, "CurrencyCode", inv.get("CurrencyCode", "GBP")),
                "BrandingThemeID": inv.get("BrandingThemeID"),
                "Url": get_ci(body, "Url", inv.get("Url")),
                "UpdatedDateUTC": now,
            }
        )
        if has_ci(body, "SentToContact"):
            inv["SentToContact"] = bool(get_ci(body, "SentToContact"))
        inv["AmountDue"] = num(money(total) - money(inv["AmountPaid"]))
        if status in ("VOIDED", "DELETED"):
            inv["AmountDue"] = 0.0
        self.data["Invoices"][inv["InvoiceID"]] = inv
        # IsCustomer / IsSupplier follow AR / AP invoices without touching UpdatedDateUTC
        if inv_type == "ACCREC":
            contact["IsCustomer"] = True
        else:
            contact["IsSupplier"] = True
        inv["Contact"] = self.contact_summary(contact)
        self.emit("INVOICE", event, inv["InvoiceID"])
        return inv

    def email_invoice(self, invoice_id: str) -> None:
        inv = self.get("Invoices", invoice_id)
        if inv["Type"] != "ACCREC" or inv["Status"] not in ("SUBMITTED", "AUTHORISED", "PAID"):
            raise Invalid(
                "Invoice must be of type ACCREC and status SUBMITTED, AUTHORISED or "
                "PAID to be emailed."
            )  # (U)
        contact = self.get("Contacts", inv["Contact"]["ContactID"])
        if not contact.get("EmailAddress"):
            raise Invalid("The contact has no email address.")  # (U)
        inv["SentToContact"] = True
        inv["UpdatedDateUTC"] = self.stamp()
        self.emit("INVOICE", "UPDATE", inv["InvoiceID"])

    def _recalc_invoice(self, inv: dict[str, Any], pay_date: date | None) -> None:
        """AmountPaid/AmountDue/Status/Payments follow the invoice's live payments. Whether a
        payment also moves the invoice's UpdatedDateUTC (and so its If-Modified-Since
        polls and an INVOICE webhook) is not documented: mode `payment_touches_invoice`
        (`yes`: it does, the default; `no`: only the Payment's own UpdatedDateUTC moves)."""
        live = [
            p
            for p in self.data["Payments"].values()
            if p["Invoice"]["InvoiceID"] == inv["InvoiceID"] and p["Status"] != "DELETED"
        ]
        paid = sum((Decimal(str(p["Amount"])) for p in live), Decimal(0))
        inv["AmountPaid"] = num(money(paid))
        inv["AmountDue"] = num(money(inv["Total"]) - money(paid))
        inv["Payments"] = [
            {
                "PaymentID": p["PaymentID"],
                "Date": p["Date"],
                "Amount": p["Amount"],
                "Reference": p.get("Reference"),
                "CurrencyRate": 1.0,
                "HasAccount": False,
                "HasValidationErrors": False,
            }
            for p in live
        ]
        if money(inv["AmountDue"]) <= 0 and inv["Status"] == "AUTHORISED":
            inv["Status"] = "PAID"
            inv["FullyPaidOnDate"] = ms_date(pay_date or self.now().date())
        elif money(inv["AmountDue"]) > 0 and inv["Status"] == "PAID":
            inv["Status"] = "AUTHORISED"
            inv.pop("FullyPaidOnDate", None)
        if self.mode_of("payment_touches_invoice") == "yes":
            inv["UpdatedDateUTC"] = self.stamp()
            self.emit("INVOICE", "UPDATE", inv["InvoiceID"])

    # -- payments ------------------------------------------------------------------------

    def _check_payment(
        self, body: dict[str, Any], pending: dict[str, Decimal] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any], Decimal, date]:
        """Validate one payment without writing it: (invoice, account, amount, date).
        `pending` holds amounts already taken from invoices earlier in the same batch."""
        errors: list[str] = []
        inv_ref = get_ci(body, "Invoice")
        inv = None
        if not isinstance(inv_ref, dict) or not inv_ref:
            errors.append(
                "You must specify either an Invoice, CreditNote, Prepayment or "
                "Overpayment for the payment."
            )  # (U)
        else:
            iid = get_ci(inv_ref, "InvoiceID")
            number = get_ci(inv_ref, "InvoiceNumber")
            if iid:
                try:
                    inv = self.get("Invoices", str(iid))
                except NotFound:
                    inv = None
            elif number:
                inv = self.find(
                    "Invoices",
                    lambda i: i.get("InvoiceNumber") == str(number) and i["Status"] != "DELETED",
                )
            if inv is None:
                errors.append("Invoice could not be found.")  # (U)
        acc_ref = get_ci(body, "Account")
        account = None
        if not isinstance(acc_ref, dict) or not acc_ref:
            errors.append("Account must be specified.")  # (U)
        else:
            account = self.account_by(
                code=get_ci(acc_ref, "Code"), account_id=get_ci(acc_ref, "AccountID")
            )
            if account is None:
                errors.append("Account could not be found.")  # (U)
            elif account["Type"] != "BANK" and not account.get("EnablePaymentsToAccount"):
                errors.append(
                    "Payments cannot be made to this account. Enable payments to "
                    "this account or select a bank account."
                )  # (U)
        amount = None
        try:
            raw = get_ci(body, "Amount")
            amount = money(raw) if raw is not None else None
        except ArithmeticError:
            errors.append("Payment amount must be a number.")  # (U)
        if amount is None:
            errors.append("Payment amount must be specified.")  # (U) (`Amount` is required)
        elif amount <= 0:
            errors.append("Payment amount must be greater than zero.")  # (U)
        if inv is not None:
            taken = (pending or {}).get(inv["InvoiceID"], Decimal(0))
            if inv["Status"] != "AUTHORISED":
                errors.append("Payments can only be made against Authorised documents")
            elif amount is not None and amount + taken > money(inv["AmountDue"]):
                errors.append("Payment amount exceeds the amount outstanding on this document")
        pay_date: date | None = None
        try:
            raw_date = get_ci(body, "Date")
            pay_date = parse_date(str(raw_date)) if raw_date else self.now().date()
        except DateFormatError:
            errors.append("The date format is not valid.")  # (U)
        if pay_date is not None:
            # the lock dates bind payments as they bind any posted transaction (help.xero.com
            # Settings_LockDate; payhawk "Payment date ... set before Xero Period Lock Date");
            # Xero's wording for a payment is not public: the document one is used (U)
            errors.extend(self.lock_messages(pay_date))
            if self.mode_of("future_payment") == "refuse" and pay_date > self.now().date():
                errors.append("The payment date cannot be in the future.")  # (U)
        if errors:
            raise Invalid(*errors)
        assert inv is not None
        assert account is not None
        assert amount is not None
        assert pay_date is not None
        return inv, account, amount, pay_date

    def _write_payment(
        self,
        body: dict[str, Any],
        inv: dict[str, Any],
        account: dict[str, Any],
        amount: Decimal,
        pay_date: date,
        batch_id: str | None = None,
    ) -> dict[str, Any]:
        payment: dict[str, Any] = {
            "PaymentID": new_id(),
            "Date": ms_date(pay_date),
            "BankAmount": num(amount),
            "Amount": num(amount),
            "Reference": get_ci(body, "Reference", ""),
            "CurrencyRate": 1.0,
            "PaymentType": "ACCRECPAYMENT" if inv["Type"] == "ACCREC" else "ACCPAYPAYMENT",
            "Status": "AUTHORISED",
            "UpdatedDateUTC": self.stamp(),
            "HasAccount": True,
            "IsReconciled": bool(get_ci(body, "IsReconciled", False)),
            "Account": {"AccountID": account["AccountID"], "Code": account.get("Code")},
            "Invoice": {
                "Type": inv["Type"],
                "InvoiceID": inv["InvoiceID"],
                "InvoiceNumber": inv.get("InvoiceNumber"),
                "Contact": {
                    "ContactID": inv["Contact"]["ContactID"],
                    "Name": inv["Contact"]["Name"],
                },
                "CurrencyCode": inv.get("CurrencyCode"),
            },
            "HasValidationErrors": False,
        }
        if batch_id is not None:
            payment["BatchPaymentID"] = batch_id
        self.data["Payments"][payment["PaymentID"]] = payment
        self._recalc_invoice(inv, pay_date)
        return payment

    def save_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        inv, account, amount, pay_date = self._check_payment(body)
        return self._write_payment(body, inv, account, amount, pay_date)

    def update_payment(self, payment_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Only deletion is allowed: `{"Status":"DELETED"}` (Xero payments are immutable;
        developer.xero.com payments: "Deleting Payments"). The deleted payment stays
        readable with Status DELETED and a new UpdatedDateUTC; a payment dated in a locked
        period cannot be deleted (`lock_messages`)."""
        payment = self.get("Payments", payment_id)
        status = str(get_ci(body, "Status", "")).upper()
        if status != "DELETED":
            raise Invalid("Payments can only be deleted: set Status to DELETED.")  # (U)
        if payment["Status"] == "DELETED":
            raise Invalid("This payment has already been deleted.")  # (U)
        locked = self.lock_messages(parse_date(payment["Date"]))
        if locked:
            raise Invalid(*locked)
        payment["Status"] = "DELETED"
        payment["UpdatedDateUTC"] = self.stamp()
        inv = self.get("Invoices", payment["Invoice"]["InvoiceID"])
        self._recalc_invoice(inv, None)
        return payment

    # -- batch payments ------------------------------------------------------------------

    def save_batch_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        """`PUT /BatchPayments` (Xero-OpenAPI BatchPayment; developer.xero.com batchpayments):
        one bank account, date and reference for several invoice payments. Each becomes a
        Payment carrying `BatchPaymentID` (also in `GET /Payments`), each invoice is paid
        as by a single payment. The whole batch is refused if one payment is invalid (U);
        the messages are the single payments' own. RECBATCH for sales invoices, PAYBATCH for
        bills; a batch mixing the two is refused (U)."""
        payments = get_ci(body, "Payments")
        if not isinstance(payments, list) or not payments:
            raise Invalid("A batch payment must contain at least one payment.")  # (U)
        shared = {k: get_ci(body, k) for k in ("Account", "Date", "Reference") if has_ci(body, k)}
        checked = []
        pending: dict[str, Decimal] = {}
        errors: list[str] = []
        for raw in payments:
            one = {**shared, **(raw if isinstance(raw, dict) else {})}
            try:
                inv, account, amount, pay_date = self._check_payment(one, pending)
            except Invalid as exc:
                errors.extend(m for m in exc.messages if m not in errors)
                continue
            pending[inv["InvoiceID"]] = pending.get(inv["InvoiceID"], Decimal(0)) + amount
            checked.append((one, inv, account, amount, pay_date))
        if not errors and len({c[1]["Type"] for c in checked}) > 1:
            errors.append("A batch payment cannot mix sales invoices and bills.")  # (U)
        if errors:
            raise Invalid(*errors)
        batch_id = new_id()
        written = [self._write_payment(*c, batch_id=batch_id) for c in checked]
        first = written[0]
        total = sum((Decimal(str(p["Amount"])) for p in written), Decimal(0))
        batch = {
            "BatchPaymentID": batch_id,
            "Account": dict(first["Account"]),
            "Reference": get_ci(body, "Reference", ""),
            "Date": first["Date"],
            "DateString": iso_string(parse_date(first["Date"])),
            "Type": "RECBATCH" if checked[0][1]["Type"] == "ACCREC" else "PAYBATCH",
            "Status": "AUTHORISED",
            "TotalAmount": num(money(total)),
            "UpdatedDateUTC": self.stamp(),
            "IsReconciled": False,
            "Payments": [
                {
                    "PaymentID": p["PaymentID"],
                    "Amount": p["Amount"],
                    "Invoice": {
                        "InvoiceID": p["Invoice"]["InvoiceID"],
                        "InvoiceNumber": p["Invoice"]["InvoiceNumber"],
                    },
                }
                for p in written
            ],
        }
        self.data["BatchPayments"][batch_id] = batch
        return batch

    # -- tax rates -----------------------------------------------------------------------

    def save_tax_rate(self, body: dict[str, Any], create: bool) -> dict[str, Any]:
        """`PUT /TaxRates` creates a rate, `POST /TaxRates` updates one named by TaxType
        (developer.xero.com taxrates; Xero-OpenAPI createTaxRates example: `{"Name":"CA State
        Tax","TaxComponents":[{"Name":"State Tax","Rate":2.25}]}` answered with TaxType
        "TAX002"). A rate has one or more TaxComponents `{Name, Rate, IsCompound,
        IsNonRecoverable}`; `DisplayTaxRate` is the sum of the component rates and
        `EffectiveRate` the rate really charged: compound components apply to the amount
        plus the simple ones (5% GST + 9.975% compound QST -> 15.4738), 4 dp (schema: "Tax
        Rate (up to 4dp)"). Lines use `EffectiveRate`. Status ACTIVE|DELETED|ARCHIVED; only an
        ACTIVE rate may be used on a line. Validation wording is (U)."""
        existing: dict[str, Any] | None = None
        if not create:
            tax_type = get_ci(body, "TaxType")
            existing = self.tax_rate(str(tax_type)) if tax_type else None
            if existing is None:
                raise Invalid("The TaxType could not be found.")  # (U)
        errors: list[str] = []
        name = get_ci(body, "Name", existing["Name"] if existing else None)
        if not name or not str(name).strip():
            errors.append("The tax rate name is required.")  # (U)
        elif any(
            t["Name"].lower() == str(name).strip().lower()
            and t["Status"] != "DELETED"
            and t is not existing
            for t in self.data["TaxRates"].values()
        ):
            errors.append(f"A tax rate with the name '{name}' already exists.")  # (U)
        raw = get_ci(body, "TaxComponents", existing["TaxComponents"] if existing else None)
        comps: list[dict[str, Any]] = []
        if not isinstance(raw, list) or not raw:
            errors.append("A tax rate must have at least one tax component.")  # (U)
        else:
            for c in raw:
                try:
                    rate = Decimal(str(get_ci(c, "Rate"))).quantize(Decimal("0.0001"))
                    if rate < 0 or not get_ci(c, "Name"):
                        raise ArithmeticError
                except (ArithmeticError, AttributeError, TypeError):
                    errors.append("Each tax component needs a Name and a Rate of 0 or more.")
                    continue
                comps.append(
                    {
                        "Name": str(get_ci(c, "Name")),
                        "Rate": float(rate),
                        "IsCompound": bool(get_ci(c, "IsCompound", False)),
                        "IsNonRecoverable": bool(get_ci(c, "IsNonRecoverable", False)),
                    }
                )
        report = str(
            get_ci(body, "ReportTaxType", existing["ReportTaxType"] if existing else "OUTPUT")
        ).upper()
        status = str(get_ci(body, "Status", existing["Status"] if existing else "ACTIVE"))
        status = status.upper()
        if status not in ("ACTIVE", "DELETED", "ARCHIVED"):
            errors.append(f"'{status}' is not a valid tax rate status.")  # (U)
        if errors:
            raise Invalid(*errors)
        simple = sum((Decimal(str(c["Rate"])) for c in comps if not c["IsCompound"]), Decimal(0))
        compound = sum((Decimal(str(c["Rate"])) for c in comps if c["IsCompound"]), Decimal(0))
        effective = simple + compound * (Decimal(100) + simple) / Decimal(100)
        q4 = Decimal("0.0001")
        if existing is None:
            self.tax_seq += 1
            while f"TAX{self.tax_seq:03d}" in self.data["TaxRates"]:
                self.tax_seq += 1
            rate_obj: dict[str, Any] = {"TaxType": f"TAX{self.tax_seq:03d}"}
        else:
            rate_obj = existing
        # an OUTPUT rate is for sales, an INPUT one for purchases, others for both (U)
        revenue = "INPUT" not in report
        expenses = "OUTPUT" not in report
        rate_obj.update(
            {
                "Name": str(name).strip(),
                "ReportTaxType": report,
                "CanApplyToAssets": expenses,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": expenses,
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": revenue,
                "DisplayTaxRate": float((simple + compound).quantize(q4)),
                "EffectiveRate": float(effective.quantize(q4)),
                "Status": status,
                "TaxComponents": comps,
            }
        )
        self.data["TaxRates"][rate_obj["TaxType"]] = rate_obj
        return rate_obj

    # -- queries -------------------------------------------------------------------------

    def updated_since(self, obj: dict[str, Any], since: datetime) -> bool:
        stamp = obj.get("UpdatedDateUTC") or obj.get("updatedDateUTC")
        if not stamp:
            return True
        return parse_datetime(stamp).replace(microsecond=0) > since
