"""The one place exceptions become HTTP answers: application/problem+json (RFC 9457)."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from booksync.errors import Problem

PROBLEM_TYPE_BASE = "https://booksync.dev/problems/"
CONTENT_TYPE = "application/problem+json"


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_suffix: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[str]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + type_suffix,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    body.update(extra)
    return Response(
        status_code=status,
        content_type=CONTENT_TYPE,
        body=json.dumps(body),
        headers=headers or {},
    )


def from_problem(exc: Problem) -> Response[str]:
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem_response(exc.status, exc.title, exc.detail, exc.type_suffix, exc.field, headers)


def _field_of(loc: tuple[Any, ...]) -> str:
    # Powertools locations look like ("body", "name") or ("query", "limit"); malformed
    # JSON is ("body", <character position>): the field at fault is the body itself
    if len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
        return "body"
    parts = (
        [str(p) for p in loc[1:]]
        if loc and loc[0] in ("body", "query", "path")
        else list(map(str, loc))
    )
    return ".".join(parts) or str(loc[0] if loc else "body")


# a rule across fields of a model names the field at fault first: "total: ... does not add up"
_MODEL_RULE = re.compile(r"^Value error, ([A-Za-z_][\w.]*): (.*)$", re.DOTALL)


def _located(error: Any) -> tuple[str, str]:
    """(field, message) of one error; a model rule's own field when it names one."""
    field = _field_of(tuple(error.get("loc", ())))
    message = str(error.get("msg", "invalid"))
    rule = _MODEL_RULE.match(message)
    if rule is not None:
        inner = rule.group(1)
        field = inner if field == "body" else f"{field}.{inner}"
        message = rule.group(2)
    return field, message


def from_validation(exc: RequestValidationError) -> Response[str]:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field, message = _located(first)
    invalid = [dict(zip(("field", "message"), _located(e), strict=True)) for e in errors]
    return problem_response(
        400,
        "Invalid request",
        f"{field}: {message}",
        "invalid-request",
        field=field,
        invalid_params=invalid,
    )
