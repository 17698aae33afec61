"""Turns `Reply` objects into text in the member's language with Jinja2 templates from `prompts/`.

Templates live at `prompts/<flow>/<locale>/<name>.j2`. User-written text goes through the `user_text`
filter, which each platform sets to its own escaping (mrkdwn for Slack, card markdown for Feishu, literal for the
console), each built on `neutralise`; there is no HTML autoescape, because chat text is not HTML.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

import jinja2
from jinja2.bccache import Bucket

from conversations.answers import SUPPORT_KINDS
from conversations.dates import week_monday
from conversations.goals import number_text
from conversations.machine import Reply
from conversations.schedule import zone

LOCALES = ("en", "zh")
_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}
_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# Characters that reorder text around them (embeddings, overrides, isolates): people's text is stored with them, but
# shown without them, so that no reason or answer can make itself, or the bot's words around it, read differently.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_MARKS = frozenset("\u200e\u200f\u061c")  # LRM, RLM, ALM
# Every character `neutralise` may change (anything else is shown as it is).
NEUTRALISED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _control_picture(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟ (␛ for ESC)
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"[U+{code:04X}]"  # C1 controls (0x80–0x9F) have no pictures


def neutralise(text: str) -> str:
    """How people's text is shown on every platform: as typed, except that it can no longer act on the screen.

    - Terminal controls (ESC sequences, other C0 and C1 controls, DEL) are shown as visible symbols (ESC as ␛);
      tab and new line stay; a carriage return becomes a new line.
    - Bidi embeddings, overrides and isolates (U+202A–202E, U+2066–2069) are left out; so are the direction marks
      LRM, RLM and ALM (U+200E, U+200F, U+061C) in text with no right-to-left letters, where they can only reorder.
    The stored text keeps them all; this is for display only.
    """
    if not NEUTRALISED.search(text):
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    keep_marks = any(unicodedata.bidirectional(ch) in ("R", "AL") and ch not in _BIDI_MARKS for ch in text)
    out: list[str] = []
    for ch in text:
        if ch in _BIDI_CONTROLS or (ch in _BIDI_MARKS and not keep_marks):
            continue
        if ch not in "\t\n" and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F):
            out.append(_control_picture(ch))
        else:
            out.append(ch)
    return "".join(out)


def normalize_locale(value: str | None, default: str = "en") -> str:
    """`zh`, `zh-CN`, `zh_CN`, `zh-Hans` → `zh`; `en-US` → `en`; anything else → `default`."""
    if not value:
        return default
    head = value.replace("_", "-").split("-", 1)[0].lower()
    return head if head in LOCALES else default


def format_when(value: datetime, tz_name: str, locale: str) -> str:
    local = value.astimezone(zone(tz_name))
    wd = _WEEKDAYS[locale][local.weekday()]
    if locale == "zh":
        return f"{local.month}月{local.day}日（{wd}）{local:%H:%M}"
    return f"{wd} {local.day} {_MONTHS_EN[local.month - 1]}, {local:%H:%M}"


def format_week(period: str, locale: str) -> str | None:
    """`2026-W49` → `the week of 30 Nov` / `11月30日那周` (the Monday it starts), as people say it; None when `period`
    is not a week code. ISO week codes are for storage and typing, never for reading."""
    monday = week_monday(period)
    if monday is None:
        return None
    if locale == "zh":
        return f"{monday.month}月{monday.day}日那周"
    return f"the week of {monday.day} {_MONTHS_EN[monday.month - 1]}"


_MONTH_NAMES_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def format_month(period: str, locale: str) -> str | None:
    """`2027-02` → `February 2027` / `2027年2月`, as people say a month; None when `period` is not a month code."""
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", period)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    return f"{year}年{month}月" if locale == "zh" else f"{_MONTH_NAMES_EN[month - 1]} {year}"


def format_date(value: date, locale: str) -> str:
    wd = _WEEKDAYS[locale][value.weekday()]
    if locale == "zh":
        return f"{value.year}年{value.month}月{value.day}日（{wd}）"
    return f"{wd} {value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


@dataclass(frozen=True)
class Audience:
    """Who a message is for: their language and time zone, and names the templates may use."""

    locale: str
    timezone: str
    name: str
    manager: str | None = None
    seen_by: tuple[str, ...] = ()  # who else sees their finished check-ins and reviews (bot/access.py decides)


def first_name(name: str) -> str:
    """How the bot addresses someone: the first word of a Western name, a Chinese name whole."""
    return name.split()[0] if name.strip() else name


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept for the life of the process and shared by every `Renderer`.

    Each renderer has an environment of its own (its platform's escaping, the org file's question texts), and
    jinja2 caches compiled templates per environment: without this, every new renderer (one per platform, one per
    app built — in the tests, one per test) parsed and compiled each template again. A bucket's key includes the
    template's source checksum, so an edited file is compiled afresh; filters are looked up when a template
    renders, so sharing the compiled code between environments with different filters is safe."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


class Renderer:
    def __init__(
        self,
        *,
        overrides: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
        user_text: Callable[[str], str] = neutralise,
        roots: Sequence[str] = (),
        platform: str = "",
    ) -> None:
        """`overrides` maps (flow, step) to per-locale question texts from the config file. `roots`: directories
        laid out like prompts/ (`<flow>/<locale>/<name>.j2`), looked in first — a flow defined outside this package
        brings its prompts so."""
        root = resources.files("prompts")
        self._roots = tuple(roots)
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([*self._roots, str(root)]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            bytecode_cache=_COMPILED,
        )
        self._env.filters["user_text"] = lambda v: user_text("" if v is None else str(v))
        self._env.filters["when"] = jinja2.pass_context(lambda ctx, v: format_when(v, ctx["timezone"], ctx["locale"]))
        # `{{ at | when_in(zone) }}`: a moment as someone else's clock shows it (a 1:1 time for the other person)
        self._env.filters["when_in"] = jinja2.pass_context(lambda ctx, v, tz: format_when(v, tz, ctx["locale"]))
        # `{{ period | week }}`: a stored week shown as people say it; anything else is shown as typed
        self._env.filters["week"] = jinja2.pass_context(lambda ctx, v: self._week(v, ctx["locale"]))
        # `{{ period | month }}`: a stored month (`2027-02`) as people say it; anything else as typed
        self._env.filters["month"] = jinja2.pass_context(
            lambda ctx, v: format_month(str(v), ctx["locale"]) or user_text("" if v is None else str(v))
        )
        self._env.filters["num"] = number_text  # 45.0 → 45 (a key result's value)
        self._env.filters["day"] = jinja2.pass_context(lambda ctx, v: format_date(v, ctx["locale"]))
        # `{{ step | question(flow) }}`: an org-file question's own words in the reader's language (else its id)
        self._overrides = dict(overrides or {})
        self._env.filters["question"] = jinja2.pass_context(
            lambda ctx, step, flow: self._overrides.get((flow, step), {}).get(ctx["locale"], step)
        )
        self._user_text = user_text
        # `{{ platform }}` in every template: the platform the text goes to ("" when none is known), for what is said
        # differently there (on Slack, `/flywheel me`: Slack keeps `/me` for itself)
        self._platform = platform

    def _week(self, value: Any, locale: str) -> str:
        """`2026-W48` → `the week of 23 Nov`; `2026-W48 wins` → `the week of 23 Nov: wins`; other text as typed."""
        text = "" if value is None else str(value)
        code, _, rest = text.partition(" ")
        shown = format_week(code, locale)
        if shown is None:
            return self._user_text(text)
        return f"{shown}{'：' if locale == 'zh' else ': '}{self._user_text(rest)}" if rest else shown

    def with_escape(self, user_text: Callable[[str], str], *, platform: str = "") -> Renderer:
        """The same templates, for `platform`: its escaping of people's text, and its name for the templates."""
        return Renderer(overrides=self._overrides, user_text=user_text, roots=self._roots, platform=platform)

    def render(self, reply: Reply, audience: Audience) -> str:
        flow, _, name = reply.template.partition("/")
        params: dict[str, Any] = dict(reply.params)
        locale = normalize_locale(audience.locale)
        env = self._env
        base = {
            "member": first_name(audience.name),
            "manager": audience.manager,
            "seen_by": list(audience.seen_by),
            "locale": locale,
            "timezone": audience.timezone,
            "platform": self._platform,
        }
        ctx = {**base, **params}
        parts: list[str] = []
        if params.get("lead"):
            parts.append(self._template(env, flow, locale, f"lead_{params['lead']}").render(ctx))
        override = self._overrides.get((flow, name), {}).get(locale)
        if override is not None:
            body = env.from_string(override).render(ctx)
        else:
            body = self._template(env, flow, locale, name).render(ctx)
        if "number" in params and "total" in params:
            body = f"({params['number']}/{params['total']}) {body}"
            current = params.get("current")
            # A grouped follow-up answer (item → status) is not repeated: the question lists each item's status.
            statuses = isinstance(current, Mapping) and "kind" not in current
            if params.get("has_current") and current is not None and not statuses:
                hint = self._template(env, "common", locale, "current_answer").render(
                    {**ctx, "shown": self.describe(params["current"])}
                )
                body = f"{body}\n{hint}"
        parts.append(body)
        return "\n".join(p.strip("\n") for p in parts if p.strip())

    def _template(self, env: jinja2.Environment, flow: str, locale: str, name: str) -> jinja2.Template:
        """The flow's own template, or the shared one in `common/` when the flow has none."""
        return env.select_template([f"{flow}/{locale}/{name}.j2", f"common/{locale}/{name}.j2"])

    def describe(self, value: Any) -> str:
        """A stored answer as a short line of text (escaped for the platform)."""
        if isinstance(value, list):
            return "; ".join(self._user_text(str(v)) for v in value)
        if isinstance(value, Mapping) and value.get("kind") in SUPPORT_KINDS:  # as it would be typed: `2 more QA time`
            return f"{SUPPORT_KINDS.index(value['kind']) + 1} {self._user_text(str(value.get('text') or ''))}"
        return self._user_text(str(value))

    def has_template(self, flow: str, locale: str, name: str) -> bool:
        try:
            self._template(self._env, flow, locale, name)
        except jinja2.TemplatesNotFound:
            return False
        return True
