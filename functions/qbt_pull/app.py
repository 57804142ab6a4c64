"""qbt_pull: the qbt sync worker, provider to hub; the steps live in booksync.workers."""

from booksync.workers import worker_handler

lambda_handler = worker_handler("qbt", "pull")
