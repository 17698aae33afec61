"""The one place logging is set up: what people wrote and secrets never reach a log, at any level.

Two independent guards, both on the one handler that writes the log (stderr):

1. Other people's libraries speak only at WARNING and above (waitress: INFO, it says where it listens). Their DEBUG
   and INFO lines are where request and response bodies are (slack_sdk logs every Web API call with its body, and
   so every message we send: check-in summaries, digests; lark-oapi logs every event it receives and its WebSocket
   URL with the access key; urllib3, httpx and websockets log what they send and receive). Their loggers are set to
   that level, and the handler drops anything below it as well — whatever level a library later sets on its own
   logger (lark-oapi does, from `log_level`) and whatever FLYWHEEL_LOG_LEVEL says. Our own loggers (`bot`, `storage`,
   `conversations`, `flywheel`) follow FLYWHEEL_LOG_LEVEL; they log ids and counts, never text people typed.
2. What does get written is scrubbed of tokens: the configured secrets themselves (bot and app tokens, signing
   secret, app secret, Encrypt Key, verification token, database password), anything shaped like a Slack token
   (`xoxb-…`, `xapp-…`), `Bearer …`, and the values of `app_secret`, `tenant_access_token`, `access_key`, `ticket`
   and the like — in the message and in a traceback.

Text people typed cannot be recognised by its shape, so it is kept out by (1) and by our own code never logging it;
(2) is for the secrets, which can be recognised.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TextIO

OURS = ("bot", "storage", "conversations", "flywheel", "__main__")

# The lowest level a library's records are written at; anything not listed: WARNING.
LIBRARY_LEVELS = {"waitress": logging.INFO}
# Libraries we use (or that they use) whose loggers are also set to that level, so they do not even build the
# records (with their bodies) that the handler would drop.
LIBRARIES = (
    "slack_sdk",
    "slack_bolt",
    "slack",
    "urllib3",
    "requests",
    "Lark",
    "lark_oapi",
    "waitress",
    "apscheduler",
    "alembic",
    "sqlalchemy",
    "websocket",
    "websockets",
    "httpx",
    "httpcore",
    "asyncio",
    "concurrent",
    "psycopg",
    "hpack",
    "h11",
    "h2",
)

REDACTED = "***"
_SLACK_TOKEN = re.compile(r"\b(xox[a-z]|xapp|xwfp)-[A-Za-z0-9-]+")
_BEARER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+")
_KEYED = re.compile(
    r"""(?ix)
    (["']?\b(?:app_?secret|tenant_access_token|app_access_token|user_access_token|access_token|refresh_token
        |access_key|ticket|signing_secret|encrypt_key|verification_token|client_secret|password|authorization
        |token)\b["']?\s*[:=]\s*["']?)
    ([^"'&,;\s})\]]+)"""
)


def _is_ours(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in OURS)


def library_level(name: str) -> int:
    """The lowest level at which a record of logger `name` may be written (0 for our own loggers)."""
    if _is_ours(name):
        return 0
    for prefix, level in LIBRARY_LEVELS.items():
        if name == prefix or name.startswith(prefix + "."):
            return level
    return logging.WARNING


class Redactor:
    """Replaces secrets in a piece of log text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole. Very short values are left alone:
        # they would blank out ordinary words and are not worth stealing.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        text = _SLACK_TOKEN.sub(lambda m: f"{m.group(1)}-{REDACTED}", text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _KEYED.sub(lambda m: m.group(1) + REDACTED, text)


class Guard(logging.Filter):
    """Drops library records below their level; scrubs secrets from the message of the rest (so that any handler,
    a library's own included, gets the scrubbed text)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < library_level(record.name):
            return False
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: logging reports it; nothing of it is written
            message = str(record.msg)
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class RedactingFormatter(logging.Formatter):
    """The formatted line, traceback included, scrubbed once more (an exception's text is made here)."""

    def __init__(self, redact: Redactor, fmt: str) -> None:
        super().__init__(fmt)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class _OurHandler(logging.StreamHandler):
    """Marks the handler `setup_logging` installed, so a second call replaces it instead of adding another."""


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(
    level: str | None, *, secrets: Iterable[str] = (), default: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Log to stderr at `level` (FLYWHEEL_LOG_LEVEL, else `default`) with both guards; returns the handler."""
    chosen = getattr(logging, (level or default).upper(), None)
    ours = chosen if isinstance(chosen, int) else logging.INFO
    redact = Redactor(secrets)
    guard = Guard(redact)
    handler = _OurHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter(redact, FORMAT))
    handler.addFilter(guard)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(ours)
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        logger.setLevel(max(ours, library_level(name)))
        # A library with a handler of its own (lark-oapi writes to stdout) is guarded there too: a logger's filters
        # run before any of its handlers.
        for old_guard in [f for f in logger.filters if isinstance(f, Guard)]:
            logger.removeFilter(old_guard)
        logger.addFilter(guard)
    return handler
