"""Opaque list cursors: the key a page stopped at, base64url, checked on the way back."""

from __future__ import annotations

import base64
import binascii

from booksync.errors import InvalidInput

MAX_KEY = 512


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str = "") -> str:
    """The key a cursor names; 400 naming `cursor` for anything this API did not give out."""
    try:
        key = base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the cursor is not one this API gave out", field="cursor") from exc
    if not key or len(key) > MAX_KEY or not key.startswith(prefix):
        raise InvalidInput("the cursor is not one this API gave out", field="cursor")
    return key
