"""Demo-company data for a new Xero organisation (UK edition, like Xero's UK Demo Company).

Accounts of each common type (incl. bank accounts, which always accept payments, and a
clearing account with `EnablePaymentsToAccount`), UK VAT tax rates (TaxType codes as in
Xero-OpenAPI `TaxType` enum: OUTPUT2, INPUT2, ZERORATEDOUTPUT, ...), contacts (two archived),
items, two tracking categories, a few invoices in different states and Payroll UK employees
and leave types (paid "Holiday", unpaid "Unpaid Leave", an inactive "Study Leave"; no leave
applications: booksync makes those).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .dates import iso_string, ms_date
from .model import Org, new_id

ACCOUNTS = [
    ("090", "Business Bank Account", "BANK", "NONE", {"BankAccountNumber": "12345678"}),
    ("091", "Business Savings Account", "BANK", "NONE", {"BankAccountNumber": "87654321"}),
    ("200", "Sales", "SALES", "OUTPUT2", {}),
    ("260", "Other Revenue", "REVENUE", "OUTPUT2", {}),
    ("270", "Interest Income", "OTHERINCOME", "NONE", {}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT2", {}),
    ("400", "Advertising & Marketing", "OVERHEADS", "INPUT2", {}),
    ("429", "General Expenses", "OVERHEADS", "INPUT2", {}),
    ("463", "IT Software and Consumables", "EXPENSE", "INPUT2", {}),
    ("610", "Accounts Receivable", "CURRENT", "NONE", {"SystemAccount": "DEBTORS"}),
    ("630", "Inventory", "INVENTORY", "NONE", {}),
    ("710", "Office Equipment", "FIXED", "INPUT2", {}),
    ("800", "Accounts Payable", "CURRLIAB", "NONE", {"SystemAccount": "CREDITORS"}),
    ("820", "VAT", "CURRLIAB", "NONE", {"SystemAccount": "GST"}),
    ("855", "Clearing Account", "CURRLIAB", "NONE", {"EnablePaymentsToAccount": True}),
    ("900", "Loan", "TERMLIAB", "NONE", {}),
    ("970", "Owner A Funds Introduced", "EQUITY", "NONE", {}),
    ("477", "Wages and Salaries", "EXPENSE", "NONE", {}),
]

TAX_RATES = [
    ("OUTPUT2", "20% (VAT on Income)", 20.0, "OUTPUT", True),
    ("INPUT2", "20% (VAT on Expenses)", 20.0, "INPUT", False),
    ("RROUTPUT", "5% (VAT on Income)", 5.0, "OUTPUT", True),
    ("RRINPUT", "5% (VAT on Expenses)", 5.0, "INPUT", False),
    ("ZERORATEDOUTPUT", "Zero Rated Income", 0.0, "OUTPUT", True),
    ("ZERORATEDINPUT", "Zero Rated Expenses", 0.0, "INPUT", False),
    ("EXEMPTOUTPUT", "Exempt Income", 0.0, "EXEMPTOUTPUT", True),
    ("EXEMPTINPUT", "Exempt Expenses", 0.0, "EXEMPTINPUT", False),
    ("NONE", "No VAT", 0.0, "NONE", True),
]

CONTACTS = [
    ("Ridgeway University", "ap@ridgeway.example", "ACTIVE", "CUST-001"),
    ("Bayside Club", "secretary@bayside.example", "ACTIVE", "CUST-002"),
    ("City Limousines", "accounts@citylimo.example", "ACTIVE", None),
    ("PowerDirect", "billing@powerdirect.example", "ACTIVE", "SUPP-001"),
    ("Truxton Property Management", None, "ACTIVE", None),
    ("Boom FM", "ads@boomfm.example", "ARCHIVED", None),
    ("Hoyt Productions", None, "ARCHIVED", None),
]

ITEMS = [
    ("DevD", "Development work - developer onsite per day", 500.0, "200", 0.0),
    ("Train-MS", "Training: Microsoft Office (half day)", 250.0, "200", 0.0),
    ("BOOK", "Fish out of Water: Finding Your Brand", 19.95, "200", 12.5),
]

EMPLOYEES = [
    ("Mr.", "Jack", "Allan", "jack.allan@example.com", "1985-03-24", "M"),
    ("Ms.", "Charlotte", "Danes", "charlotte.danes@example.com", "1991-01-24", "F"),
    ("Mr.", "Oliver", "Gray", None, "1979-11-02", "M"),
]

# (name, isPaidLeave, isStatutoryLeave, isActive): "Study Leave" is a paid type the firm
# stopped using (an inactive type, refused for new leave).
LEAVE_TYPES = [
    ("Holiday", True, False, True),
    ("Sick Leave", True, False, True),
    ("Unpaid Leave", False, False, True),
    ("Statutory Maternity Pay", True, True, True),
    ("Statutory Paternity Pay", True, True, True),
    ("Study Leave", True, False, False),
]


def seed_demo(org: Org) -> None:
    now = org.now()
    stamp = ms_date(now)
    for tax_type, name, rate, report, revenue in TAX_RATES:
        org.data["TaxRates"][tax_type] = {
            "Name": name,
            "TaxType": tax_type,
            "ReportTaxType": report,
            "CanApplyToAssets": not revenue,
            "CanApplyToEquity": True,
            "CanApplyToExpenses": not revenue,
            "CanApplyToLiabilities": True,
            "CanApplyToRevenue": revenue,
            "DisplayTaxRate": rate,
            "EffectiveRate": rate,
            "Status": "ACTIVE",
            "TaxComponents": [
                {"Name": "VAT", "Rate": rate, "IsCompound": False, "IsNonRecoverable": False}
            ],
        }
    for code, name, acc_type, tax, extra in ACCOUNTS:
        body: dict[str, Any] = {"Code": code, "Name": name, "Type": acc_type, "TaxType": tax}
        body.update({k: v for k, v in extra.items() if k != "SystemAccount"})
        acc = org.save_account(body)
        if "SystemAccount" in extra:
            acc["SystemAccount"] = extra["SystemAccount"]
    contacts = []
    for name, email, status, number in CONTACTS:
        c = org.save_contact(
            {
                "Name": name,
                "EmailAddress": email,
                "ContactNumber": number,
                "FirstName": None,
                "LastName": None,
            },
            "create",
        )
        c["ContactStatus"] = status
        contacts.append(c)
    for code, name, price, account, cost in ITEMS:
        org.save_item(
            {
                "Code": code,
                "Name": name[:50],
                "Description": name,
                "SalesDetails": {"UnitPrice": price, "AccountCode": account, "TaxType": "OUTPUT2"},
                "PurchaseDetails": {"UnitPrice": cost, "AccountCode": "310", "TaxType": "INPUT2"},
            },
            "create",
        )
    region = org.save_tracking_category({"Name": "Region"})
    for opt in ("North", "South", "Eastside"):
        org.add_tracking_option(region["TrackingCategoryID"], {"Name": opt})
    dept = org.save_tracking_category({"Name": "Department"})
    for opt in ("Sales", "Support"):
        org.add_tracking_option(dept["TrackingCategoryID"], {"Name": opt})
    day = now.date()
    due = day + timedelta(days=30)
    lines = [
        {
            "Description": "Consulting",
            "Quantity": 2,
            "UnitAmount": 500,
            "AccountCode": "200",
            "TaxType": "OUTPUT2",
        }
    ]
    org.save_invoice(
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contacts[0]["ContactID"]},
            "Date": day.isoformat(),
            "DueDate": due.isoformat(),
            "Status": "DRAFT",
            "LineItems": lines,
            "Reference": "Draft work",
        },
        "create",
    )
    authorised = org.save_invoice(
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contacts[1]["ContactID"]},
            "Date": day.isoformat(),
            "DueDate": due.isoformat(),
            "Status": "AUTHORISED",
            "LineItems": lines,
            "Reference": "Monthly retainer",
        },
        "create",
    )
    paid = org.save_invoice(
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contacts[2]["ContactID"]},
            "Date": day.isoformat(),
            "DueDate": due.isoformat(),
            "Status": "AUTHORISED",
            "LineItems": [
                {
                    "Description": "Airport transfer",
                    "Quantity": 1,
                    "UnitAmount": 120,
                    "AccountCode": "200",
                    "TaxType": "OUTPUT2",
                }
            ],
        },
        "create",
    )
    org.save_payment(
        {
            "Invoice": {"InvoiceID": paid["InvoiceID"]},
            "Account": {"Code": "090"},
            "Date": day.isoformat(),
            "Amount": paid["Total"],
            "Reference": "BACS",
        }
    )
    org.save_payment(
        {
            "Invoice": {"InvoiceID": authorised["InvoiceID"]},
            "Account": {"Code": "090"},
            "Date": day.isoformat(),
            "Amount": 100,
            "Reference": "Part payment",
        }
    )
    org.save_invoice(
        {
            "Type": "ACCPAY",
            "Contact": {"ContactID": contacts[3]["ContactID"]},
            "InvoiceNumber": "PD-7781",
            "Date": day.isoformat(),
            "DueDate": due.isoformat(),
            "Status": "AUTHORISED",
            "LineAmountTypes": "Inclusive",
            "LineItems": [
                {
                    "Description": "Electricity",
                    "Quantity": 1,
                    "UnitAmount": 240,
                    "AccountCode": "429",
                    "TaxType": "INPUT2",
                }
            ],
        },
        "create",
    )
    for title, first, last, email, dob, gender in EMPLOYEES:
        emp_id = new_id()
        org.data["Employees"][emp_id] = {
            "employeeID": emp_id,
            "title": title,
            "firstName": first,
            "lastName": last,
            "dateOfBirth": f"{dob}T00:00:00",
            "gender": gender,
            "email": email,
            "phoneNumber": None,
            "startDate": "2020-04-06T00:00:00",
            "nationalInsuranceNumber": None,
            "isOffPayrollWorker": False,
            "address": {
                "addressLine1": "171 Midsummer Boulevard",
                "addressLine2": None,
                "city": "Milton Keynes",
                "county": None,
                "countryName": "UNITED KINGDOM",
                "postCode": "MK9 1EB",
            },
            "payrollCalendarID": None,
            "updatedDateUTC": iso_string(now),
            "createdDateUTC": iso_string(now),
            "endDate": None,
            "contracts": [],
        }
    for name, paid_leave, statutory, active in LEAVE_TYPES:
        lt_id = new_id()
        org.data["LeaveTypes"][lt_id] = {
            "leaveID": None,
            "leaveTypeID": lt_id,
            "name": name,
            "isPaidLeave": paid_leave,
            "showOnPayslip": True,
            "updatedDateUTC": iso_string(now),
            "isActive": active,
            "isStatutoryLeave": statutory,
        }
    del stamp
    org.take_events()  # seeding is not a change anyone subscribed to
