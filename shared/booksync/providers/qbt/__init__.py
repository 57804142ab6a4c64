"""QuickBooks Time (formerly TSheets): REST API v1 client, mappers and sync adapters."""
