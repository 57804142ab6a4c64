"""Sandbox data for a new simulated company, shaped like Intuit's sample company ("Sandbox
Company_US_1", Craig's Design and Landscaping Services).

Where a client written against a real sandbox hard-codes an Id, the seed has that Id, from public
sources: Item 10 "Pest Control" and Account 86 "Discounts given" (python-quickbooks
tests/integration/test_estimate.py), Account 42 "Visa" (test_purchase.py); Accounts 4
Undeposited Funds, 79/80/81 Sales of Product Income / Cost of Goods Sold / Inventory Asset
(Payment and Item entity reference samples), 30/31/32 Uncategorized Income/Expense/Asset,
DefaultDiscountAccount 86, DefaultTerms 3 and TaxGroupCodeRef 2 (Preferences entity reference
sample), 33 A/P, 35 Checking, 41 Mastercard, Items 3 Concrete, 8 Lighting, 9 Maintenance &
Repair with their income accounts 48/53/54 (fylein/fyle-qbo-api test fixtures, captured from a
sandbox, (2nd)); TaxCodes TAX, NON, CustomSalesTax, 2 California (rate 3), 3 Tucson (rates 1
AZ State tax, 2 Tucson City) (TaxCode entity reference, "Query a taxcode"). Other Ids and the
sample transactions are illustrative (U). Customers, vendors and employees keep their order
(Amy's Bird Sanctuary is customer 1) but not the real sandbox's Ids beyond that.

A non-US company (GB, AU, CA) gets VAT/GST codes as Ids so per-line tax codes work
(PROVIDERS.md 1.3 TaxCode/TaxRate).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .model import Books

ACCOUNTS: list[tuple[str, str, str, str, str | None]] = [
    # Id, Name, AccountType, AccountSubType, parent Id
    ("1", "Services", "Income", "ServiceFeeIncome", None),
    ("2", "Retained Earnings", "Equity", "RetainedEarnings", None),
    ("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", None),
    ("7", "Advertising", "Expense", "AdvertisingPromotional", None),
    ("8", "Bank Charges", "Expense", "BankCharges", None),
    ("10", "Dues & Subscriptions", "Expense", "DuesSubscriptions", None),
    ("11", "Insurance", "Expense", "Insurance", None),
    ("13", "Meals and Entertainment", "Expense", "EntertainmentMeals", None),
    ("15", "Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses", None),
    ("17", "Legal & Professional Fees", "Expense", "LegalProfessionalFees", None),
    ("21", "Maintenance and Repair", "Expense", "RepairMaintenance", None),
    ("26", "Rent or Lease", "Expense", "RentOrLeaseOfBuildings", None),
    ("28", "Supplies", "Expense", "SuppliesMaterials", None),
    ("29", "Taxes & Licenses", "Expense", "TaxesPaid", None),
    ("30", "Uncategorized Income", "Income", "ServiceFeeIncome", None),
    ("31", "Uncategorized Expense", "Expense", "OtherMiscellaneousServiceCost", None),
    ("32", "Uncategorized Asset", "Other Current Asset", "OtherCurrentAssets", None),
    ("33", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", None),
    ("34", "Opening Balance Equity", "Equity", "OpeningBalanceEquity", None),
    ("35", "Checking", "Bank", "Checking", None),
    ("36", "Savings", "Bank", "Savings", None),
    ("37", "Truck", "Fixed Asset", "Vehicles", None),
    ("38", "Security Deposits", "Other Asset", "SecurityDeposits", None),
    ("40", "Notes Payable", "Long Term Liability", "NotesPayable", None),
    ("41", "Mastercard", "Credit Card", "CreditCard", None),
    ("42", "Visa", "Credit Card", "CreditCard", None),
    ("43", "Arizona Dept. of Revenue Payable", "Other Current Liability", "SalesTaxPayable", None),
    ("44", "Board of Equalization Payable", "Other Current Liability", "SalesTaxPayable", None),
    ("45", "Landscaping Services", "Income", "ServiceFeeIncome", None),
    ("46", "Job Materials", "Income", "ServiceFeeIncome", "45"),
    ("47", "Decks and Patios", "Income", "ServiceFeeIncome", "46"),
    ("48", "Fountains and Garden Lighting", "Income", "ServiceFeeIncome", "46"),
    ("49", "Plants and Soil", "Income", "ServiceFeeIncome", "46"),
    ("50", "Sprinklers and Drip Systems", "Income", "ServiceFeeIncome", "46"),
    ("51", "Labor", "Income", "ServiceFeeIncome", "45"),
    ("52", "Installation", "Income", "ServiceFeeIncome", "51"),
    ("53", "Maintenance and Repair", "Income", "ServiceFeeIncome", "51"),
    ("54", "Pest Control Services", "Income", "ServiceFeeIncome", None),
    ("55", "Automobile", "Expense", "Auto", None),
    ("56", "Fuel", "Expense", "Auto", "55"),
    ("79", "Sales of Product Income", "Income", "SalesOfProductIncome", None),
    ("80", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", None),
    ("81", "Inventory Asset", "Other Current Asset", "Inventory", None),
    ("82", "Design income", "Income", "ServiceFeeIncome", None),
    ("83", "Other Income", "Other Income", "OtherMiscellaneousIncome", None),
    ("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", None),
    ("86", "Discounts given", "Income", "DiscountsRefundsGiven", None),
    ("89", "Interest Earned", "Other Income", "InterestEarned", None),
    ("90", "Miscellaneous", "Other Expense", "OtherMiscellaneousExpense", None),
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
ITEMS: list[tuple[str, str, str, str, float, bool, str]] = [
    # Id, Name, Type, income account Id, UnitPrice, Taxable, Description
    ("1", "Services", "Service", "1", 0, False, ""),
    ("2", "Hours", "Service", "1", 0, False, ""),
    ("3", "Concrete", "Service", "48", 0, True, "Concrete for fountain installation"),
    ("4", "Design", "Service", "82", 75, False, "Custom Design"),
    ("5", "Rock Fountain", "Inventory", "79", 275, True, "Rock Fountain"),
    ("6", "Gardening", "Service", "45", 0, False, "Weekly Gardening Service"),
    ("7", "Installation", "Service", "52", 50, False, "Installation of landscape design"),
    ("8", "Lighting", "Service", "48", 0, True, "Garden Lighting"),
    ("9", "Maintenance & Repair", "Service", "53", 0, False, "Maintenance & Repair"),
    ("10", "Pest Control", "Service", "54", 35, False, "Pest Control Services"),
    ("11", "Pump", "Inventory", "79", 15, True, "Fountain Pump"),
    ("12", "Refunds & Allowances", "NonInventory", "83", 0, False, "Income due to refunds"),
    ("13", "Rocks", "Service", "48", 0, True, "Garden Rocks"),
    ("14", "Sod", "Service", "49", 0, True, "Sod"),
    ("15", "Sprinkler Heads", "Inventory", "79", 2, True, "Sprinkler Heads"),
    ("16", "Sprinkler Pipes", "Inventory", "79", 4, True, "Sprinkler Pipes"),
    ("17", "Trimming", "Service", "45", 35, False, "Tree and Shrub Trimming"),
    ("18", "Soil", "Service", "49", 10, True, "2 cubic ft. bag"),
]
INVENTORY_QTY = {"5": 2, "11": 25, "15": 25, "16": 31}
# Term 3 is Net 30 (Preferences sample DefaultTerms "3"); the other Ids are (U).
TERMS = [("Due on receipt", 0), ("Net 10", 10), ("Net 30", 30), ("Net 15", 15), ("Net 60", 60)]
PAYMENT_METHODS = [
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("Discover", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Diners Club", "CREDIT_CARD"),
]
CLASSES = ["Design", "Landscaping", "Maintenance"]
DEPARTMENTS = ["North", "South"]

# Per country: (currency, tax agency, [(code name, description, [(rate name, percent)])]).
# A rate named twice is one rate shared by the codes naming it; a third item in a rate names its
# own agency (else the country's). CA's "GST/PST BC" is a combined code of two rates from two
# agencies (developer.intuit.com "Manage sales tax for non-US locales": a TaxCode "comprised of
# one or more tax rates", each rate of one agency; simPRO help "How to Set Up GST/PST - Canada":
# QuickBooks Online combined codes, BC = GST 5% + PST (BC) 7%). Names and Ids are (U).
RateDef = tuple[str, float] | tuple[str, float, str]
TAX_TABLES: dict[str, tuple[str, str, list[tuple[str, str, list[RateDef]]]]] = {
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
            (
                "GST/PST BC",
                "GST and PST British Columbia",
                [("GST", 5.0), ("PST (BC) on sales", 7.0, "Minister of Finance (BC)")],
            ),
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
    put(books, "Preferences", preferences(company_name, currency), "1")
    _tax(books)


def _email(what: str, lead: str, company: str) -> dict[str, str]:
    return {
        "Subject": f"{what} from {company}",
        "Message": f"{lead}\nThank you for your business - we appreciate it very much.\n\n"
        f"Sincerely,\n{company}",
    }


def _custom_fields(prefix: str, uses: list[bool], names: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "CustomField": [
                {"Name": f"{prefix}.Use{n}", "Type": "BooleanType", "BooleanValue": on}
                for n, on in zip(names, uses, strict=True)
            ]
        }
    ]


def preferences(company: str, currency: str) -> dict[str, Any]:
    """Every Preferences section of Intuit's sample (Preferences entity reference, "Sample
    object"): python-quickbooks reads AccountingInfoPrefs.TaxYearMonth,
    ProductAndServicesPrefs.ForPurchase, VendorAndPurchasesPrefs.BillableExpenseTracking,
    TimeTrackingPrefs.WorkWeekStartDate, OtherPrefs.NameValue[0] and writes
    EmailMessagesPrefs (tests/integration/test_preferences.py). BookCloseDate is absent until
    someone closes the books (the sample's company had closed them)."""
    return {
        "EmailMessagesPrefs": {
            "InvoiceMessage": _email(
                "Invoice",
                "Your invoice is attached.  Please remit payment at your earliest convenience.",
                company,
            ),
            "EstimateMessage": {
                "Subject": f"Estimate from {company}",
                "Message": "Please review the estimate below.  Feel free to contact us if you "
                "have any questions.\nWe look forward to working with you.\n\nSincerely,\n"
                + company,
            },
            "SalesReceiptMessage": _email(
                "Sales Receipt", "Your sales receipt is attached.", company
            ),
            "StatementMessage": _email(
                "Statement",
                "Your statement is attached.  Please remit payment at your earliest convenience.",
                company,
            ),
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
        },
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "AccountingInfoPrefs": {
            "FirstMonthOfFiscalYear": "January",
            "UseAccountNumbers": True,
            "TaxYearMonth": "January",
            "ClassTrackingPerTxn": False,
            "TrackDepartments": True,
            "TaxForm": "6",
            "CustomerTerminology": "Customers",
            "DepartmentTerminology": "Location",
            "ClassTrackingPerTxnLine": True,
        },
        "SalesFormsPrefs": {
            "ETransactionPaymentEnabled": False,
            "CustomTxnNumbers": False,
            "AllowShipping": False,
            "AllowServiceDate": False,
            "ETransactionEnabledStatus": "NotApplicable",
            "DefaultCustomerMessage": "Thank you for your business and have a great day!",
            "EmailCopyToCompany": False,
            "AllowEstimates": True,
            "AllowDiscount": True,
            "AllowDeposit": True,
            "AutoApplyPayments": True,
            "IPNSupportEnabled": False,
            "AutoApplyCredit": True,
            "CustomField": _custom_fields(
                "SalesFormsPrefs",
                [False, False, True],
                ["SalesCustom3", "SalesCustom2", "SalesCustom1"],
            ),
            "UsingPriceLevels": False,
            "ETransactionAttachPDF": False,
        },
        "VendorAndPurchasesPrefs": {
            "BillableExpenseTracking": True,
            "TrackingByCustomer": True,
            "POCustomField": _custom_fields(
                "PurchasePrefs",
                [False, True, True],
                ["PurchaseCustom3", "PurchaseCustom2", "PurchaseCustom1"],
            ),
        },
        "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": False},
        "OtherPrefs": {
            "NameValue": [
                {
                    "Name": "SalesFormsPrefs.DefaultCustomerMessage",
                    "Value": "Thank you for your business and have a great day!",
                },
                {"Name": "DTXCopyMemo", "Value": "false"},
                {"Name": "SFCEnabled", "Value": "true"},
                {"Name": "DataPartner", "Value": "false"},
                {"Name": "Vendor1099Enabled", "Value": "true"},
                {"Name": "TimeTrackingFeatureEnabled", "Value": "true"},
                {"Name": "FDPEnabled", "Value": "false"},
                {"Name": "ProjectsEnabled", "Value": "false"},
                {"Name": "DateFormat", "Value": "Month Date Year separated by a slash"},
                {"Name": "DateFormatMnemonic", "Value": "MMDDYYYY_SEP_SLASH"},
                {"Name": "NumberFormat", "Value": "US Number Format"},
                {"Name": "NumberFormatMnemonic", "Value": "US_NB"},
                {"Name": "WarnDuplicateCheckNumber", "Value": "true"},
                {"Name": "WarnDuplicateBillNumber", "Value": "false"},
                {"Name": "SignoutInactiveMinutes", "Value": "60"},
                {"Name": "AccountingInfoPrefs.ShowAccountNumbers", "Value": "false"},
            ]
        },
        "TimeTrackingPrefs": {
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
            "ShowBillRateToAll": False,
            "UseServices": True,
            "BillCustomers": True,
        },
        "CurrencyPrefs": {"HomeCurrency": {"value": currency}, "MultiCurrencyEnabled": False},
    }


def _tax(books: Books) -> None:
    c = books.c
    if c.us:
        # Agencies, rates and codes of Intuit's TaxCode/TaxRate samples (Ids included).
        agencies = [
            put(books, "TaxAgency", {"DisplayName": name})
            for name in ("Arizona Dept. of Revenue", "Board of Equalization")
        ]
        rates = [
            put(
                books,
                "TaxRate",
                {
                    "Name": name,
                    "Description": "Sales Tax",
                    "RateValue": pct,
                    "AgencyRef": {"value": agencies[agency]["Id"]},
                    "Active": True,
                    "SpecialTaxType": "NONE",
                    "DisplayType": "ReadOnly",
                },
            )
            for name, pct, agency in (
                ("AZ State tax", 7.1, 0),
                ("Tucson City", 2.0, 0),
                ("California", 8.0, 1),
            )
        ]
        # TAX and NON are the line-level pseudo codes; CustomSalesTax a group without rates.
        for code, taxable, group in (
            ("TAX", True, False),
            ("NON", False, False),
            ("CustomSalesTax", True, True),
        ):
            put(
                books,
                "TaxCode",
                {
                    "Name": code,
                    "Description": code,
                    "Active": True,
                    "Taxable": taxable,
                    "TaxGroup": group,
                },
                code,
            )
        put(books, "TaxCode", _code("California", "California", [rates[2]]), "2")
        put(books, "TaxCode", _code("Tucson", "Tucson", rates[:2]), "3")
        return
    _currency, agency_name, codes = TAX_TABLES.get(c.country, TAX_TABLES["GB"])
    by_agency: dict[str, dict[str, Any]] = {
        agency_name: put(books, "TaxAgency", {"DisplayName": agency_name})
    }
    made: dict[str, dict[str, Any]] = {}
    for name, desc, rate_defs in codes:
        code_rates: list[dict[str, Any]] = []
        for rate_def in rate_defs:
            rname, pct = rate_def[0], rate_def[1]
            if rname not in made:
                owner = rate_def[2] if len(rate_def) > 2 else agency_name
                if owner not in by_agency:
                    by_agency[owner] = put(books, "TaxAgency", {"DisplayName": owner})
                made[rname] = put(
                    books,
                    "TaxRate",
                    {
                        "Name": rname,
                        "Description": desc,
                        "RateValue": pct,
                        "AgencyRef": {"value": by_agency[owner]["Id"]},
                        "Active": True,
                        "SpecialTaxType": "NONE",
                        "DisplayType": "ReadOnly",
                    },
                )
            code_rates.append(made[rname])
        put(books, "TaxCode", _code(name, desc, code_rates))


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


def _with_id(books: Books, kind: str, obj_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create through the validation rules, under a chosen Id (the next ones continue after
    the highest)."""
    seq = books.c.data["seq"]
    top = int(seq.get(kind, 0))
    seq[kind] = int(obj_id) - 1
    try:
        return books.create(kind, body)
    finally:
        seq[kind] = max(top, int(obj_id))


def seed_sandbox(books: Books) -> None:
    """Lists and a few transactions a bookkeeper would find in a fresh sandbox; created
    through the validation rules (so names, FullyQualifiedName, Levels, totals and balances
    are computed), without webhooks."""
    quiet = books.on_change
    books.on_change = lambda e: None
    try:
        _lists(books)
        _transactions(books)
    finally:
        books.on_change = quiet


def _lists(books: Books) -> None:
    us = books.c.us
    for obj_id, name, atype, sub, parent in ACCOUNTS:
        body: dict[str, Any] = {"Name": name, "AccountType": atype, "AccountSubType": sub}
        if parent:
            body["ParentRef"] = {"value": parent}
        _with_id(books, "Account", obj_id, body)
    terms = {name: books.create("Term", {"Name": name, "DueDays": days}) for name, days in TERMS}
    for name, ptype in PAYMENT_METHODS:
        books.create("PaymentMethod", {"Name": name, "Type": ptype})
    for name in CLASSES:
        books.create("Class", {"Name": name})
    for name in DEPARTMENTS:
        books.create("Department", {"Name": name})
    start = books.today().replace(month=1, day=1).isoformat()
    for obj_id, name, itype, income, price, taxable, desc in ITEMS:
        item: dict[str, Any] = {
            "Name": name,
            "Type": itype,
            "IncomeAccountRef": {"value": income},
            "UnitPrice": price,
            "Taxable": taxable and us,
        }
        if desc:
            item["Description"] = desc
        if itype == "Inventory":
            item.update(
                {
                    "ExpenseAccountRef": {"value": "80"},
                    "AssetAccountRef": {"value": "81"},
                    "QtyOnHand": INVENTORY_QTY[obj_id],
                    "InvStartDate": start,
                    "PurchaseCost": round(price / 2, 2),
                }
            )
        _with_id(books, "Item", obj_id, item)
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
                "SalesTermRef": {"value": terms["Net 30"]["Id"]},
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
        books.create("Vendor", {"DisplayName": display, "GivenName": given, "FamilyName": family})
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
    # Preferences that name sandbox lists (Preferences entity reference sample).
    prefs = books.c.prefs()
    prefs["SalesFormsPrefs"]["DefaultTerms"] = {"value": terms["Net 30"]["Id"]}
    prefs["SalesFormsPrefs"]["DefaultDiscountAccount"] = "86"
    if us:
        prefs["TaxPrefs"]["TaxGroupCodeRef"] = {"value": "2"}
    prefs["OtherPrefs"]["NameValue"][1:1] = [
        {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
        {"Name": "UncategorizedAssetAccountId", "Value": "32"},
        {"Name": "UncategorizedIncomeAccountId", "Value": "30"},
        {"Name": "UncategorizedExpenseAccountId", "Value": "31"},
    ]


def _line(item: str, qty: float, price: float, taxable: bool = False) -> dict[str, Any]:
    detail: dict[str, Any] = {"ItemRef": {"value": item}, "Qty": qty, "UnitPrice": price}
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": round(qty * price, 2),
        "SalesItemLineDetail": detail,
        "_taxable": taxable,
    }


def _sales_lines(books: Books, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """US lines carry TAX/NON; other countries the company's first tax code."""
    first_code = next(iter(books.c.table("TaxCode")))
    for ln in lines:
        taxable = ln.pop("_taxable")
        code = ("TAX" if taxable else "NON") if books.c.us else first_code
        ln["SalesItemLineDetail"]["TaxCodeRef"] = {"value": code}
    return lines


def _transactions(books: Books) -> None:
    """A few weeks of business: invoices (some paid in part or in full), five payments, an
    estimate, a sales receipt, a credit memo, a bill, a card purchase and time activities."""
    today = books.today()

    def day(n: int) -> str:
        return (today - timedelta(days=n)).isoformat()

    def invoice(customer: str, n: int, lines: list[dict[str, Any]], tax: bool = False) -> dict:
        body: dict[str, Any] = {
            "CustomerRef": {"value": customer},
            "TxnDate": day(n),
            "Line": _sales_lines(books, lines),
        }
        if tax and books.c.us:
            body["TxnTaxDetail"] = {"TxnTaxCodeRef": {"value": "2"}}  # California 8%
        return books.create("Invoice", body)

    def pay(customer: str, n: int, total: float, inv: dict[str, Any] | None, method: str) -> None:
        body: dict[str, Any] = {
            "CustomerRef": {"value": customer},
            "TxnDate": day(n),
            "TotalAmt": total,
            "PaymentMethodRef": {"value": method},
            "DepositToAccountRef": {"value": "4"},
        }
        if inv is not None:
            body["Line"] = [
                {"Amount": total, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}
            ]
        books.create("Payment", body)

    amy_1 = invoice("1", 28, [_line("7", 2, 50), _line("4", 1, 75)])
    amy_2 = invoice("1", 21, [_line("10", 3, 35)])
    bills = invoice("2", 20, [_line("17", 2, 35)])
    cool = invoice("3", 18, [_line("9", 1, 300)])
    dukes = invoice("4", 14, [_line("6", 4, 40, taxable=True)], tax=True)
    invoice("7", 6, [_line("14", 5, 20, taxable=True)])
    pay("1", 20, 50.0, amy_1, "2")
    pay("1", 12, 105.0, amy_2, "1")
    pay("2", 10, 30.0, bills, "3")
    pay("3", 9, 300.0, cool, "2")
    pay("4", 7, float(dukes["TotalAmt"]), dukes, "4")
    books.create(
        "Estimate",
        {
            "CustomerRef": {"value": "3"},
            "TxnDate": day(5),
            "Line": _sales_lines(books, [_line("5", 1, 275, taxable=True)]),
        },
    )
    books.create(
        "SalesReceipt",
        {
            "CustomerRef": {"value": "5"},
            "TxnDate": day(4),
            "DepositToAccountRef": {"value": "4"},
            "PaymentMethodRef": {"value": "1"},
            "Line": _sales_lines(books, [_line("13", 10, 5, taxable=True)]),
        },
    )
    books.create(
        "CreditMemo",
        {
            "CustomerRef": {"value": "2"},
            "TxnDate": day(3),
            "Line": _sales_lines(books, [_line("12", 1, 20)]),
        },
    )
    books.create(
        "Bill",
        {
            "VendorRef": {"value": "1"},
            "TxnDate": day(15),
            "APAccountRef": {"value": "33"},
            "Line": [
                {
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "Amount": 75.0,
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "7"}},
                }
            ],
        },
    )
    books.create(
        "Purchase",
        {
            "PaymentType": "CreditCard",
            "AccountRef": {"value": "42"},
            "EntityRef": {"value": "3", "type": "Vendor"},
            "TxnDate": day(8),
            "Line": [
                {
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "Amount": 25.0,
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "28"}},
                }
            ],
        },
    )
    books.create(
        "TimeActivity",
        {
            "NameOf": "Employee",
            "EmployeeRef": {"value": "1"},
            "CustomerRef": {"value": "1"},
            "ItemRef": {"value": "2"},
            "TxnDate": day(2),
            "BillableStatus": "Billable",
            "HourlyRate": 75,
            "Hours": 3,
            "Minutes": 0,
            "Description": "Garden design consultation",
        },
    )
    books.create(
        "TimeActivity",
        {
            "NameOf": "Employee",
            "EmployeeRef": {"value": "2"},
            "CustomerRef": {"value": "3"},
            "TxnDate": day(1),
            "BillableStatus": "NotBillable",
            "Hours": 2,
            "Minutes": 30,
            "Description": "Site visit",
        },
    )
