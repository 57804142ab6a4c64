"""qbt_push: the qbt sync worker, hub to provider; the steps live in booksync.engine.handler."""

from booksync.engine.handler import worker_handler

lambda_handler = worker_handler("qbt", "push")
