"""The only code that talks to DynamoDB: the models (store/models.py) and, per table, the
reads and writes everyone else calls (records, links, cursors, connections, sync errors,
leases, tenants), each written once.

Other packages take the row types from here for their annotations and read a row's
attributes; they never call a model's DynamoDB methods (get, query, save, update).
"""

from booksync.settings import Tables
from booksync.store.models import (
    ApiKey,
    Connection,
    Cursor,
    Lease,
    Link,
    Record,
    SyncErrorRow,
    Tenant,
    bind_tables,
    open_clients,
    utcnow,
)

__all__ = [
    "ApiKey",
    "Connection",
    "Cursor",
    "Lease",
    "Link",
    "Record",
    "SyncErrorRow",
    "Tenant",
    "bind",
    "open_clients",
    "utcnow",
]


def bind(tables: Tables) -> None:
    """Point every model at its table; once at start, from the settings."""
    bind_tables(tables)
