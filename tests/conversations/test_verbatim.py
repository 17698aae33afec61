"""Properties over arbitrary Unicode: what people type is kept exactly, shown exactly (after each platform's
reversible `&<>` escaping, and with controls and bidi overrides neutralised), and "nothing" means nothing."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from bot.me import export, export_reply
from bot.platforms.base import OutboundMessage, Recipient
from bot.platforms.console.messenger import ConsoleMessenger
from bot.platforms.feishu.cards import build_cards, md_escape
from bot.platforms.slack.blocks import build_messages, mrkdwn_escape
from bot.platforms.slack.inbound import unescape
from conversations.answers import NOTHING_ANSWERS, Invalid, Items, Text, nothing_key, says_nothing
from conversations.clock import FrozenClock
from conversations.digest import Report, Week, report_params
from conversations.kudos import KudosRefusal, parse_kudos
from conversations.machine import Reply
from conversations.render import Audience, Renderer, neutralise
from storage.db import transaction
from storage.models import Member
from tests.bot.test_digest import run_checkin
from tests.helpers import local, utc

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MARKS = "\u200e\u200f\u061c"


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

# Typed text of any kind, and text without the characters a screen must not obey (for the exact-match property).
ANY_TEXT = st.text(min_size=1, max_size=120)
PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI + MARKS), min_size=1, max_size=120
)


def _typed(text: str) -> str:
    assume(text.strip())
    return text.strip()


RENDERERS = {name: Renderer(user_text=escape) for name, (escape, _) in PLATFORMS.items()}


def _shown(platform: str, template: str, params: dict, locale: str) -> str:
    rendered = RENDERERS[platform].render(Reply(template, params), Audience(locale, "UTC", "Maria", None))
    return PLATFORMS[platform][1](rendered)


def _assert_shown(shown: str, typed: str) -> None:
    assert neutralise(typed) in shown
    assert not any(ch in BIDI for ch in shown)
    assert not any(unicodedata.category(ch) == "Cc" and ch not in "\t\n" for ch in shown)


# ------------------------------------------------------------------------------------------ stored as typed


@settings(deadline=None)
@given(ANY_TEXT)
def test_a_text_answer_is_stored_exactly(text):
    typed = _typed(text)
    assert Text().parse(text) == typed


def _one_item(s: str) -> bool:
    """Text that the list parser reads as exactly itself (not a lone bullet such as "-", which is no item)."""
    try:
        return bool(s) and Items().parse(s) == [s]
    except Invalid:
        return False


ITEM = (
    st.text(st.characters(blacklist_characters="\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85;；"), min_size=1, max_size=40)
    .map(str.strip)
    .filter(_one_item)
)


@settings(deadline=None)
@given(st.lists(ITEM, min_size=1, max_size=3), st.sampled_from(["; ", "；", "\n", "\r\n", " ;\n"]))
def test_list_items_are_kept_whole_between_the_documented_separators(items, separator):
    assert Items(1, 3).parse(separator.join(items)) == items


@settings(deadline=None)
@given(st.lists(ITEM, min_size=1, max_size=3), st.sampled_from(["- ", "• ", "1. ", "2) ", "3、", "（1）", "(2) "]))
def test_a_bullet_or_number_at_the_start_of_a_line_is_left_out(items, bullet):
    assert Items(1, 3).parse("\n".join(bullet + item for item in items)) == items


REASON = (
    st.text(min_size=1, max_size=200)
    .map(str.strip)
    .filter(lambda s: s and s[0] not in "@<:：,，、—–-" and not s.split()[-1].startswith(("#", "＃", "<#")))
)


@settings(deadline=None)
@given(REASON)
def test_a_kudos_reason_is_what_was_typed_minus_the_people_and_the_tags(reason):
    parsed = parse_kudos(f"@alice <@U1|bo> {reason} #growth #teamwork")
    assume(not isinstance(parsed, KudosRefusal))  # "for" alone is no reason: refused politely (tested elsewhere)
    assert (parsed.mentions, parsed.reason, parsed.tags) == (("@alice", "<@U1|bo>"), reason, ("growth", "teamwork"))


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
@given(PLAIN_TEXT, st.lists(st.sampled_from(list(BIDI + MARKS)), max_size=5), st.randoms())
def test_neutralise_only_takes_out_the_bidi_controls(text, controls, rnd):
    assume(not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text))
    mixed = list(text)
    for ch in controls:
        mixed.insert(rnd.randint(0, len(mixed)), ch)
    assert neutralise("".join(mixed)) == text


def test_neutralise_examples():
    assert neutralise("\x1b[2J\x1b]0;pwned\x07ok") == "␛[2J␛]0;pwned␇ok"
    assert neutralise("a\x9bb\x7fc\r\nd\re\tf") == "a[U+009B]b␡c\nd\ne\tf"
    assert neutralise("user\u202egnp.exe") == "usergnp.exe"
    assert neutralise("1\u200f-\u200f2 \u2067x\u2069") == "1-2 x"  # marks in text with no right-to-left letters
    assert neutralise("שלום\u200f, world") == "שלום\u200f, world"  # in Hebrew text a mark is ordinary
    assert neutralise("1:1 谢谢 <b> & ☃") == "1:1 谢谢 <b> & ☃"


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


# ------------------------------------------------------------------------------------------ "nothing" means nothing

LIST_WORDS = frozenset(word for answers in NOTHING_ANSWERS.values() for a in answers for word in nothing_key(a).split())


@pytest.mark.parametrize("answer", [a for answers in NOTHING_ANSWERS.values() for a in answers])
def test_every_listed_answer_says_nothing_however_it_is_typed(answer):
    assert says_nothing(answer)
    assert says_nothing(f"  {answer.upper()}!! ")
    assert says_nothing(unicodedata.normalize("NFKC", answer).translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}))
    assert says_nothing(answer + "。")


WORD = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Lm", "Lt", "Nd")), min_size=1, max_size=8)


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(sorted(LIST_WORDS)) | WORD, max_size=4),
    WORD,
    st.integers(0, 4),
    st.sampled_from([" ", ", ", "! ", "\n", "。", "，"]),
)
def test_a_letter_word_not_in_the_list_makes_an_answer_say_something(words, word, at, separator):
    assume(any(unicodedata.category(ch).startswith("L") for ch in word))
    assume(not set(nothing_key(word).split()) <= LIST_WORDS)
    words.insert(min(at, len(words)), word)
    assert not says_nothing(separator.join(words))


@settings(deadline=None)
@given(
    st.sampled_from([a for answers in NOTHING_ANSWERS.values() for a in answers]),
    st.text(st.characters(whitelist_categories=("Po", "Pd", "Zs", "So")), max_size=4).filter(
        lambda s: all(unicodedata.category(c)[0] in "PSZ" for c in unicodedata.normalize("NFKC", s))
    ),
)  # ™ is TM
def test_punctuation_spacing_and_symbols_around_a_listed_answer_do_not_matter(answer, noise):
    assert says_nothing(noise + answer + noise)


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
