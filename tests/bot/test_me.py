"""A member's own view, their export, and deletion on request."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from bot.cli import main
from storage.db import transaction
from storage.models import Answer, ConversationRun, Kudos, Member, Obstacle
from tests.bot.test_digest import run_checkin
from tests.helpers import local


def test_me_shows_exactly_the_digest_section_about_me(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", mood=4, wins="Shipped the importer", blockers="No test data")
    mine = h.say("alice", "/me")[0]
    assert mine.startswith(
        "🪞 Here's what Flywheel has about you, Alice.\nThis is exactly what Maria will see about you"
    )
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    digest = [m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest"][0]
    section = mine.split("\n\n")[1]
    assert section.startswith("👤 Alice · checked in ✅")
    # word for word, but for the manager's own numbers to reply with (`[3]`: bot/replies.py), which are theirs
    assert section in re.sub(r" \[[0-9]+\]", "", digest)
    assert "👤 Bo" not in mine and "👤 陈晨" not in mine


def test_me_in_chinese_and_without_a_manager(harness):
    assert harness.say("chen", "/me")[0].startswith("🪞 陈晨，这是 Flywheel 里关于你的内容。")
    assert "no one gets a digest about you" in harness.say("maria", "/me")[0]


def test_export_has_everything_and_only_mine(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="EXPORT-ME", blockers="Slow builds")
    run_checkin(h, "bo", wins="NOT-ALICES")
    h.say("bo", "/kudos @alice for the pairing")
    text = h.say("alice", "/me export")[0]
    data = json.loads(text.split("\n", 1)[1])
    assert data["profile"]["handle"] == "alice" and data["profile"]["manager"] == "maria"
    weekly = [c for c in data["conversations"] if c["flow"] == "weekly_checkin"]
    assert weekly[0]["answers"]["wins"] == "EXPORT-ME"
    assert data["obstacles"][0]["text"] == "Slow builds"
    assert data["kudos_received"] == [
        {"from": "bo", "reason": "for the pairing", "value": None, "at": data["kudos_received"][0]["at"]}
    ]
    assert "NOT-ALICES" not in text


def test_forget_deletes_a_members_data_on_request(harness, monkeypatch, capsys):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", blockers="Slow builds")
    h.say("alice", "/kudos @bo for reviews")
    run_checkin(h, "bo")
    monkeypatch.setenv("DATABASE_URL", h.app.settings.database_url)
    for name in ("SLACK_BOT_TOKEN", "FEISHU_APP_ID", "FLYWHEEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["forget", "alice"]) == 0
    assert "Run again with --yes" in capsys.readouterr().out
    with transaction(h.app.sessions) as s:
        assert s.exec(select(Answer).where(Answer.member_id == 2)).first() is not None  # dry run kept it
    assert main(["forget", "alice", "--yes"]) == 0
    with transaction(h.app.sessions) as s:
        alice = s.get(Member, 2)
        assert (alice.handle, alice.name, alice.active) == ("deleted-2", "(deleted)", False)
        assert s.exec(select(Answer).where(Answer.member_id == 2)).all() == []
        assert s.exec(select(ConversationRun).where(ConversationRun.member_id == 2)).all() == []
        assert s.exec(select(Obstacle)).all() == []
        # Kudos she gave stay (they are Bo's recognition too), from a giver with no name left.
        assert [(k.giver_id, k.reason) for k in s.exec(select(Kudos))] == [(2, "for reviews")]
        assert s.exec(select(Answer).where(Answer.member_id == 3)).all() != []  # bo's stay
    assert main(["forget", "nobody"]) == 1


def test_a_note_on_a_past_answer_is_shown_wherever_the_answer_is(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="Shipped the importer")
    assert h.say("alice", "/note 2026-W48 wins Bo did the hard part")[0].startswith("Noted ✏️")
    assert h.say("alice", "/note W48 2 Bo did the hard part, really")[0].startswith("Noted ✏️")
    assert h.say("alice", "/note 2026-W40 wins x")[0].startswith("I could not find your answer")
    assert h.say("alice", "/note")[0].startswith("To add a note")
    assert "Wins: “Shipped the importer”\n  ↳ note: Bo did the hard part, really" in h.say("alice", "/me")[0]
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    digest = [m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest"][0]
    assert "  ↳ note: Bo did the hard part, really" in digest
    data = json.loads(h.say("alice", "/me export")[0].split("\n", 1)[1])
    weekly = [c for c in data["conversations"] if c["flow"] == "weekly_checkin"][0]
    assert weekly["notes"] == {"wins": "Bo did the hard part, really"}
    # Notes are only ever on one's own answers.
    assert h.say("bo", "/note 2026-W48 wins hijack")[0].startswith("I could not find your answer")


def test_forget_works_for_someone_who_wrote_retro_actions_and_leaves_no_message_copies(harness, monkeypatch):
    from storage.models import DevelopmentAction, OutboxMessage

    h = harness
    h.say("alice", '/retro start "Launch" @alice @bo')
    for text in ("g", "w", "b", "@bo add alerts"):
        h.say("alice", text)
    h.say("alice", "/review")
    h.say("alice", "none")
    h.say("alice", "2 SECRET-SUPPORT more QA time")
    monkeypatch.setenv("DATABASE_URL", h.app.settings.database_url)
    for name in ("SLACK_BOT_TOKEN", "FEISHU_APP_ID", "FLYWHEEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["forget", "alice", "--yes"]) == 0
    with transaction(h.app.sessions) as s:
        assert s.exec(select(DevelopmentAction)).all() == []
        bodies = [json.dumps(m.body, ensure_ascii=False) for m in s.exec(select(OutboxMessage))]
    assert not any("SECRET-SUPPORT" in b for b in bodies)  # sent messages keep no copy of what was said


def test_open_support_requests_follow_a_member_to_their_new_manager(tmp_path):
    from bot.config import parse_config, sync_members
    from storage.models import SupportRequest
    from tests.helpers import DEMO, make_harness, utc

    h = make_harness(tmp_path, start=utc(2026, 12, 1, 10, 0), config=DEMO)
    try:
        h.say("alice", "/review")
        h.say("alice", "none")
        h.say("alice", "1 a decision on the vendor")
        moved = {"members": [dict(m, manager="chen") if m["handle"] == "alice" else m for m in DEMO["members"]]}
        with transaction(h.app.sessions) as s:
            sync_members(s, parse_config(moved, source="test"), now=h.clock.now())
        with transaction(h.app.sessions) as s:
            request = s.exec(select(SupportRequest)).one()
            chen = s.exec(select(Member).where(Member.handle == "chen")).one()
        assert request.manager_id == chen.id
        assert h.say("maria", f"/support {request.id} resolved")[0].startswith("There is no open request")
        assert h.say("chen", f"/support {request.id} handle")[0] == "好的，已告知 Alice：你会处理。"
    finally:
        h.app.close()


def test_a_note_names_the_week_as_people_say_it(harness):
    from tests.bot.test_own_data import zh_checkin

    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="Shipped the importer")
    zh_checkin(h)
    h.run_until(local("Europe/London", 2026, 12, 1, 10, 0))  # the next week: that check-in is "last week"
    assert h.say("alice", "/note last week wins Bo did the hard part")[0].startswith("Noted ✏️")
    assert _note(h, 2, "wins") == "Bo did the hard part"
    assert h.say("alice", "/note 25 Nov 2 It was a team effort")[0].startswith("Noted ✏️")
    assert _note(h, 2, "wins") == "It was a team effort"
    assert h.say("chen", "/备注 上周 亮点 其实是 Bo 的主意")[0].startswith("备注已加上 ✏️")
    assert _note(h, 4, "wins") == "其实是 Bo 的主意"
    # A week with nothing in it is named as a week, never as a code.
    missing = h.say("alice", "/note 2026-W40 wins x")[0]
    assert missing.startswith("I could not find your answer “wins” in the week of 28 Sep.") and "W40" not in missing
    assert "9月28日那周" in h.say("chen", "/备注 2026-W40 亮点 x")[0]


def _note(h, member_id, step):
    with transaction(h.app.sessions) as s:
        return s.exec(select(Answer).where(Answer.member_id == member_id, Answer.step == step)).one().note
