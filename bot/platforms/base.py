"""The outbound side every platform implements, and the recipient/message shapes it receives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from conversations.clock import Clock
from conversations.machine import Reply


@dataclass(frozen=True)
class Recipient:
    """Where a message goes: a member's DM on a platform (`address` is the platform user id)."""

    platform: str
    address: str
    member_id: int | None = None
    name: str = ""
    timezone: str | None = None


@dataclass(frozen=True)
class OutboundMessage:
    """A message ready to send: its text in the recipient's language plus the structured replies behind it,
    from which a platform may build buttons or cards."""

    text: str
    replies: Sequence[Reply] = ()
    kind: str = "reply"
    outbox_id: int | None = None
    locale: str = "en"
    run_id: int | None = None  # the conversation this message belongs to, if any
    thread: str | None = None  # platform id of the message this one answers in a thread (Slack `thread_ts`)
    uncertain: bool = False  # an earlier attempt may have been delivered (its sender died before recording it)


@dataclass(frozen=True)
class SendResult:
    message_id: str | None = None


class SendError(Exception):
    """A failed send. `permanent` failures are not retried; `retry_after` (seconds) is honoured if given; after a
    `maybe_sent` failure the next attempt is `uncertain` (it checks before sending again)."""

    def __init__(
        self, reason: str, *, permanent: bool = False, retry_after: float | None = None, maybe_sent: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent  # the platform may have taken the message anyway (lost answer, timeout, 5xx)


class Messenger(Protocol):
    platform: str
    escape: Callable[[str], str]

    def send(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        """Deliver one message; raise SendError on failure. When `message.uncertain`, first make sure an earlier
        attempt did not already deliver it (platforms without idempotency keys look it up)."""


@dataclass
class FakeMessenger:
    """Records every message instead of sending it: the transcript that flow tests assert on."""

    platform: str = "console"
    escape: Callable[[str], str] = str
    sent: list[tuple[Recipient, OutboundMessage]] = field(default_factory=list)
    sent_at: list[datetime] = field(default_factory=list)
    fail_with: Callable[[Recipient, OutboundMessage], SendError | None] | None = None
    clock: Clock | None = None

    def send(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        if self.fail_with is not None:
            error = self.fail_with(recipient, message)
            if error is not None:
                raise error
        self.sent.append((recipient, message))
        self.sent_at.append(self.clock.now() if self.clock else datetime.now(UTC))
        return SendResult(message_id=str(len(self.sent)))

    def texts_for(self, address: str) -> list[str]:
        return [m.text for r, m in self.sent if r.address == address]

    def clear(self) -> None:
        self.sent.clear()
        self.sent_at.clear()
