"""xero_pull: the xero sync worker, provider to hub; the engine is booksync.engine.worker."""

from booksync.engine.worker import worker_handler

lambda_handler = worker_handler("xero", "pull")
