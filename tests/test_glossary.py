"""One word per concept (prompts/GLOSSARY.md): words the glossary rules out never come back into a message."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.platforms.common import LABELS
from conversations import catalog
from conversations.machine import Reply
from conversations.render import Audience, Renderer

PROMPTS = Path(__file__).resolve().parent.parent / "prompts"
ZH = sorted(PROMPTS.glob("*/zh/*.j2"))
EN = sorted(PROMPTS.glob("*/en/*.j2"))
ISO_WEEK = re.compile(r"\b\d{4}-?W\d{1,2}\b|\bW\d{2}\b")

# Chinese words a message must not use, and why (the glossary's word instead).
BANNED_ZH = {
    "签到": "reads as roll-call or clocking in: say 每周小结",
    "打卡": "clocking in: say 每周小结",
    "查岗": "being watched: say 每周小结",
    "阻碍": "one word for obstacles and blockers: 障碍",
    "视图": "UI jargon: say what it is (经理能看到的关于你的内容)",
    "周报": "the manager's Monday message is the 摘要",
}
# Templates where 他们 means a group. Anywhere else it would be one person (use 对方, TA or the name).
THEY_FOR_A_GROUP: dict[str, str] = {
    "replies/zh/upward_answer_sent.j2": "the people who were asked for upward feedback",
}

# The forms' titles, as each flow declares them.
FORM_TITLES = {locale: {f.name: f.titles[locale] for f in catalog.BUILT_IN} for locale in ("en", "zh")}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_glossary_names_every_concept_the_brief_lists():
    glossary = _text(PROMPTS / "GLOSSARY.md")
    for term in (
        "weekly check-in",
        "每周小结",
        "monthly review",
        "retrospective",
        "kudos",
        "badge",
        "obstacle",
        "障碍",
        "blocker",
        "support request",
        "growth",
        "digest",
        "摘要",
        "manager",
        "report (person)",
        "priorities",
        "wins",
        "mood",
        "pause",
        "reminder",
        "closes",
        "1:1",
        "acknowledge",
        "flag",
        "anonymous",
        "audit",
        "working hours",
        "holiday",
        "development action",
        "发展行动",
    ):
        assert term in glossary, term


@pytest.mark.parametrize("path", ZH, ids=lambda p: str(p.relative_to(PROMPTS)))
def test_no_chinese_template_uses_a_banned_word(path):
    text = _text(path)
    assert [word for word in BANNED_ZH if word in text] == []
    if str(path.relative_to(PROMPTS)) not in THEY_FOR_A_GROUP:
        assert "他们" not in text, "one person is 对方, TA or the name"


@pytest.mark.parametrize("path", ZH + EN, ids=lambda p: str(p.relative_to(PROMPTS)))
def test_no_template_shows_an_iso_week_code(path):
    """Weeks are shown as dates ("the week of 23 Nov", 11月23日那周); examples say `last week` or a day."""
    assert ISO_WEEK.findall(_text(path)) == []


@pytest.mark.parametrize("path", EN, ids=lambda p: str(p.relative_to(PROMPTS)))
def test_english_says_what_happened_not_system_words(path):
    text = _text(path).lower()
    assert "own view" not in text  # /me is "what your manager sees about you"
    # "overdue" only where a due date has passed (prompts/action/*/words.j2 `due`); elsewhere say how long it is open
    assert "overdue" not in text or "{% if a.overdue %} — overdue{% endif %}" in text


def test_buttons_and_form_titles_use_the_glossary():
    shown = " ".join([*LABELS["zh"].values(), *FORM_TITLES["zh"].values()])
    assert [word for word in BANNED_ZH if word in shown] == []
    assert FORM_TITLES["zh"]["weekly_checkin"] == "每周小结"


def test_help_shows_the_new_command_and_keeps_the_old_one_working():
    from conversations.commands import Command, interpret

    help_zh = Renderer().render(Reply("common/help"), Audience("zh", "Asia/Shanghai", "陈晨", seen_by=("Maria",)))
    assert "/小结" in help_zh and "签到" not in help_zh
    assert "/kudos @名字 for" not in help_zh
    assert interpret("/小结") == interpret("/签到") == Command("checkin")


FLAG = {"id": 7, "period": "2026-W48", "step": "wins", "hint": None, "why": "not mine", "acknowledged": False}
DIGEST_PERSON = {
    "name": "Dev",
    "status": "completed",
    "trend": [4],
    "notes": {},
    "wins": "x",
    "blockers": None,
    "plan": [],
    "priorities": [],
    "support": [],
    "obstacles": [],
    "points": [],
    "via": None,
    "actions": [
        {
            "text": "write the runbook",
            "source": "retro",
            "title": "Launch",
            "since": datetime(2026, 11, 9, tzinfo=UTC),
            "days_open": 21,
            "due": None,
            "overdue": False,
        },
        {
            "text": "Practise a demo",
            "source": "typed",
            "title": None,
            "since": datetime(2026, 11, 27, tzinfo=UTC),
            "days_open": 3,
            "due": date(2026, 11, 28),
            "overdue": True,
        },
        {
            "text": "Pair with Bo",
            "source": "suggested",
            "title": None,
            "since": datetime(2026, 11, 30, tzinfo=UTC),
            "days_open": 0,
            "due": date(2027, 1, 15),
            "overdue": False,
        },
    ],
    "hints": [{"key": "no_checkin", "weeks": 3, "flag": {**FLAG, "id": 8}}],
    "flags": [FLAG],
}
WEEKLY_TEXTS = [
    ("digest/header", {"period": "2026-W48", "reports": 3, "checked_in": 2, "kudos_given": 1, "kudos_received": 0}),
    ("digest/person", DIGEST_PERSON),
    ("digest/person", {**DIGEST_PERSON, "own_view": True}),  # what /me shows
    ("me/note_not_found", {"period": "2026-W48", "which": "wins"}),
    ("own_data/flag_saved", {"period": "2026-W48", "step": "wins", "hint": None, "manager_name": "Maria"}),
    (
        "own_data/flag_new",
        {"who": "Dev", "period": "2026-W48", "step": "wins", "hint": None, "answer": "x", "why": "not mine", "id": 7},
    ),
    ("own_data/flag_acknowledged", {"manager_name": "Maria", "period": "2026-W48", "step": None, "hint": "mood_down"}),
    ("own_data/flag_not_found", {"period": "2026-W48", "which": "wins"}),
    (
        "own_data/access",
        {
            "total": 2,
            "page": 1,
            "more": 0,
            "items": [
                {
                    "at": datetime(2026, 11, 30, 9, tzinfo=UTC),
                    "who": "Maria",
                    "admin": False,
                    "what": "digest",
                    "part": "2026-W48",
                },
                {
                    "at": datetime(2026, 11, 27, 9, tzinfo=UTC),
                    "who": "Maria",
                    "admin": False,
                    "what": "flag",
                    "part": "2026-W48 wins",
                },
            ],
        },
    ),
]


@pytest.mark.parametrize("locale, week", [("en", "the week of 23 Nov"), ("zh", "11月23日那周")])
@pytest.mark.parametrize("template, params", WEEKLY_TEXTS, ids=[t for t, _ in WEEKLY_TEXTS])
def test_the_digest_and_me_show_weeks_as_dates(template, params, locale, week):
    text = Renderer().render(Reply(template, params), Audience(locale, "UTC", "Leo"))
    assert ISO_WEEK.findall(text) == []
    assert week in text


def test_a_development_action_says_how_long_it_has_been_open_and_is_overdue_only_past_its_due_date():
    text = Renderer().render(Reply("digest/person", DIGEST_PERSON), Audience("en", "UTC", "Leo"))
    assert (
        "Development actions still open:\n"
        "• “write the runbook” (from the retrospective “Launch”, opened 3 weeks ago)\n"
        "• “Practise a demo” (opened 3 days ago, due Sat 28 Nov 2026 — overdue)\n"
        "• “Pair with Bo” (the manager's suggestion, opened today, due Fri 15 Jan 2027)"
    ) in text
    assert text.count("overdue") == 1
    zh = Renderer().render(Reply("digest/person", DIGEST_PERSON), Audience("zh", "UTC", "Leo"))
    assert (
        "还在进行的发展行动：\n"
        "• “write the runbook”（来自复盘“Launch”，3 周前定下）\n"
        "• “Practise a demo”（3 天前定下，截止 2026年11月28日（周六），已逾期）\n"
        "• “Pair with Bo”（经理建议，今天定下，截止 2027年1月15日（周五））"
    ) in zh
    assert zh.count("逾期") == 1


@pytest.mark.parametrize(
    "names, expected",
    [(["Alice"], "Alice gets the questions by DM"), (["Alice", "Bo"], "Each of them gets the questions by DM")],
)
def test_a_retro_for_one_person_does_not_say_each_of_them(names, expected):
    text = Renderer().render(
        Reply(
            "retro/started",
            {
                "title": "Launch",
                "names": names,
                "anonymous": False,
                "channel": None,
                "due": datetime(2026, 12, 4, tzinfo=UTC),
                "minimum": 3,
            },
        ),
        Audience("en", "UTC", "Leo"),
    )
    assert expected in text
