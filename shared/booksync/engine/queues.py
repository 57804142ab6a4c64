"""Sending work to the per-provider FIFO queues."""

from __future__ import annotations

from typing import Any

from booksync.engine.messages import Message, direction_of, encode
from booksync.settings import Queues


class Enqueuer:
    """Puts messages on the queue of their provider and direction."""

    def __init__(self, sqs: Any, queues: Queues) -> None:
        self._sqs = sqs
        self._queues = queues

    def send(self, message: Message) -> str:
        url = self._queues.url(message.provider, direction_of(message))
        reply = self._sqs.send_message(
            QueueUrl=url,
            MessageBody=encode(message),
            MessageGroupId=message.group_id(),
            MessageDeduplicationId=message.dedup_id(),
        )
        message_id: str = reply["MessageId"]
        return message_id

    def send_many(self, messages: list[Message]) -> int:
        """Send in batches of ten (SQS's most per call); returns how many were sent.
        A message SQS refuses raises, naming it, so nothing is dropped unseen."""
        sent = 0
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            by_queue: dict[str, list[Message]] = {}
            for message in chunk:
                url = self._queues.url(message.provider, direction_of(message))
                by_queue.setdefault(url, []).append(message)
            for url, group in by_queue.items():
                reply = self._sqs.send_message_batch(
                    QueueUrl=url,
                    Entries=[
                        {
                            "Id": str(i),
                            "MessageBody": encode(m),
                            "MessageGroupId": m.group_id(),
                            "MessageDeduplicationId": m.dedup_id(),
                        }
                        for i, m in enumerate(group)
                    ],
                )
                if reply.get("Failed"):
                    raise RuntimeError(f"SQS refused messages: {reply['Failed']}")
                sent += len(group)
        return sent
