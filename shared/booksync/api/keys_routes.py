"""/v1/api-keys: a firm's admins list, create and revoke the firm's practice API keys
(the operator CLI does the same: `booksync api-keys ...`). Admin scope only."""

from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from booksync.api.auth import require
from booksync.observability import logger
from booksync.store import audit, tenants

KeyId = Annotated[str, Path(pattern="^[0-9a-f]{8}$", description="the key's public id")]


class NewKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    scope: Literal["read", "write", "admin"]
    name: str | None = Field(default=None, min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None


class KeyOut(BaseModel):
    key_id: str
    name: str | None
    scope: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None


class NewKeyOut(BaseModel):
    key: str = Field(description="the key itself: shown this once, stored only as a hash")
    key_id: str
    scope: str
    name: str | None
    expires_at: str | None


def make_keys_router() -> Router:
    router = Router()  # type: ignore[no-untyped-call]

    @router.get("/v1/api-keys", summary="List the firm's API keys", tags=["api-keys"])
    def list_keys(
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> KeyPage:
        caller = require(router, "admin")
        items, next_cursor = tenants.list_api_keys(caller.tenant_id, limit, cursor)
        return KeyPage.model_validate({"items": items, "next_cursor": next_cursor})

    @router.post("/v1/api-keys", summary="Create an API key (shown once)", tags=["api-keys"])
    def create_key(body: NewKeyIn) -> Response[str]:
        caller = require(router, "admin")
        expires: datetime | None = body.expires_at
        made = tenants.create_api_key(
            caller.tenant_id, body.scope, name=body.name, expires_at=expires
        )
        logger.info(
            "api key created",
            extra={"key_id": made.key_id, "scope": made.scope, "by": caller.key_id},
        )
        audit.record(caller.tenant_id, caller.key_id, "api_key.create", key_id=made.key_id)
        out = NewKeyOut(
            key=made.key,
            key_id=made.key_id,
            scope=made.scope,
            name=made.name,
            expires_at=made.expires_at,
        )
        return Response(
            status_code=201,
            content_type="application/json",
            body=out.model_dump_json(),
            headers={"Cache-Control": "no-store"},
        )

    @router.delete("/v1/api-keys/<key_id>", summary="Revoke an API key", tags=["api-keys"])
    def revoke_key(key_id: KeyId) -> dict[str, Any]:
        caller = require(router, "admin")
        revoked = tenants.revoke_api_key(caller.tenant_id, key_id)
        logger.info("api key revoked", extra={"revoked": key_id, "by": caller.key_id})
        audit.record(caller.tenant_id, caller.key_id, "api_key.revoke", key_id=key_id)
        return revoked

    return router
