"""Which QBO entities exist and how each behaves (list vs transaction, void, CDC, queryable).

Entity list from python-quickbooks `client.QuickBooks._BUSINESS_OBJECTS` and `objects/*.py`;
behaviour from PROVIDERS.md 1.3 (delete = `Active:false` for name lists; void paths from
python-quickbooks `mixins.VoidMixin`; CDC exclusions from the change-data-capture page).
"""

from __future__ import annotations

# Name lists: no hard delete, deactivated with Active:false; queries hide inactive rows.
LIST_KINDS = {
    "Account",
    "Customer",
    "Vendor",
    "Employee",
    "Item",
    "Class",
    "Department",
    "Term",
    "PaymentMethod",
    "TaxCode",
    "TaxRate",
    "TaxAgency",
    "CustomerType",
    "CompanyCurrency",
}
TXN_KINDS = {
    "Invoice",
    "Payment",
    "SalesReceipt",
    "Estimate",
    "CreditMemo",
    "RefundReceipt",
    "Bill",
    "BillPayment",
    "Purchase",
    "PurchaseOrder",
    "VendorCredit",
    "JournalEntry",
    "Deposit",
    "Transfer",
    "TimeActivity",
    "CreditCardPayment",
}
OTHER_KINDS = {"Attachable", "RecurringTransaction", "ExchangeRate", "Budget"}
SINGLETONS = {"Preferences", "CompanyInfo"}
ALL_KINDS = LIST_KINDS | TXN_KINDS | OTHER_KINDS | SINGLETONS

# Created only through `POST /taxservice/taxcode` (TaxCode/TaxRate read-only on /taxcode).
READ_ONLY = {"TaxCode", "TaxRate", "ExchangeRate"}
# Invoice: ?operation=void; the others: ?operation=update&include=void (VoidMixin).
VOIDABLE = {"Invoice", "Payment", "SalesReceipt", "BillPayment"}
CDC_EXCLUDED = {"TimeActivity", "TaxCode", "TaxRate", "TaxAgency", "JournalCode"}
NAME_POOL = ("Customer", "Vendor", "Employee")
# Transactions whose DocNumber must be unique (6140).
DOCNUM_UNIQUE = {"Invoice", "SalesReceipt", "Estimate", "CreditMemo", "RefundReceipt"}
# Sales forms that take SalesItemLineDetail lines with Amount = Qty x UnitPrice (6070).
SALES_FORMS = {"Invoice", "SalesReceipt", "Estimate", "CreditMemo", "RefundReceipt"}

BY_PATH = {k.lower(): k for k in ALL_KINDS}

# The JSON key an entity travels under where it differs from its name and path: a credit card
# payment answers as "CreditCardPaymentTxn" (python-quickbooks
# objects/creditcardpayment_entity.py: "JSON object name doesn't match the endpoint name").
JSON_NAME = {"CreditCardPayment": "CreditCardPaymentTxn"}

# Which kind a *Ref field points at (used for existence and Active checks -> 610).
REF_KINDS = {
    "CustomerRef": "Customer",
    "VendorRef": "Vendor",
    "EmployeeRef": "Employee",
    "ItemRef": "Item",
    "ClassRef": "Class",
    "DepartmentRef": "Department",
    "SalesTermRef": "Term",
    "TermRef": "Term",
    "PaymentMethodRef": "PaymentMethod",
    "DepositToAccountRef": "Account",
    "IncomeAccountRef": "Account",
    "ExpenseAccountRef": "Account",
    "AssetAccountRef": "Account",
    "AccountRef": "Account",
    "APAccountRef": "Account",
    "ARAccountRef": "Account",
    "ProjectRef": "Customer",
    "CustomerTypeRef": "CustomerType",
    "TaxAgencyRef": "TaxAgency",
    "TxnTaxCodeRef": "TaxCode",
    "TaxCodeRef": "TaxCode",
    "TaxRateRef": "TaxRate",
    # Transfer and CreditCardPayment (and a check's paying account) name accounts too.
    "FromAccountRef": "Account",
    "ToAccountRef": "Account",
    "BankAccountRef": "Account",
    "CreditCardAccountRef": "Account",
}
