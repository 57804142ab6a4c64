"""The hub's content models: the canonical shape every provider maps to.

A hub record's `data` is one of these models dumped to JSON (which kind uses which:
hub/kinds/). Providers' mappers translate to and from them; the practice API validates
against them; `content_hash` of the dumped model decides whether anything changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
DEFAULT_CONTACT_TYPES = ("Client", "Prospect", "Supplier", "Other")


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Email(_Content):
    address: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    label: Literal["primary", "billing", "other"] = "primary"


class Phone(_Content):
    number: str = Field(min_length=1, max_length=40)
    label: Literal["primary", "mobile", "fax", "other"] = "primary"


class Address(_Content):
    line1: str = Field(default="", max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    region: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=30)
    country: str = Field(default="", max_length=100)


class Contact(_Content):
    """A client, prospect, supplier...: an organisation or a person."""

    kind: Literal["organisation", "person"] = "organisation"
    name: str = Field(min_length=1, max_length=255)
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    contact_type: str = Field(default="Client", min_length=1, max_length=64)
    emails: list[Email] = Field(default_factory=list, max_length=10)
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    physical_address: Address | None = None
    mailing_address: Address | None = None
    active: bool = True
    parent_id: str | None = Field(default=None, max_length=64)

    @property
    def primary_email(self) -> str | None:
        return self.emails[0].address if self.emails else None

    @field_validator("name")
    @classmethod
    def _no_control_characters(cls, value: str) -> str:
        if any(ord(ch) < 32 for ch in value):
            raise ValueError("must not contain tabs, newlines or other control characters")
        return value


class WorkItem(_Content):
    """A job under a contact (client:job)."""

    contact_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    work_type: str = Field(default="", max_length=64)
    status: Literal["active", "completed", "cancelled"] = "active"


class User(_Content):
    """A member of staff."""

    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    active: bool = True
    task_types: list[str] = Field(default_factory=list, max_length=50)
    roles: list[str] = Field(default_factory=list, max_length=50)


class ContactType(_Content):
    name: str = Field(min_length=1, max_length=64)


def content_hash(data: dict[str, Any]) -> str:
    """Hash of normalized content: equal content, equal hash, whatever the key order."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
