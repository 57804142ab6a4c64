"""QuickBooks Online: the v3 Accounting API client, pure mappers and the sync adapters."""
