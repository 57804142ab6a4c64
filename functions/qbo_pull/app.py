"""qbo_pull: the qbo sync worker, provider to hub; the engine is booksync.engine.worker."""

from booksync.engine.worker import worker_handler

lambda_handler = worker_handler("qbo", "pull")
