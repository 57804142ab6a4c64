"""xero_pull: the xero sync worker, provider to hub; the steps live in booksync.engine.handler."""

from booksync.engine.handler import worker_handler

lambda_handler = worker_handler("xero", "pull")
