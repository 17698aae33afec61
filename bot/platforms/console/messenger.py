"""The console's outbound side: prints the DMs of the member you are acting as and keeps the others' for later —
in a file beside the database, so that a second start shows what the first one had not (`UNREAD_SUFFIX`)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.platforms.base import OutboundMessage, Recipient, SendResult
from conversations.charts import charts_of
from conversations.clock import Clock
from conversations.render import neutralise
from conversations.schedule import zone

log = logging.getLogger(__name__)
UNREAD_SUFFIX = ".console-unread.json"  # beside the SQLite file: `flywheel.db.console-unread.json`


def _stamp(clock: Clock, tz: str | None) -> str:
    now = clock.now()
    if tz:
        return f"{now.astimezone(zone(tz)):%a %d %b %H:%M} {tz}"
    return f"{now:%a %d %b %H:%M} UTC"


class ConsoleMessenger:
    platform = "console"
    # The console shows people's text literally, but never lets it drive the terminal (escape codes, bidi overrides).
    escape: Callable[[str], str] = staticmethod(neutralise)

    def __init__(self, out: TextIO, clock: Clock, keep: Path | None = None, chart_dir: Path | None = None) -> None:
        """`keep`: the file the messages waiting for others are kept in between starts (None: memory only)."""
        self.out = out
        self.clock = clock
        # where the charts' PNGs go (the text carries a sparkline; the path is printed with the message)
        self.chart_dir = chart_dir or Path(tempfile.gettempdir()) / "flywheel-charts"
        self.current: str | None = None
        self.keep = keep
        self.unread: dict[str, list[str]] = defaultdict(list, self._load())
        self.lock = threading.RLock()
        self._count = 0

    def _load(self) -> dict[str, list[str]]:
        if self.keep is None or not self.keep.exists():
            return {}
        try:
            data = json.loads(self.keep.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("could not read the console's unread messages from %s; starting without them", self.keep)
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): [str(b) for b in v] for k, v in data.items() if isinstance(v, list)}

    def _save(self) -> None:
        if self.keep is None:
            return
        waiting = {k: v for k, v in self.unread.items() if v}
        try:
            if not waiting:
                self.keep.unlink(missing_ok=True)
                return
            partial = self.keep.with_name(self.keep.name + ".part")
            partial.write_text(json.dumps(waiting, ensure_ascii=False), encoding="utf-8")
            os.replace(partial, self.keep)  # whole or not at all
        except OSError:
            log.warning("could not keep the console's unread messages in %s", self.keep)

    def send(self, recipient: Recipient, message: OutboundMessage) -> SendResult:
        with self.lock:
            self._count += 1
            text = neutralise(message.text)  # again, for text that reached the message without the filter
            picture = self._picture(recipient, message)
            if picture is not None:
                text += f"\n🖼  {picture}"
            block = f"[{_stamp(self.clock, recipient.timezone)}] Flywheel → {recipient.address}:\n{text}\n"
            if recipient.address == self.current or recipient.address.startswith("#"):  # channels are public
                self.out.write(block + "\n")
            else:
                self.unread[recipient.address].append(block)
                self._save()
                n = len(self.unread[recipient.address])
                self.out.write(
                    f"📬 {n} unread message{'s' if n != 1 else ''} for {recipient.address} "
                    f"(type /as {recipient.address} to read)\n"
                )
            self.out.flush()
            return SendResult(message_id=f"console-{self._count}")

    def _picture(self, recipient: Recipient, message: OutboundMessage) -> Path | None:
        """The message's charts as one PNG in `chart_dir`, named by recipient and message; None without charts."""
        charts = [c for r in message.replies for c in charts_of(r.template, r.params)]
        if not charts:
            return None
        from bot.platforms.png import render  # Pillow only for processes that draw

        self.chart_dir.mkdir(parents=True, exist_ok=True)
        name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in recipient.address)
        path = self.chart_dir / f"{name}-{message.outbox_id or self._count}.png"
        path.write_bytes(render(charts))
        return path

    def switch_to(self, handle: str) -> list[str]:
        """Act as `handle`; returns (and forgets) the messages that were waiting for them."""
        with self.lock:
            self.current = handle
            waiting = self.unread.pop(handle, [])
            if waiting:
                self._save()
            return waiting

    def waiting_for(self) -> dict[str, int]:
        """How many messages wait for whom (kept from an earlier start, too)."""
        with self.lock:
            return {k: len(v) for k, v in self.unread.items() if v}
