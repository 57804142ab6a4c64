"""qbt_pull: the qbt sync worker, provider to hub; the steps live in booksync.engine.handler."""

from booksync.engine.handler import worker_handler

lambda_handler = worker_handler("qbt", "pull")
