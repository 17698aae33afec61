from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from conversations.machine import Reply, RunEvent, Status, Trigger, advance
from conversations.render import LOCALES, Audience, Renderer, format_when, normalize_locale
from conversations.weekly_checkin import WEEKLY_CHECKIN as FLOW
from tests.conversations.test_machine import CANONICAL, NOW
from tests.times import utc

PROMPTS = Path(str(resources.files("prompts")))


def test_every_message_exists_in_english_and_chinese():
    for flow_dir in (p for p in PROMPTS.iterdir() if p.is_dir() and not p.name.startswith("_")):
        names = {loc: {f.name for f in (flow_dir / loc).glob("*.j2")} for loc in LOCALES}
        assert names["en"] == names["zh"], flow_dir.name
        assert names["en"], flow_dir.name


@pytest.mark.parametrize("locale", LOCALES)
def test_every_reply_the_machine_can_make_renders(locale):
    renderer = Renderer()
    audience = Audience(locale, "Asia/Shanghai", "Chen Wei", "Maria")
    for status in Status:
        for trigger in Trigger:
            for text in (None, "4", "nonsense"):
                outcome = advance(FLOW, CANONICAL[status], RunEvent(trigger, text), NOW)
                for reply in outcome.replies:
                    assert renderer.render(reply, audience).strip()
    for reply in (
        Reply("common/help"),
        Reply("common/paused", {"until": date(2026, 12, 1)}),
        Reply("common/pause_invalid"),
        Reply("common/resumed"),
        Reply("common/not_paused"),
        Reply("common/unknown_command", {"command": "/x"}),
        Reply("common/not_a_member"),
    ):
        assert renderer.render(reply, audience).strip()


def test_user_text_goes_through_the_platform_filter_and_never_through_templates():
    renderer = Renderer(user_text=lambda s: s.replace("<", "&lt;"))
    reply = Reply("common/current_answer", {"shown": "x"})
    item = Reply("weekly_checkin/plan_review", {"item": "<!channel> {{ 7*7 }}", "item_number": 2, "item_total": 2})
    assert (
        renderer.render(item, Audience("en", "UTC", "Al")) == "“&lt;!channel> {{ 7*7 }}” — done, partly, or not done?"
    )
    assert renderer.render(reply, Audience("en", "UTC", "Al")).startswith("Your answer so far")


def test_dates_read_naturally_in_each_language():
    when = utc(2026, 11, 30, 4, 0)
    assert format_when(when, "Asia/Shanghai", "en") == "Mon 30 Nov, 12:00"
    assert format_when(when, "Asia/Shanghai", "zh") == "11月30日（周一）12:00"


@pytest.mark.parametrize(
    ("raw", "expected"), [("zh-CN", "zh"), ("zh_TW", "zh"), ("en-US", "en"), ("fr", "en"), (None, "en")]
)
def test_locales(raw, expected):
    assert normalize_locale(raw) == expected
