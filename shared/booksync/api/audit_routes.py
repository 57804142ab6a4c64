"""/v1/audit: the firm's audit trail, newest first: who did which operator or admin action,
and when. Admin keys only; a firm reads its own rows and no one else's."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from booksync.api.auth import require
from booksync.api.paging import decode_cursor, encode_cursor
from booksync.store import audit


def make_audit_router() -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    @router.get("/v1/audit", summary="The firm's audit trail, newest first", tags=["audit"])
    def list_audit(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> dict[str, Any]:
        caller = require(router, "admin")
        items, last = audit.list_for(
            caller.tenant_id, limit, decode_cursor(cursor) if cursor else None
        )
        return {"items": items, "next_cursor": encode_cursor(last) if last else None}

    return router
