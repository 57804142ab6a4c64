"""xero_push: the xero sync worker, hub to provider; the engine is booksync.engine.worker."""

from booksync.engine.worker import worker_handler

lambda_handler = worker_handler("xero", "push")
