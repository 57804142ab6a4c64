"""QBO fault envelopes: the ValidationFault body and the gateway's lowercase 401/403 body.

Shapes from PROVIDERS.md 1.5 (developer.intuit.com error-codes page; intuit/QuickBooks-V3-PHP-SDK
#241 for the 6240 wording; python-quickbooks `client.handle_exceptions`, which reads
`Fault.Error[].Message/Detail/code`).
"""

from __future__ import annotations

from typing import Any


class QBOFault(Exception):
    """One API fault. `code` is a string, as on the wire; `status` is the HTTP status."""

    def __init__(
        self,
        code: str | int,
        message: str,
        detail: str = "",
        element: str = "",
        status: int = 400,
        ftype: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = str(code)
        self.message = message
        self.detail = detail
        self.element = element
        self.status = status
        self.ftype = ftype

    def error(self) -> dict[str, Any]:
        return {
            "Message": self.message,
            "Detail": self.detail,
            "code": self.code,
            "element": self.element,
        }

    def fault(self) -> dict[str, Any]:
        return {"Error": [self.error()], "type": self.ftype}


def required(param: str, element: str = "") -> QBOFault:
    return QBOFault(
        2020,
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {param} is missing in the request",
        element or param,
    )


def invalid_field(detail: str, element: str = "") -> QBOFault:
    return QBOFault(2010, "Request has invalid or unsupported property", detail, element)


def not_found(kind: str, obj_id: str, element: str = "") -> QBOFault:
    """610: a missing or deleted id, or a reference to an inactive list item."""
    return QBOFault(
        610,
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. Check the "
        f"fields with accounts, customers, items, vendors or employees. ({kind} {obj_id})",
        element,
    )


def stale(obj_id: str) -> QBOFault:
    """5010; the user names in the real Detail are the two editors."""
    return QBOFault(
        5010,
        "Stale Object Error",
        "Stale Object Error : You and sim-user were working on this at the same time. "
        f"sim-user finished before you did, so your work was not saved. (Id {obj_id})",
    )


def duplicate_name(what: str = "customer, vendor or employee") -> QBOFault:
    return QBOFault(
        6240,
        "Duplicate Name Exists Error",
        f"The name supplied already exists. : Another {what} is already using this name. "
        "Please use a different name.",
    )


def cannot_link(txn_id: str) -> QBOFault:
    """620: a payment line's LinkedTxn names an invoice of another customer, or none at all
    (Chargebee KB "QuickBooks error code 620: TxnID cannot be linked": "ERROR MESSAGE:TxnID
    Cannot Be Linked ERROR DETAIL:TxnID Cannot Be Linked : <id>; MORE ERROR DETAIL:
    Payment.Line.LinkedTxn.TxnId"; Fieldwork KB: also for a deleted invoice)."""
    return QBOFault(
        620,
        "TxnID Cannot Be Linked",
        f"TxnID Cannot Be Linked : {txn_id}",
        "Payment.Line.LinkedTxn.TxnId",
    )


def business(detail: str, element: str = "", code: int = 6000) -> QBOFault:
    return QBOFault(
        code,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def period_closed() -> QBOFault:
    """6200; python-quickbooks #208 shows this Message (once with code 5010)."""
    return QBOFault(
        6200,
        "Account Period Closed, Cannot Update Through Services API",
        "Account Period Closed : The account period has closed and the books have been "
        "closed for this period.",
    )


def unsupported(detail: str) -> QBOFault:
    return QBOFault(500, "Unsupported Operation", detail)


def query_parse(detail: str) -> QBOFault:
    return QBOFault(4000, "Error parsing query", f"QueryParserError: {detail}")


def query_invalid(detail: str) -> QBOFault:
    return QBOFault(4001, "Invalid query", f"QueryValidationError: {detail}")


def gateway_fault(status: int, time_ms: int, detail: str = "") -> dict[str, Any]:
    """The lowercase `fault` body the API gateway sends for 401 (3200) and 403 (3100)."""
    if status == 401:
        code, name, ftype = "3200", "AuthenticationFailed", "AUTHENTICATION"
        detail = detail or "Token expired: the access token is invalid or has expired"
    else:
        code, name, ftype = "3100", "AuthorizationFailed", "SERVICE"
        detail = detail or "Authorization Failure: the token is not authorized for this company"
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": f"message={name}; errorCode=00{code}; statusCode={status}",
                    "detail": detail,
                    "code": code,
                    "element": None,
                }
            ],
            "type": ftype,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": time_ms,
        "status": None,
        "cdcresponse": [],
    }


def throttle_fault() -> dict[str, Any]:
    """429 body (PROVIDERS.md 1.4; blogs.intuit.com 2016-08-08)."""
    return {
        "Fault": {
            "Error": [
                {
                    "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                    "Detail": "The request limit was reached.  Try again later",
                    "code": "3001",
                    "element": "",
                }
            ],
            "type": "SERVICE",
        }
    }
