"""qbo_pull: the qbo sync worker, provider to hub; the steps live in booksync.engine.handler."""

from booksync.engine.handler import worker_handler

lambda_handler = worker_handler("qbo", "pull")
