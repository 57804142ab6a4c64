"""Sending work to the per-provider FIFO queues."""

from __future__ import annotations

from typing import Any

from booksync.messages import Pull, PushRecord, direction_of, encode
from booksync.settings import Queues


class Enqueuer:
    """Puts messages on the queue of their provider and direction."""

    def __init__(self, sqs: Any, queues: Queues) -> None:
        self._sqs = sqs
        self._queues = queues

    def send(self, message: PushRecord | Pull) -> str:
        url = self._queues.url(message.provider, direction_of(message))
        reply = self._sqs.send_message(
            QueueUrl=url,
            MessageBody=encode(message),
            MessageGroupId=message.group_id(),
            MessageDeduplicationId=message.dedup_id(),
        )
        message_id: str = reply["MessageId"]
        return message_id
