"""qbo_push: the qbo sync worker, hub to provider; the steps live in booksync.engine.handler."""

from booksync.engine.handler import worker_handler

lambda_handler = worker_handler("qbo", "push")
