"""Sandbox data for a new simulated company, shaped like Intuit's "Sandbox Company_US_1".

Names follow the real US sandbox company (customers such as Amy's Bird Sanctuary, the
"Services" item with Id 1, Undeposited Funds); a non-US company (GB, AU, CA) gets VAT/GST
codes as Ids so per-line tax codes work (PROVIDERS.md 1.3 TaxCode/TaxRate).
"""

from __future__ import annotations

from typing import Any

from .model import Books

ACCOUNTS = [
    # name, AccountType, AccountSubType
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Inventory Asset", "Other Current Asset", "Inventory"),
    ("Truck", "Fixed Asset", "Vehicles"),
    ("Security Deposits", "Other Asset", "SecurityDeposits"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Mastercard", "Credit Card", "CreditCard"),
    ("Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable"),
    ("Notes Payable", "Long Term Liability", "NotesPayable"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Retained Earnings", "Equity", "RetainedEarnings"),
    ("Services", "Income", "ServiceFeeIncome"),
    ("Design income", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Interest Earned", "Other Income", "InterestEarned"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Advertising", "Expense", "AdvertisingPromotional"),
    ("Insurance", "Expense", "Insurance"),
    ("Rent or Lease", "Expense", "RentOrLeaseOfBuildings"),
    ("Miscellaneous", "Other Expense", "OtherMiscellaneousExpense"),
]

CUSTOMERS = [
    # DisplayName, GivenName, FamilyName, CompanyName, email
    ("Amy's Bird Sanctuary", "Amy", "Lauterbach", "Amy's Bird Sanctuary", "Birds@Intuit.com"),
    ("Bill's Windsurf Shop", "Bill", "Lucchini", "Bill's Windsurf Shop", "Surf@Intuit.com"),
    ("Cool Cars", "Grace", "Pariente", "Cool Cars", "Cool_Cars@intuit.com"),
    ("Dukes Basketball Camp", "Peter", "Dukes", "Dukes Basketball Camp", "Dukes_bball@intuit.com"),
    (
        "Freeman Sporting Goods",
        "Sasha",
        "Tillou",
        "Freeman Sporting Goods",
        "Sporting_goods@intuit.com",
    ),
]
SUB_CUSTOMERS = [
    # DisplayName, parent DisplayName, BillWithParent
    ("0969 Ocean View Road", "Freeman Sporting Goods", True),
    ("55 Twin Lane", "Freeman Sporting Goods", True),
    ("Phase 1", "55 Twin Lane", True),
]
VENDORS = [
    ("Books by Bessie", "Bessie", "Williams"),
    ("Brosnahan Insurance Agency", "Nick", "Brosnahan"),
    ("Hicks Hardware", "Geoff", "Hicks"),
]
EMPLOYEES = [("Emily", "Platt", "E-001"), ("John", "Johnson", "E-002")]
ITEMS = [
    # Name, income account name, UnitPrice, Taxable
    ("Services", "Services", 0, False),
    ("Hours", "Services", 0, False),
    ("Design", "Design income", 75, False),
    ("Gardening", "Services", 0, True),
    ("Installation", "Services", 50, True),
]
TERMS = [("Due on receipt", 0), ("Net 10", 10), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)]
PAYMENT_METHODS = [
    ("American Express", "CREDIT_CARD"),
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
]
CLASSES = ["Design", "Landscaping", "Maintenance"]
DEPARTMENTS = ["North", "South"]

# Per country: (currency, tax agency, [(code name, description, [(rate name, percent)])])
TAX_TABLES: dict[str, tuple[str, str, list[tuple[str, str, list[tuple[str, float]]]]]] = {
    "GB": (
        "GBP",
        "HM Revenue & Customs",
        [
            ("20.0% S", "Standard", [("20.0% S", 20.0)]),
            ("5.0% R", "Reduced", [("5.0% R", 5.0)]),
            ("0.0% Z", "Zero-rated", [("0.0% Z", 0.0)]),
            ("Exempt", "Exempt", [("Exempt", 0.0)]),
            ("No VAT", "Outside the scope of VAT", [("No VAT", 0.0)]),
        ],
    ),
    "AU": (
        "AUD",
        "Australian Taxation Office",
        [
            ("GST", "GST", [("GST (sales)", 10.0)]),
            ("FRE", "GST free", [("GST free (sales)", 0.0)]),
            ("ITS", "Input taxed", [("Input taxed (sales)", 0.0)]),
        ],
    ),
    "CA": (
        "CAD",
        "Canada Revenue Agency",
        [
            ("GST", "GST", [("GST", 5.0)]),
            ("HST ON", "HST Ontario", [("HST ON", 13.0)]),
            ("Exempt", "Exempt", [("Exempt", 0.0)]),
        ],
    ),
}


def put(books: Books, kind: str, obj: dict[str, Any], obj_id: str | None = None) -> dict:
    """Store an object as the sandbox would have it (no webhook, no validation)."""
    books._stamp_new(kind, obj, obj_id)
    if obj_id is not None:
        seq = books.c.data["seq"]
        if obj_id.isdigit():
            seq[kind] = max(int(seq.get(kind, 0)), int(obj_id))
    books.c.table(kind)[obj["Id"]] = obj
    return obj


def seed_base(books: Books, company_name: str) -> None:
    """What every company has, even an empty one: CompanyInfo, Preferences, tax codes."""
    c = books.c
    currency = "USD" if c.us else TAX_TABLES.get(c.country, ("USD", "", []))[0]
    put(
        books,
        "CompanyInfo",
        {
            "CompanyName": company_name,
            "LegalName": company_name,
            "CompanyAddr": {
                "Line1": "123 Sierra Way",
                "City": "San Pablo",
                "CountrySubDivisionCode": "CA",
                "PostalCode": "87999",
                "Country": c.country,
            },
            "Country": c.country,
            "FiscalYearStartMonth": "January",
            "CompanyStartDate": books.today().replace(month=1, day=1).isoformat(),
            "SupportedLanguages": "en",
            "Email": {"Address": "noreply@quickbooks.com"},
            "NameValue": [
                {"Name": "NeoEnabled", "Value": "true"},
                {"Name": "IndustryType", "Value": "Landscaping Services"},
                {"Name": "SubscriptionStatus", "Value": "SUBSCRIBED"},
                {"Name": "OfferingSku", "Value": "QuickBooks Online Plus"},
            ],
        },
        "1",
    )
    put(
        books,
        "Preferences",
        {
            "AccountingInfoPrefs": {
                "TrackDepartments": True,
                "DepartmentTerminology": "Location",
                "ClassTrackingPerTxn": False,
                "ClassTrackingPerTxnLine": True,
                "CustomerTerminology": "Customers",
            },
            "SalesFormsPrefs": {
                "CustomTxnNumbers": False,
                "AllowDeposit": True,
                "AllowDiscount": True,
                "AllowShipping": False,
                "ETransactionEnabledStatus": "NotApplicable",
            },
            "VendorAndPurchasesPrefs": {
                "TrackingByCustomer": True,
                "BillableExpenseTracking": True,
            },
            "TimeTrackingPrefs": {
                "UseServices": True,
                "BillCustomers": True,
                "ShowBillRateToAll": False,
                "WorkWeekStartDate": "Monday",
                "MarkTimeEntriesBillable": True,
            },
            "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
            "CurrencyPrefs": {
                "MultiCurrencyEnabled": False,
                "HomeCurrency": {"value": currency},
            },
            "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
            "OtherPrefs": {
                "NameValue": [
                    {"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": "Thank you!"},
                    {"Name": "TimeTrackingFeatureEnabled", "Value": "true"},
                    {"Name": "ProjectsEnabled", "Value": "false"},
                ]
            },
        },
        "1",
    )
    _tax(books)


def _tax(books: Books) -> None:
    c = books.c
    if c.us:
        agency = put(books, "TaxAgency", {"DisplayName": "Board of Equalization"})
        rates = [
            put(
                books,
                "TaxRate",
                {
                    "Name": name,
                    "Description": "Sales Tax",
                    "RateValue": pct,
                    "AgencyRef": {"value": agency["Id"]},
                    "Active": True,
                    "SpecialTaxType": "NONE",
                    "DisplayType": "ReadOnly",
                },
            )
            for name, pct in (("California", 8.0), ("AZ State tax", 7.1), ("Tucson City", 2.0))
        ]
        # TAX and NON are the line-level codes of a US company (Id "TAX"/"NON").
        for code, desc, taxable in (("TAX", "TAX", True), ("NON", "NON", False)):
            put(
                books,
                "TaxCode",
                {
                    "Name": code,
                    "Description": desc,
                    "Active": True,
                    "Taxable": taxable,
                    "TaxGroup": False,
                    "Hidden": False,
                },
                code,
            )
        for name, rate_list in (("California", [rates[0]]), ("Tucson", rates[1:])):
            put(books, "TaxCode", _code(name, name, rate_list))
        return
    _currency, agency_name, codes = TAX_TABLES.get(c.country, TAX_TABLES["GB"])
    agency = put(books, "TaxAgency", {"DisplayName": agency_name})
    for name, desc, rate_defs in codes:
        rates = [
            put(
                books,
                "TaxRate",
                {
                    "Name": rname,
                    "Description": desc,
                    "RateValue": pct,
                    "AgencyRef": {"value": agency["Id"]},
                    "Active": True,
                    "SpecialTaxType": "NONE",
                    "DisplayType": "ReadOnly",
                },
            )
            for rname, pct in rate_defs
        ]
        put(books, "TaxCode", _code(name, desc, rates))


def _code(name: str, desc: str, rates: list[dict[str, Any]]) -> dict[str, Any]:
    detail = [
        {
            "TaxRateRef": {"value": r["Id"], "name": r["Name"]},
            "TaxTypeApplicable": "TaxOnAmount",
            "TaxOrder": 0,
        }
        for r in rates
    ]
    return {
        "Name": name,
        "Description": desc,
        "Active": True,
        "Taxable": True,
        "TaxGroup": len(rates) > 1,
        "Hidden": False,
        "SalesTaxRateList": {"TaxRateDetail": detail},
        "PurchaseTaxRateList": {"TaxRateDetail": []},
    }


def seed_sandbox(books: Books) -> None:
    """Lists a bookkeeper would find in a fresh sandbox; created through the validation
    rules (so names, FullyQualifiedName and Levels are computed), without webhooks."""
    quiet = books.on_change
    books.on_change = lambda e: None
    try:
        accounts = {
            name: books.create("Account", {"Name": name, "AccountType": t, "AccountSubType": s})
            for name, t, s in ACCOUNTS
        }
        terms = [books.create("Term", {"Name": name, "DueDays": days}) for name, days in TERMS]
        for name, ptype in PAYMENT_METHODS:
            books.create("PaymentMethod", {"Name": name, "Type": ptype})
        for name in CLASSES:
            books.create("Class", {"Name": name})
        for name in DEPARTMENTS:
            books.create("Department", {"Name": name})
        for name, income, price, taxable in ITEMS:
            books.create(
                "Item",
                {
                    "Name": name,
                    "Type": "Service",
                    "IncomeAccountRef": {"value": accounts[income]["Id"]},
                    "UnitPrice": price,
                    "Taxable": taxable and books.c.us,
                },
            )
        by_name: dict[str, dict[str, Any]] = {}
        for display, given, family, company, email in CUSTOMERS:
            by_name[display] = books.create(
                "Customer",
                {
                    "DisplayName": display,
                    "GivenName": given,
                    "FamilyName": family,
                    "CompanyName": company,
                    "PrimaryEmailAddr": {"Address": email},
                    "SalesTermRef": {"value": terms[3]["Id"]},
                },
            )
        for display, parent, bwp in SUB_CUSTOMERS:
            by_name[display] = books.create(
                "Customer",
                {
                    "DisplayName": display,
                    "ParentRef": {"value": by_name[parent]["Id"]},
                    "Job": True,
                    "BillWithParent": bwp,
                },
            )
        for display, given, family in VENDORS:
            books.create(
                "Vendor", {"DisplayName": display, "GivenName": given, "FamilyName": family}
            )
        for given, family, number in EMPLOYEES:
            books.create(
                "Employee",
                {
                    "GivenName": given,
                    "FamilyName": family,
                    "EmployeeNumber": number,
                    "BillableTime": True,
                    "BillRate": 75,
                },
            )
    finally:
        books.on_change = quiet
