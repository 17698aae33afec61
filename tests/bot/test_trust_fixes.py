"""What a new-user trial found: flags of unfinished check-ins, `/me access` wording, working hours for every DM to
someone else, free text kept as typed, the deletion notice's time zone, and `/flywheel team add` one by one."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from storage.db import transaction
from storage.models import AnswerFlag, Member, OutboxMessage
from tests.bot.test_digest import run_checkin
from tests.helpers import local


def sent_to(h, handle: str, since: int = 0) -> list[str]:
    return [m.text for r, m in h.fake.sent[since:] if r.address == handle]


def start_checkin(h, handle: str) -> None:
    text = h.say(handle, "/checkin")[-1]
    assert "How was your week" in text, text
    assert "What went well" in h.say(handle, "2")[-1]
    h.say(handle, "secret win")


# ------------------------------------------------------------------------------------------------ 1. flags


def test_flagging_an_unfinished_checkin_tells_the_manager_nothing_yet(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    start_checkin(h, "alice")
    before = len(h.fake.sent)
    reply = h.say("alice", "/me flag 2026-W49 wins typo")
    assert "still change" in reply[0] and "back" in reply[0], reply
    h.run_until(local("Europe/London", 2026, 12, 4, 16, 0))
    assert not any("secret win" in t for t in sent_to(h, "maria", before))
    with transaction(h.app.sessions) as s:
        assert s.exec(select(AnswerFlag)).first() is None


def test_flagging_a_finished_checkin_still_reaches_the_manager(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    run_checkin(h, "alice", wins="shipped it")
    before = len(h.fake.sent)
    h.say("alice", "/me flag 2026-W49 wins typo")
    h.run_until(local("Europe/London", 2026, 12, 4, 16, 0))
    assert any("shipped it" in t for t in sent_to(h, "maria", before))


# ------------------------------------------------------------------------------------------------ 2. /me access


def test_me_access_lists_reads_only_in_words(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    run_checkin(h, "alice", wins="shipped it")
    h.say("alice", "/me flag 2026-W49 wins typo")
    h.say("alice", "/me flag 2026-W49 blockers typo")
    h.say("maria", "/flywheel team add @bo")  # bo already reports to maria: nothing to ask
    h.run_until(local("Europe/London", 2026, 12, 7, 10, 0))
    text = h.say("alice", "/me access")[0]
    assert "manager_" not in text and "“blockers” in the week of 30 Nov" in text, text
    assert "Monday digest" in text
    with transaction(h.app.sessions) as s:
        alice = s.exec(select(Member).where(Member.handle == "alice")).one()
        alice.locale = "zh"
        s.add(alice)
    zh = h.say("alice", "/me access")[0]
    assert "“障碍”" in zh and "blockers" not in zh and "wins" not in zh, zh


def test_me_access_leaves_out_line_changes_and_own_actions(tmp_path):
    from tests.helpers import make_harness, utc

    config = {"members": [{"handle": "maria", "name": "Maria Rossi"}, {"handle": "bo", "name": "Bo Li"}]}
    h = make_harness(tmp_path, start=utc(2026, 12, 1, 10, 0), config=config)
    try:
        h.say("maria", "/flywheel team add @bo")
        h.run_until(utc(2026, 12, 1, 15, 0))
        h.say("bo", "/flywheel accept 1")
        text = h.say("bo", "/me access")[0]
        assert "manager_" not in text and "No one has read" in text, text
    finally:
        h.app.close()


def test_digest_audit_names_only_the_checkin_it_showed(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    start_checkin(h, "alice")  # never finished: the window is still open on Monday? (closes before) — see below
    run_checkin(h, "bo")
    h.run_until(local("Europe/London", 2026, 12, 7, 10, 0))
    bo = h.say("bo", "/me access")[0]
    assert "check-in for the week of 30 Nov" in bo, bo


# ------------------------------------------------------------------------------------------------ 4. verbatim


def test_flag_reason_and_note_are_kept_as_typed(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    run_checkin(h, "alice", wins="修好了")
    h.say("alice", "/me flag 2026-W49 亮点 写错了，是和Bo一起修的（１２号）")
    h.say("alice", "/note 2026-W49 wins 其实是Bo的主意，谢谢！")
    h.say("alice", "/kudos @bo 谢谢，帮我改了bug！")
    with transaction(h.app.sessions) as s:
        assert s.exec(select(AnswerFlag)).one().reason == "写错了，是和Bo一起修的（１２号）"
    export = h.say("alice", "/me export")[0]
    assert "其实是Bo的主意，谢谢！" in export and "谢谢，帮我改了bug！" in export, export


# ------------------------------------------------------------------------------------------------ 3. working hours


def test_messages_to_someone_else_wait_for_their_working_hours(tmp_path):
    """A property over commands: whatever one person types at an odd hour, every message it queues for someone
    else waits for that person's working time (bot/calendar.py `send_at`)."""
    from tests.helpers import make_harness, utc

    config = {
        "members": [
            {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
            {"handle": "alice", "name": "Alice Martin", "manager": "maria", "timezone": "Europe/London"},
            {"handle": "bo", "name": "Bo Li", "timezone": "America/New_York", "country": "US"},
            {"handle": "root", "name": "Ada Admin", "timezone": "Europe/London"},
            {"handle": "dee", "name": "Dee Doe", "timezone": "Europe/London"},
        ],
        "admins": ["root"],
    }
    h = make_harness(tmp_path, start=utc(2026, 11, 30, 9, 0), config=config)
    try:
        h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
        run_checkin(h, "alice", wins="shipped it")
        h.run_until(local("Europe/London", 2026, 12, 5, 1, 0))  # Saturday 01:00 London, Friday 20:00 New York
        commands = [
            ("alice", "/me flag 2026-W49 wins typo"),
            ("maria", "/flywheel team add @bo"),
            ("alice", "/kudos @maria thanks for the help"),
            ("alice", "/support help with the launch"),
            ("maria", "/me ack 1"),
            ("root", "/flywheel manager @dee @maria"),
            ("bo", "/flywheel decline 1"),
        ]
        for who, text in commands:
            start = len(h.fake.sent)
            with transaction(h.app.sessions) as s:
                last = max([m.id for m in s.exec(select(OutboxMessage))] or [0])
            h.say(who, text)
            now = h.clock.now()
            with transaction(h.app.sessions) as s:
                actor = s.exec(select(Member).where(Member.handle == who)).one()
                for row in s.exec(select(OutboxMessage).where(OutboxMessage.id > last)):
                    if row.member_id is None or row.member_id == actor.id:
                        continue
                    recipient = s.get(Member, row.member_id)
                    assert row.next_attempt_at.replace(tzinfo=None) >= h.app.calendars.send_at(recipient, now).replace(
                        tzinfo=None
                    ), (text, row.kind, recipient.handle)
            assert sent_to(h, "maria", start) == [] or who == "maria", (text, sent_to(h, "maria", start))
    finally:
        h.app.close()


def test_digest_audit_leaves_out_a_withheld_checkin(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 4, 15, 0))
    start_checkin(h, "alice")
    h.run_until(local("Europe/London", 2026, 12, 7, 10, 0))
    digest = "\n".join(m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "digest")
    assert "secret win" not in digest
    alice = h.say("alice", "/me access")[0]
    assert "Monday digest" in alice and "check-in for the week of 30 Nov" not in alice, alice


# Messages queued for a person without asking for their working time: answers to what that person just did, and
# retro questions (sent by the tick once `prompt_at`, their working time, has come). A new `repo.enqueue` to a person
# without `not_before=` fails this test until it is named here with its reason — or, better, asks bot/calendar.py
# `send_at`. (Channel posts, `member_id=None`, are for no one person's hours.)
NOT_TIMED = {
    ("bot/inbound.py", "reply"),  # a reply to the sender, or to the sender's failed message
    ("bot/forms.py", "reply"),  # a reply to the form's sender
    ("bot/inbound.py", "kind"),  # a reply (or the App Home) to the sender / the unknown sender
    ("bot/own_data.py", "farewell"),  # to the chat account that just deleted its data
    ("bot/retro.py", "deliver"),  # to the starter at once, to others only once their `prompt_at` has come
    ("bot/feedback.py", "deliver"),  # a request for feedback: at once only when the colleague's `prompt_at` has come
    ("bot/engine.py", "waiting"),  # "this one is next": to someone in the middle of another conversation right now
}


def test_every_queued_message_to_someone_else_asks_for_their_working_time():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    untimed = set()
    for path in sorted((root / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "enqueue"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "repo"
            ):
                words = {k.arg: k.value for k in node.keywords}
                channel = isinstance(words.get("member_id"), ast.Constant) and words["member_id"].value is None
                if "not_before" in words or (
                    channel and "channel" in words and getattr(words.get("kind"), "value", None) != "farewell"
                ):
                    continue
                kind = words.get("kind")
                name = kind.value if isinstance(kind, ast.Constant) else getattr(kind, "id", "?")
                untimed.add((str(path.relative_to(root)), name))
    assert untimed <= NOT_TIMED, sorted(untimed - NOT_TIMED)


# ------------------------------------------------------------------------------------------------ 6. team add

TRIAL = {
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "timezone": "Europe/London"},
        {"handle": "bo", "name": "Bo Li", "timezone": "Europe/London"},
        {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": "Asia/Shanghai", "locale": "zh"},
        {"handle": "root", "name": "Ada Admin", "timezone": "Europe/London"},
    ],
    "admins": ["root"],
}


def test_team_add_asks_whoever_can_be_asked_and_says_why_not_for_each_other(tmp_path):
    from tests.helpers import make_harness

    h = make_harness(tmp_path, start=local("Europe/London", 2026, 12, 1, 10, 0), config=TRIAL)
    try:
        h.say("root", "/flywheel manager @bo @alice")  # bo reports to alice: alice above bo
        replies = h.say("bo", "/flywheel team add @alice @maria @bo @chen @nobody")
        text = "\n".join(replies)
        assert replies[0].startswith("I've asked Maria to confirm."), replies
        assert "Chen" in text or "陈晨" in text
        assert "can't ask yourself" in text
        assert "I didn't ask Alice: you report to them" in text
        assert "I could not find @nobody" in text
        with transaction(h.app.sessions) as s:
            maria = s.exec(select(Member).where(Member.handle == "maria")).one()
            asks = [m for m in s.exec(select(OutboxMessage).where(OutboxMessage.member_id == maria.id))]
            assert any(m.kind == "team" for m in asks)
        with transaction(h.app.sessions) as s:
            chen = s.exec(select(Member).where(Member.handle == "chen")).one()
            chen.locale = "zh"
        assert h.say("root", "/flywheel manager @alice @alice") == [
            "Nothing changed: Alice can't be their own manager. Name two different people: "
            "`/flywheel manager @member @manager`."
        ]
    finally:
        h.app.close()


# ------------------------------------------------------------------------------------------------ 5. deletion


def test_the_deletion_notice_is_in_their_time_zone_and_rejoining_is_told_consistently(harness):
    h = harness
    h.run_until(local("Asia/Shanghai", 2026, 12, 8, 18, 0))
    explained = h.say("chen", "/我 删除")[0]
    import re

    code = re.search(r"([0-9]{4})", explained.split("确认")[-1]).group(1)
    h.say("chen", f"/我 删除 确认 {code}")
    h.app.deliver_outbox()
    notice = h.say("chen", "/我")[0]
    assert "18:00" in notice and "12月8日" in notice, notice
    rejoined = h.say("chen", "/me rejoin")[0]
    assert "欢迎回来" in rejoined
    later = h.say("chen", "/me")[0]
    assert "下次启动时会重新添加你" in later, later


def test_a_retro_title_is_kept_as_typed(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 1, 10, 0))
    h.say("maria", "/retro start 上线复盘（第１期），谢谢大家 @alice @bo due ２４h")
    from storage.models import Retro

    with transaction(h.app.sessions) as s:
        retro = s.exec(select(Retro)).one()
        assert retro.title == "上线复盘（第１期），谢谢大家"
        assert retro.due_at - retro.created_at == timedelta(hours=24)
