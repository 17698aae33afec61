"""Settings, read once at start-up from the environment and `.env` (the environment wins)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from conversations.render import normalize_locale
from conversations.schedule import is_valid_zone

SECRET_FIELDS = frozenset(
    {
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
        "feishu_app_secret",
        "feishu_encrypt_key",
        "feishu_verification_token",
        "database_url",
    }
)


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///flywheel.db"
    slack_bot_token: str | None = None
    slack_app_token: str | None = None
    slack_signing_secret: str | None = None
    slack_api_url: str | None = None
    feishu_app_id: str | None = None
    feishu_app_secret: str | None = None
    feishu_encrypt_key: str | None = None
    feishu_verification_token: str | None = None
    feishu_domain: str | None = None
    port: int = 3000
    locale: str = "en"
    timezone: str = "UTC"
    config_path: str | None = None
    log_level: str | None = None  # default: INFO, or WARNING on the console
    tick_seconds: float = 30.0
    retention_days: int = 730  # answers to conversations older than this are deleted
    locale_set: bool = False  # FLYWHEEL_LOCALE was given; otherwise Feishu speaks Chinese by default

    def locale_for(self, platform: str | None) -> str:
        """The language for people a platform tells us nothing about: FLYWHEEL_LOCALE if set, else Chinese on
        Feishu / Lark and English elsewhere."""
        if not self.locale_set and platform == "feishu":
            return "zh"
        return self.locale

    @property
    def platforms(self) -> tuple[str, ...]:
        found = []
        if self.slack_bot_token:
            found.append("slack")
        if self.feishu_app_id and self.feishu_app_secret:
            found.append("feishu")
        return tuple(found)

    @property
    def console_mode(self) -> bool:
        """No platform credentials at all: the bot runs on the local console."""
        return not self.platforms

    def secrets(self) -> list[str]:
        """The secret values set, for the logs to blank out wherever they might appear (bot/logs.py)."""
        found = [str(getattr(self, name)) for name in sorted(SECRET_FIELDS - {"database_url"}) if getattr(self, name)]
        try:
            from sqlalchemy.engine import make_url

            password = make_url(self.database_url).password
        except Exception:  # noqa: BLE001 - an unparsable URL is reported by doctor, not here
            password = None
        return found + ([str(password)] if password else [])

    def __repr__(self) -> str:  # never print a secret, even by accident
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = _redact_url(value) if f.name == "database_url" else "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported by doctor, not here
        return "***"


_ENV = {
    "DATABASE_URL": "database_url",
    "SLACK_BOT_TOKEN": "slack_bot_token",
    "SLACK_APP_TOKEN": "slack_app_token",
    "SLACK_SIGNING_SECRET": "slack_signing_secret",
    "SLACK_API_URL": "slack_api_url",
    "FEISHU_APP_ID": "feishu_app_id",
    "FEISHU_APP_SECRET": "feishu_app_secret",
    "FEISHU_ENCRYPT_KEY": "feishu_encrypt_key",
    "FEISHU_VERIFICATION_TOKEN": "feishu_verification_token",
    "FEISHU_DOMAIN": "feishu_domain",
    "PORT": "port",
    "FLYWHEEL_LOCALE": "locale",
    "FLYWHEEL_TIMEZONE": "timezone",
    "FLYWHEEL_CONFIG": "config_path",
    "FLYWHEEL_LOG_LEVEL": "log_level",
    "FLYWHEEL_TICK_SECONDS": "tick_seconds",
    "FLYWHEEL_RETENTION_DAYS": "retention_days",
}


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: str | Path | None = ".env") -> Settings:
    """Merge `.env` (if present) with the environment and validate; raises SettingsError."""
    values: dict[str, str] = {}
    if dotenv is not None and Path(dotenv).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    kwargs: dict[str, Any] = {}  # str from the environment, converted below field by field
    for env_name, attr in _ENV.items():
        raw = values.get(env_name)
        if raw is None or raw.strip() == "":
            continue
        kwargs[attr] = raw.strip()
    try:
        if "port" in kwargs:
            kwargs["port"] = int(str(kwargs["port"]))
        if "tick_seconds" in kwargs:
            kwargs["tick_seconds"] = float(str(kwargs["tick_seconds"]))
        if "retention_days" in kwargs:
            kwargs["retention_days"] = int(str(kwargs["retention_days"]))
            if kwargs["retention_days"] < 30:
                raise ValueError("FLYWHEEL_RETENTION_DAYS is at least 30")
    except ValueError as exc:
        raise SettingsError(
            f"PORT, FLYWHEEL_TICK_SECONDS and FLYWHEEL_RETENTION_DAYS must be numbers ({exc})"
        ) from None
    if "locale" in kwargs:
        raw_locale = str(kwargs["locale"])
        kwargs["locale"] = normalize_locale(raw_locale, default="")
        if not kwargs["locale"]:
            raise SettingsError(f"FLYWHEEL_LOCALE must be en or zh, not {raw_locale!r}")
        kwargs["locale_set"] = True
    if "timezone" in kwargs and not is_valid_zone(str(kwargs["timezone"])):
        raise SettingsError(f"FLYWHEEL_TIMEZONE {kwargs['timezone']!r} is not an IANA time zone (e.g. Asia/Shanghai)")
    settings = Settings(**kwargs)
    check_sqlite(settings.database_url)
    return settings


SQLITE_NEEDED = (3, 35)  # UPDATE … RETURNING (the outbox claim)


def check_sqlite(database_url: str, version: tuple[int, ...] | None = None) -> None:
    """Refuse at start, with what to do, a SQLite too old for the statements Flywheel uses (Ubuntu 20.04's 3.31,
    say), rather than fail at the first fan-out."""
    if not database_url.startswith("sqlite"):
        return
    version = version or sqlite3.sqlite_version_info
    if version < SQLITE_NEEDED:
        have, need = ".".join(map(str, version)), ".".join(map(str, SQLITE_NEEDED))
        raise SettingsError(
            f"this Python's SQLite is {have}; Flywheel needs {need} or newer. Use a Python built "
            "with a newer SQLite, or PostgreSQL (DATABASE_URL=postgresql+psycopg://…)"
        )
