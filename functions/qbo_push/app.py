"""qbo_push: the qbo sync worker, hub to provider; the engine is booksync.engine.worker."""

from booksync.engine.worker import worker_handler

lambda_handler = worker_handler("qbo", "push")
