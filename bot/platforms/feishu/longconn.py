"""The long connection (the default for a self-built app: no public URL). `lark.ws.Client` grabs an asyncio loop
when its module is imported and runs everything on it, so it gets a thread and a loop of its own here; the bot's
scheduler and outbox never wait for it, and it never waits for them: each event is handed to `FeishuEvents`,
which acknowledges at once and works after (card actions are answered within the callback's time).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import lark_oapi as lark
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from bot.platforms.feishu.events import FeishuEvents
from bot.platforms.feishu.messenger import resolve_domain

log = logging.getLogger(__name__)


class Handler(EventDispatcherHandler):
    """What `lark.ws.Client` calls for every event and card callback frame: the raw JSON, already authenticated
    by the connection. We take it as it is, so both transports share one translation."""

    def __init__(self, events: FeishuEvents) -> None:
        super().__init__()
        self.events = events

    def _do_without_validation(self, payload: bytes) -> Any:
        try:
            data = json.loads(payload.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return self.events.dispatch(data, background=True)
        except Exception:  # noqa: BLE001 - the frame is acknowledged either way; never logs its content
            log.warning("a Feishu long-connection payload could not be read; dropped")
            return None


class LongConnection:
    """The running connection: `up()` is what /healthz reports; `stop()` closes it."""

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client: Any = None  # the lark.ws.Client, once the thread has made it

    def up(self) -> bool:
        """Connected now: lark holds its WebSocket (`_conn`) from the handshake until it sees the connection gone,
        and lets go of it before reconnecting. (Its reconnect hooks say nothing of the first connection: a link still
        connecting, or stuck in the bootstrap, looked up.)"""
        return self.thread is not None and self.thread.is_alive() and getattr(self.client, "_conn", None) is not None

    def stop(self, timeout: float = 5) -> None:
        """Close the connection and end the thread, so no event is taken (and acknowledged) after the bot stops
        handling them: Feishu pushes what was not acknowledged again on the next connection."""
        if self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(_cancel_all, self.loop)
            except RuntimeError:  # the loop is closed: the thread has ended
                pass
        if self.thread is not None:
            self.thread.join(timeout)


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def start(events: FeishuEvents, *, app_id: str, app_secret: str, domain: str | None) -> LongConnection:
    """Connect in a daemon thread with its own event loop (it runs until the process ends, or `stop()`)."""
    link = LongConnection()
    loop = link.loop = asyncio.new_event_loop()

    def run() -> None:
        import lark_oapi.ws.client as ws_client

        asyncio.set_event_loop(loop)
        ws_client.loop = loop  # the module captured the importing thread's loop; this thread owns its own
        client = lark.ws.Client(
            app_id,
            app_secret,
            event_handler=Handler(events),
            domain=resolve_domain(domain),
            log_level=lark.LogLevel.WARNING,
        )
        link.client = client
        try:
            client.start()
        except asyncio.CancelledError:  # stop()
            pass
        except Exception:
            log.exception("the Feishu long connection stopped")
        finally:
            _close(client, loop)

    link.thread = threading.Thread(target=run, name="feishu-long-connection", daemon=True)
    link.thread.start()
    return link


def _close(client: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Say goodbye on the WebSocket and finish what is left on the loop (its tasks are cancelled)."""
    try:
        client._auto_reconnect = False
        loop.run_until_complete(client._disconnect())
        _cancel_all(loop)
        loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop), return_exceptions=True))
    except (Exception, asyncio.CancelledError):  # noqa: BLE001 - a stop() while it was ending on its own
        log.warning("the Feishu long connection did not close cleanly")
    finally:
        loop.close()
