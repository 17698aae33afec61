"""The whole Slack entry point: one `slack_bolt.App`, used by Socket Mode (`bot/platforms/slack/socket.py`) and by
HTTP mode (`SlackHttp` below, behind `POST /slack/events` in `bot/web.py`).

Bolt routes each request to a listener; a listener only translates Slack's payload into the neutral InboundEvent
(`bot/platforms/slack/inbound.py`) and acknowledges. The work happens where it always has: `Flywheel.handle`, the
form (`forms.py`), the outbox. What Bolt does not give us stays ours: event-id de-duplication in the database
across replicas (Bolt runs Slack's retries again; `handle` drops them), the outbox and its reconciliation, App Home,
admin alerts, the directory sync.

`process_before_response=True`: a listener finishes (the event is stored, its replies queued in the outbox) before
Slack gets its 200 — in HTTP mode on waitress's threads and in Socket Mode on the client's workers. The ack is then
the commit point: what was acknowledged is never lost to a crash or a SIGTERM, and a form's errors travel in the
ack. Bolt's default (ack at once, work on in its own thread pool) would answer a few milliseconds sooner, but work
would then outlive the request: a stopping replica could not wait for it, and Slack does not redeliver what was
acknowledged. `handle` stores and queues and never waits on Slack (the outbox pump sends), so it stays well within
Slack's 3 s.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.signature import Clock, SignatureVerifier

from bot.platforms.slack import forms
from bot.platforms.slack.inbound import Parsed, from_command, from_events_api, from_interaction
from bot.ports import Server
from conversations.commands import COMMANDS

log = logging.getLogger(__name__)

ANY = re.compile(".*", re.DOTALL)
REJECTED = b'{"ok":false,"error":"invalid_request"}'


def build(app: Server, *, client: WebClient, poke: Callable[[], None] = lambda: None) -> App:
    """The Bolt app for `app`, replying through `client` (the messenger's: `SLACK_API_URL` is its base_url)."""
    token = client.token
    bolt = App(
        name="flywheel",
        logger=_bolt_logger(),
        # No token check at start-up (Bolt's default calls auth.test in the constructor, and its single-workspace
        # authorization calls it on the first request otherwise): a replica starts, and answers, whether or not
        # Slack's Web API is reachable at that moment. A wrong token is refused on the bot's first Web API call
        # instead (invalid_auth: a permanent send failure).
        token_verification_enabled=False,
        client=WebClient(
            token=None,  # the token comes from `authorize`, for every request, without a call to Slack
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=[],
        ),
        authorize=lambda **_: AuthorizeResult(enterprise_id=None, team_id=None, bot_token=token),
        process_before_response=True,  # see the module's docstring
        # An unhandled request goes to our error handler, not to Bolt's warning with the request body in it.
        raise_error_for_unhandled_request=True,
        # HTTP signatures are checked by `SlackHttp` before Bolt sees the request (a malformed timestamp must be a
        # 401, not a 500, and a rejected request is never parsed); Socket Mode needs none.
        request_verification_enabled=False,
    )
    listeners = Listeners(app, poke)
    # Bolt tries listeners in order, each match costing it a few dozen microseconds: the most frequent first.
    bolt.event("message")(listeners.event)  # DMs (message.im); edits, joins and our own messages are dropped
    bolt.action(ANY)(listeners.interaction)  # buttons, on new messages and old ones
    for name in COMMANDS:
        bolt.command(f"/{name}")(listeners.command)
    bolt.command(ANY)(listeners.command)  # a command the manifest names differently: the bot answers with help
    bolt.view(ANY)(listeners.interaction)  # the form's submission
    bolt.event("app_home_opened")(listeners.event)
    bolt.event(ANY)(listeners.ignore)  # any other event still gets its 200: Slack turns off apps that fail
    bolt.shortcut(ANY)(listeners.ignore)
    bolt.view_closed(ANY)(listeners.ignore)
    bolt.error(listeners.error)
    return bolt


class _DropTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment on its own and warns that it is unused, the client being
    given; it is the same token, given through `authorize`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != warning_client_prioritized_and_token_skipped()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("slack_bolt.flywheel")  # under slack_bolt: bot/logs.py keeps it at WARNING+
    if not any(isinstance(f, _DropTokenNotice) for f in logger.filters):
        logger.addFilter(_DropTokenNotice())
    return logger


class Listeners:
    """Bolt's listeners: translate, hand to the app, acknowledge."""

    def __init__(self, app: Server, poke: Callable[[], None]) -> None:
        self.app = app
        self.poke = poke

    def command(self, ack: Ack, body: Mapping[str, Any], request: BoltRequest) -> None:
        form = {k: v if isinstance(v, str) else str(v) for k, v in body.items()}
        self._run(from_command(form, self.app.clock.now()), ack, request)

    def interaction(self, ack: Ack, body: Mapping[str, Any], request: BoltRequest) -> None:
        self._run(from_interaction(body, self.app.clock.now()), ack, request)

    def event(self, ack: Ack, body: Mapping[str, Any], request: BoltRequest) -> None:
        self._run(from_events_api(body, self.app.clock.now()), ack, request)

    def ignore(self, ack: Ack) -> None:
        ack()

    def _run(self, parsed: Parsed, ack: Ack, request: BoltRequest) -> None:
        if parsed.kind in ("open_form", "open_reply", "form_submit"):
            answer = handle_form(self.app, parsed)  # before the ack: errors travel in it, trigger_ids expire fast
            self.poke()
            ack(answer) if answer is not None else ack()
            return
        if parsed.event is not None:
            try:
                self.app.handle(parsed.event)
            except Exception:
                retry = next(iter(request.headers.get("x-slack-retry-num") or ()), None)
                log.exception("handling a Slack %s failed%s", parsed.event.kind, f" (retry {retry})" if retry else "")
            self.poke()
        ack()

    def error(self, error: Exception) -> BoltResponse:
        """Bolt's error handler (listeners and middleware): never the request in the log, never a 5xx."""
        if isinstance(error, BoltUnhandledRequestError):
            return BoltResponse(status=200, body="")  # nothing of ours to do with it; Slack must not retry
        # The translation refused a payload that is not in Slack's shape, or Bolt could not route it.
        log.warning("a Slack request could not be read (%s); answered 400", type(error).__name__)
        self.app.metrics.inbound.labels("slack", "malformed").inc()
        return BoltResponse(status=400, body=REJECTED.decode())


def handle_form(app: Server, parsed: Parsed) -> dict[str, Any] | None:
    """Open a form (the click's trigger_id is only valid for 3 s, so this happens before the ack) or take a
    submitted one; returns the body Slack should get back, if any."""
    assert parsed.data is not None
    try:
        if parsed.kind == "open_form":
            messenger = app.messengers.get("slack")
            client = getattr(messenger, "client", None)
            if client is not None:
                forms.open_form(
                    app,
                    client,
                    user=parsed.data["user"],
                    run_id=parsed.data["run_id"],
                    trigger_id=parsed.data["trigger_id"],
                )
            return None
        if parsed.kind == "open_reply":
            client = getattr(app.messengers.get("slack"), "client", None)
            if client is not None:
                forms.open_reply(
                    app,
                    client,
                    user=parsed.data["user"],
                    number=parsed.data["number"],
                    trigger_id=parsed.data["trigger_id"],
                )
            return None
        event = forms.reply_event(parsed.data["payload"], parsed.data["dedup_key"], app.clock.now())
        if event is not None:  # a reply sent from its form: the same as typing `/reply N …`
            app.handle(event)
            return None
        return forms.submit(app, parsed.data["payload"], parsed.data["dedup_key"])
    except Exception:
        log.exception("a Slack form could not be handled")
        return None


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class SlackHttp:
    """`POST /slack/events` in front of Bolt. It keeps our contract where stock Bolt differs: every bad, stale or
    malformed signature is a 401 with one body, nothing logged of the request and nothing stored (Bolt answers 500
    to a non-numeric timestamp or a non-ASCII signature); a signed body that is not a Slack request is a 400 (Bolt
    would log it); and the body is read once, by us — Bolt's own form parser takes any body containing the word
    "payload" (a slash command's text, say) for an interaction and drops it."""

    def __init__(self, bolt: App, app: Server, *, signing_secret: str, now: Callable[[], float]) -> None:
        self.bolt = bolt
        self.app = app
        self.verifier = SignatureVerifier(signing_secret, clock=_Clock(now))  # 5 minutes either way, as Slack says
        self.signing_secret = signing_secret

    def __call__(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, str]:
        """`headers`: lower-case names. Returns status, body and content type."""
        if _is_ssl_check(body):
            # Bolt's SslCheck answers it (200, empty), before anything else: Slack does not sign it
            return self._dispatch(dict(parse_qsl(body.decode("utf-8", "replace"))), headers)
        timestamp = headers.get("x-slack-request-timestamp") or ""
        signature = headers.get("x-slack-signature") or ""
        try:
            text = body.decode("utf-8")  # what Slack sends; slack_sdk's verifier signs text
        except UnicodeDecodeError:
            text = None  # not from Slack: it cannot be verified, so it is rejected like a bad signature
        if not (
            text is not None
            and self.signing_secret
            and timestamp.isascii()
            and timestamp.isdigit()
            and len(timestamp) <= 12
            and signature.isascii()
            and self.verifier.is_valid(text, timestamp, signature)
        ):
            log.warning("rejected a Slack request with a missing, stale or wrong signature")  # never the body
            self.app.metrics.inbound.labels("slack", "bad_signature").inc()
            return 401, REJECTED, "application/json"
        try:
            payload = read_payload(text, headers.get("content-type") or "")
        except ValueError:
            log.warning("a signed Slack request could not be read; answered 400")
            self.app.metrics.inbound.labels("slack", "malformed").inc()
            return 400, REJECTED, "application/json"
        return self._dispatch(payload, headers)

    def _dispatch(self, payload: dict[str, Any], headers: Mapping[str, str]) -> tuple[int, bytes, str]:
        try:
            # Bolt takes a body already read only under its "socket_mode" name; the mode switches nothing else
            # but its signature check, which is ours (above).
            request = BoltRequest(body=payload, headers=dict(headers), mode="socket_mode")
            response = self.bolt.dispatch(request)
        except Exception:  # noqa: BLE001 - Bolt taking apart a payload not in Slack's shape (its context, or the
            # arguments it prepares for a matcher or for our error handler); listeners' own errors do not get here
            log.warning("a signed Slack request could not be read; answered 400")
            self.app.metrics.inbound.labels("slack", "malformed").inc()
            return 400, REJECTED, "application/json"
        if response.status != 200:
            return response.status, REJECTED, "application/json"
        content_type = (response.headers.get("content-type") or ["text/plain"])[0]
        text = response.body or ""
        if content_type.startswith("application/json"):
            text = json.dumps(json.loads(text), ensure_ascii=False)
        return 200, text.encode(), content_type if text else "text/plain"


def _is_ssl_check(body: bytes) -> bool:
    """Slack checking our certificate: `ssl_check=1` and no command (it is not signed)."""
    return body.startswith(b"ssl_check=1") and b"command=" not in body


def read_payload(text: str, content_type: str) -> dict[str, Any]:
    """The request's payload as Slack means it: an Events API JSON object, an interaction's `payload` field, or a
    slash command's form. ValueError when it is none of these."""
    if "json" in content_type:
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError("not a JSON object")
        return payload
    form = {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}
    if "payload" in form:
        payload = json.loads(form["payload"])
        if not isinstance(payload, dict):
            raise ValueError("payload is not a JSON object")
        return payload
    if "command" in form:
        return form
    raise ValueError("unknown Slack request")
