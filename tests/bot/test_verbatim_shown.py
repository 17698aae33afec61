"""What people type is shown exactly on every platform (after each platform's reversible `&<>` escaping, and
with controls and bidi overrides neutralised), and exported exactly. The parsing side, which needs no platform,
is tests/conversations/test_verbatim.py; the strategies and helpers come from there."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from sqlmodel import select

from bot.me import export, export_reply
from bot.platforms.base import OutboundMessage, Recipient
from bot.platforms.console.messenger import ConsoleMessenger
from bot.platforms.feishu.cards import build_cards, md_escape
from bot.platforms.slack.blocks import build_messages, mrkdwn_escape
from bot.platforms.slack.inbound import unescape
from conversations.answers import says_nothing
from conversations.clock import FrozenClock
from conversations.digest import Report, Week, report_params
from conversations.machine import Reply
from conversations.render import Audience, Renderer, neutralise
from storage.db import transaction
from storage.models import Member
from tests.bot.test_digest import run_checkin
from tests.conversations.test_verbatim import ANY_TEXT, BIDI, ITEM, PLAIN_TEXT, _typed
from tests.times import local, utc


def _console(text: str) -> str:
    return text


def _slack(text: str) -> str:
    """What a Slack user reads: the section texts of the blocks, entities decoded."""
    blocks = build_messages(text, [], "en")
    return unescape("\n".join(b["text"]["text"] for message in blocks for b in message if b["type"] == "section"))


def _feishu(text: str) -> str:
    """What a Feishu user reads: the markdown elements of the cards, entities decoded."""
    cards = build_cards(text, [], "en")
    return unescape("\n".join(e["content"] for c in cards for e in c["elements"] if e["tag"] == "markdown"))


PLATFORMS: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "console": (neutralise, _console),
    "slack": (mrkdwn_escape, _slack),
    "feishu": (md_escape, _feishu),
}

RENDERERS = {name: Renderer(user_text=escape) for name, (escape, _) in PLATFORMS.items()}


def _shown(platform: str, template: str, params: dict, locale: str) -> str:
    rendered = RENDERERS[platform].render(Reply(template, params), Audience(locale, "UTC", "Maria", None))
    return PLATFORMS[platform][1](rendered)


def _assert_shown(shown: str, typed: str) -> None:
    assert neutralise(typed) in shown
    assert not any(ch in BIDI for ch in shown)
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n" for ch in shown)


# ------------------------------------------------------------------------------------------ shown as typed


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("locale", ["en", "zh"])
@settings(max_examples=40, deadline=None)
@given(reason=ANY_TEXT, giver=PLAIN_TEXT)
def test_a_kudos_is_shown_as_typed_on_every_platform(platform, locale, reason, giver):
    typed = _typed(reason)
    for template in ("kudos/post", "kudos/received"):
        shown = _shown(platform, template, {"giver": giver, "names": ["Bo"], "reason": typed, "badges": []}, locale)
        _assert_shown(shown, typed)


@pytest.mark.parametrize("platform", PLATFORMS)
@settings(max_examples=40, deadline=None)
@given(wins=ANY_TEXT, blockers=ANY_TEXT, priority=ITEM)
def test_a_digest_shows_answers_as_typed_on_every_platform(platform, wins, blockers, priority):
    assume(not says_nothing(wins) and not says_nothing(blockers) and not says_nothing(priority))
    week = Week(
        period="2026-W48",
        status="completed",
        mood=4,
        wins=_typed(wins),
        blockers=_typed(blockers),
        priorities=(priority,),
    )
    params = report_params(Report(member_id=1, name="Alice", weeks=(week,)))
    for locale in ("en", "zh"):
        shown = _shown(platform, "digest/person", params, locale)
        for typed in (_typed(wins), _typed(blockers), priority):
            _assert_shown(shown, typed)


@pytest.mark.parametrize("platform", PLATFORMS)
@given(text=PLAIN_TEXT)
def test_plain_text_is_shown_exactly(platform, text):
    typed = _typed(text)
    shown = _shown(platform, "kudos/post", {"giver": "Alice", "names": ["Bo"], "reason": typed, "badges": []}, "en")
    assert typed in shown


@settings(deadline=None)
@given(ANY_TEXT)
def test_the_console_never_prints_a_control_or_a_bidi_override(text):
    out = io.StringIO()
    console = ConsoleMessenger(out, FrozenClock(utc(2026, 11, 25, 10, 0)))
    console.current = "alice"
    console.send(Recipient(platform="console", address="alice", timezone=None), OutboundMessage(text=text))
    printed = out.getvalue()
    assert neutralise(text) in printed
    assert not any(ch in BIDI or (unicodedata.category(ch) == "Cc" and ch not in "\t\n") for ch in printed)


# ------------------------------------------------------------------------------------------ exported as typed

HOSTILE = "1:1 \x1b[31mred\x1b[0m \u202eevil\u202c שלום\u200f <!channel> & &lt; 谢谢\r\nnext"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_export_shows_exactly_what_is_stored_on_every_platform(harness, platform):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins=HOSTILE, priorities="1:1s with everyone; 2FA rollout")
    h.say("bo", f"/kudos @alice {HOSTILE} #growth #teamwork")
    with transaction(h.app.sessions) as s:
        alice = s.exec(select(Member).where(Member.handle == "alice")).one()
        stored, reply = export(s, alice), export_reply(s, alice)
    weekly = [c for c in stored["conversations"] if c["flow"] == "weekly_checkin"][0]
    assert weekly["answers"]["wins"] == HOSTILE.strip()
    assert weekly["answers"]["priorities"] == ["1:1s with everyone", "2FA rollout"]
    assert [(k["reason"], k["value"]) for k in stored["kudos_received"]] == [(HOSTILE, "growth teamwork")]
    shown = _shown(platform, reply.template, dict(reply.params), "en")
    assert json.loads(shown.split("\n", 1)[1]) == stored
    assert "\x1b" not in shown and "\u202e" not in shown
