"""Outbound to Slack through `slack_sdk`'s WebClient.

Retries are not done here: a 429 or a transient failure becomes a `SendError` carrying `Retry-After`, and the
outbox schedules the next attempt no earlier than that (so no sender ever sleeps, and one member's trouble never
holds up the others). Permanent failures (deleted user, unknown channel, …) are not retried.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.platforms.base import OutboundMessage, Recipient, SendError, SendResult
from bot.platforms.slack.blocks import TEXT_LIMIT, build_messages, mrkdwn_escape
from conversations.charts import Chart, charts_of
from conversations.render import neutralise

log = logging.getLogger(__name__)

PERMANENT = frozenset(
    {
        "user_not_found",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "account_inactive",
        "user_disabled",
        "cannot_dm_bot",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "missing_scope",
        "restricted_action",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
        "not_enabled",
        "view_too_large",
        "invalid_arguments",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
    }
)


class SlackMessenger:
    platform = "slack"
    escape: Callable[[str], str] = staticmethod(mrkdwn_escape)

    def __init__(self, client: WebClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, token: str, api_url: str | None = None) -> SlackMessenger:
        # No SDK retries: its default ConnectionErrorRetryHandler re-posts a message whose answer was lost, and
        # chat.postMessage has no idempotency key. The outbox retries instead, looking in the DM history first.
        kwargs: dict[str, Any] = {"token": token, "timeout": 10, "retry_handlers": []}
        if api_url:
            kwargs["base_url"] = api_url
        return cls(WebClient(**kwargs))

    def send(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        if message.kind == "home":
            return self._publish_home(recipient, message)
        if message.uncertain and message.outbox_id:
            found = self._already_posted(recipient, message.outbox_id)
            if found is not None:
                log.info(
                    "outbox message %s was already delivered before a crash; not sending it again", message.outbox_id
                )
                return SendResult(message_id=found)
        fallback = message.text if len(message.text) <= TEXT_LIMIT else message.text[: TEXT_LIMIT - 1] + "…"
        last_ts = None
        for part, blocks in enumerate(build_messages(message.text, message.replies, message.locale, message.run_id)):
            text = fallback if part == 0 else "…"  # notify once; the rest of a long message follows quietly
            try:
                extra: dict[str, Any] = {"thread_ts": message.thread} if message.thread else {}
                response = self.client.chat_postMessage(
                    channel=recipient.address,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    **extra,
                    metadata={"event_type": "flywheel_outbox", "event_payload": {"outbox_id": message.outbox_id or 0}},
                )
            except SlackApiError as exc:
                raise self._error(exc) from None
            except OSError as exc:  # connection dropped, timeout: Slack may have posted it
                raise SendError(type(exc).__name__, maybe_sent=True) from None
            last_ts = response.get("ts")
        charts = _charts(message)
        if charts:  # the picture follows the words it illustrates, in the same DM
            self._upload(charts, message, channel=self._dm(recipient.address))
        return SendResult(message_id=last_ts)

    def _dm(self, address: str) -> str:
        """files.completeUploadExternal shares into a conversation id: a user's DM is opened first."""
        if not address.startswith(("U", "W")):
            return address
        try:
            return str(self.client.conversations_open(users=address)["channel"]["id"])
        except SlackApiError as exc:
            raise self._error(exc) from None

    def _upload(self, charts: Sequence[Chart], message: OutboundMessage, *, channel: str | None) -> str:
        """The charts as one PNG through Slack's upload flow: files.getUploadURLExternal, the bytes POSTed to the URL
        it gives, files.completeUploadExternal (shared into `channel`; None keeps it private, for the App Home).
        The alt text is the message's own words (what the chart shows). Returns the file id."""
        from bot.platforms.png import render  # Pillow only for processes that draw

        png = render(charts)
        alt = alt_text(message.text)
        try:
            got = self.client.files_getUploadURLExternal(filename="flywheel-chart.png", length=len(png), alt_txt=alt)
            request = urllib.request.Request(  # the URL Slack just gave us
                str(got["upload_url"]), data=png, method="POST", headers={"Content-Type": "image/png"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                if answer.status != 200:
                    raise SendError(f"upload_http_{answer.status}")
            extra: dict[str, Any] = {"channel_id": channel} if channel else {}
            if channel and message.thread:
                extra["thread_ts"] = message.thread
            self.client.files_completeUploadExternal(files=[{"id": got["file_id"], "title": "chart"}], **extra)
        except SlackApiError as exc:
            raise self._error(exc) from None
        except OSError as exc:
            raise SendError(type(exc).__name__, maybe_sent=True) from None
        return str(got["file_id"])

    def status(self, user_id: str) -> dict[str, Any] | None:
        """The user's status (`status_text`, `status_emoji`, `status_expiration`) from `users.info` (users:read)."""
        try:
            profile = (self.client.users_info(user=user_id).get("user") or {}).get("profile") or {}
        except SlackApiError as exc:
            raise self._error(exc) from None
        return {k: profile.get(k) for k in ("status_text", "status_emoji", "status_expiration")}

    def _already_posted(self, recipient: Recipient, outbox_id: int) -> str | None:
        """chat.postMessage has no idempotency key, so after a crash between the call and our commit we look for
        the outbox id we put in the message metadata among the channel's recent messages."""
        try:
            channel = recipient.address
            if channel.startswith(("U", "W")):
                channel = self.client.conversations_open(users=channel)["channel"]["id"]
            history = self.client.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        except SlackApiError as exc:
            raise self._error(exc) from None
        for item in history.get("messages") or []:
            meta = item.get("metadata") or {}
            if (
                meta.get("event_type") == "flywheel_outbox"
                and (meta.get("event_payload") or {}).get("outbox_id") == outbox_id
            ):
                return item.get("ts")
        return None

    def _publish_home(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        """The App Home tab shows the member's own view (`/me`); publishing replaces the previous one."""
        blocks = build_messages(message.text, (), message.locale)[0][:99]
        charts = _charts(message)
        if charts:  # the latest chart, as an image block of the uploaded (private) file
            file_id = self._upload(charts, message, channel=None)
            blocks.append({"type": "image", "slack_file": {"id": file_id}, "alt_text": alt_text(message.text)})
        try:
            self.client.views_publish(user_id=recipient.address, view={"type": "home", "blocks": blocks})
        except SlackApiError as exc:
            raise self._error(exc) from None
        return SendResult(message_id=None)

    @staticmethod
    def _error(exc: SlackApiError) -> SendError:
        response = exc.response
        status = getattr(response, "status_code", 0) or 0
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        code = str(data.get("error") or f"http_{status}")
        if status == 429 or code == "ratelimited":
            retry_after = _retry_after(getattr(response, "headers", {}) or {})
            return SendError("ratelimited", retry_after=retry_after)
        if code in PERMANENT:
            return SendError(code, permanent=True)
        # 5xx, fatal_error, internal_error, …: retried with backoff, after checking whether it went out after all
        return SendError(code, maybe_sent=status >= 500 or code in ("fatal_error", "internal_error", "request_timeout"))


def _charts(message: OutboundMessage) -> list[Chart]:
    return [c for r in message.replies for c in charts_of(r.template, r.params)]


ALT_LIMIT = 2000  # characters of an image block's alt_text


CHART_LEAD = ("📈", "📊")  # how the charts' own lines begin (prompts/charts/): after the rest of a message like /me


def alt_text(text: str) -> str:
    """What the chart shows, in words: the charts' lines of the message (from its 📈 or 📊 on) as plain text (no
    mrkdwn), within Slack's limit."""
    starts = [i for i in (text.find(lead) for lead in CHART_LEAD) if i >= 0]
    plain = neutralise(text[min(starts) :] if starts else text).replace("*", "").replace("`", "")
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return plain if len(plain) <= ALT_LIMIT else plain[: ALT_LIMIT - 1] + "…"


def _retry_after(headers: Any) -> float | None:
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None
