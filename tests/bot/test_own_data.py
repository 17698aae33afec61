"""People control their own data: `/me delete`, `/me access`, `/me flag` and the manager's `/me ack`."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import SQLModel, select

from bot.config import parse_config, sync_members
from bot.platforms.common import message_rows
from storage import repo
from storage.db import transaction
from storage.models import Answer, AnswerFlag, AuditRecord, ConversationRun, ErasedAccount, Kudos, Member
from tests.bot.test_digest import run_checkin
from tests.helpers import DEMO, local

ALICE = 2  # the demo team's ids: maria 1, alice 2, bo 3, chen 4


def code_in(text: str) -> str:
    return re.search(r"/me delete confirm ([0-9]{4})", text).group(1)  # type: ignore[union-attr]


def digest_for(h, handle: str) -> str:
    return "\n".join(m.text for r, m in h.fake.sent if r.address == handle and m.kind == "digest")


def count(h, model, *where) -> int:
    with transaction(h.app.sessions) as s:
        return len(s.exec(select(model).where(*where)).all())


# ------------------------------------------------------------------------------------------------ deleting


def test_delete_needs_a_confirmation_and_a_stale_or_wrong_one_does_nothing(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="KEEP-ME")
    answers = count(h, Answer, Answer.member_id == ALICE)
    assert h.say("alice", "/me delete confirm 1234")[0].startswith("Nothing was deleted: there is no deletion waiting")
    explained = h.say("alice", "/me delete")[0]
    assert explained.startswith("⚠️ This deletes what Flywheel stores about you, for good")
    assert "with 5 answers" in explained and "What stays: kudos you gave others" in explained
    code = code_in(explained)
    wrong = "0000" if code != "0000" else "1111"
    assert h.say("alice", f"/me delete confirm {wrong}")[0].startswith(
        f"Nothing was deleted: “{wrong}” is not the code"
    )
    assert h.say("alice", "/me delete confirm")[0].startswith("Nothing was deleted: the confirmation needs the code")
    assert h.say("alice", "/me delete now please")[0].startswith("I understood `/me delete`, but not “now please”")
    h.clock.set(h.clock.now() + timedelta(minutes=10, seconds=1))
    assert h.say("alice", f"/me delete confirm {code}")[0].startswith("Nothing was deleted: there is no deletion")
    # Cancelled: the code no longer works either.
    code = code_in(h.say("alice", "/me delete")[0])
    assert h.say("alice", "/me delete cancel") == ["Cancelled — nothing was deleted."]
    assert h.say("alice", f"/me delete confirm {code}")[0].startswith("Nothing was deleted: there is no deletion")
    assert count(h, Answer, Answer.member_id == ALICE) == answers
    with transaction(h.app.sessions) as s:
        assert s.get(Member, ALICE).active


def everything_alice_did(h):
    """A check-in with a note and a flag, a support request, kudos both ways, a retro action, and a digest read."""
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="ALICE-WINS", blockers="ALICE-BLOCKER")
    h.say("alice", "/note 2026-W48 wins ALICE-NOTE")
    h.say("alice", "/me flag 2026-W48 blockers ALICE-FLAG")
    h.say("alice", "/kudos @bo for ALICE-KUDOS-REASON")
    h.say("bo", "/kudos @alice for BO-KUDOS-REASON")
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))  # Maria's digest reads Alice's answers
    h.say("maria", "/me ack 1")
    h.clock.set(local("Europe/London", 2026, 12, 1, 10, 0))  # December's review is open
    h.say("alice", "/review")
    h.say("alice", "resolved")  # the check-in's blocker
    h.say("alice", "none")
    h.say("alice", "2 ALICE-SUPPORT more QA time")
    h.say("maria", "/support")


def test_after_deletion_nothing_of_theirs_is_left_but_what_the_readme_says_stays(harness):
    h = harness
    everything_alice_did(h)
    assert "ALICE-WINS" in digest_for(h, "maria")
    code = code_in(h.say("alice", "/me delete")[0])
    done = h.say("alice", f"/me delete confirm {code}")
    assert done[0].startswith("🗑️ Done. Your data is deleted")
    with transaction(h.app.sessions) as s:
        alice = s.get(Member, ALICE)
        assert (alice.handle, alice.name, alice.email, alice.active, alice.manager_id) == (
            "deleted-2",
            "(deleted)",
            None,
            False,
            None,
        )
        assert (alice.account("slack"), alice.account("feishu"), alice.team) == (None, None, None)
        # Every column that can point at a person, in every table: only what the README says stays.
        left: dict[str, list[str]] = {}
        for table in SQLModel.metadata.sorted_tables:
            for column in table.columns:
                if column.name in (
                    "member_id",
                    "giver_id",
                    "owner_id",
                    "actor_id",
                    "subject_id",
                    "manager_id",
                    "acknowledged_by",
                    "started_by",
                ) or (table.name == "member" and column.name == "id"):
                    if s.execute(sa.select(sa.func.count()).select_from(table).where(column == ALICE)).scalar():
                        left.setdefault(table.name, []).append(column.name)
        assert left == {
            "member": ["id"],
            "kudos": ["giver_id"],
            "audit_record": ["actor_id", "subject_id"],
            "erased_account": ["member_id"],
        }
        assert [k.reason for k in s.exec(select(Kudos).where(Kudos.giver_id == ALICE))] == ["for ALICE-KUDOS-REASON"]
        assert sorted({r.what for r in s.exec(select(AuditRecord).where(AuditRecord.subject_id == ALICE))}) == [
            "digest",
            "flag",
            "self_delete",
            "support_list",
        ]
        # And nothing she wrote anywhere else, in any text column (the kudos she gave excepted).
        dump = json.dumps(
            [
                [list(map(str, row)) for row in s.execute(sa.select(table))]
                for table in SQLModel.metadata.sorted_tables
                if table.name != "kudos"
            ],
            ensure_ascii=False,
        )
    for secret in (
        "ALICE-WINS",
        "ALICE-BLOCKER",
        "ALICE-NOTE",
        "ALICE-FLAG",
        "ALICE-SUPPORT",
        "BO-KUDOS-REASON",
        "Alice",
        "alice",
    ):
        assert secret not in dump, secret
    # Bo's kudos wall shows the kudos she gave, from "a former colleague".
    assert "a former colleague → Bo" in h.say("bo", "/kudos wall")[0]


def test_a_flag_not_yet_delivered_to_the_manager_goes_with_the_deletion(harness):
    from conversations.events import InboundEvent
    from storage.models import OutboxMessage

    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="UNSENT-WINS")
    code = code_in(h.say("alice", "/me delete")[0])
    for key, text in (("f1", "/me flag 2026-W48 wins UNSENT-FLAG"), ("f2", f"/me delete confirm {code}")):
        h.app.handle(
            InboundEvent(
                platform="console", user="alice", kind="message", text=text, dedup_key=key, received_at=h.clock.now()
            )
        )  # handled, not yet delivered
    with transaction(h.app.sessions) as s:
        bodies = json.dumps([m.body for m in s.exec(select(OutboxMessage))], ensure_ascii=False)
    assert "UNSENT" not in bodies and "own_data/deleted" in bodies


def test_the_managers_next_digest_does_not_show_them_and_they_are_not_prompted(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice")
    h.say("alice", f"/me delete confirm {code_in(h.say('alice', '/me delete')[0])}")
    h.fake.clear()
    h.run_until(local("Europe/London", 2026, 12, 7, 9, 0))
    digest = digest_for(h, "maria")
    assert "👤 Bo" in digest and "Alice" not in digest
    assert h.prompts("alice") == [] and h.prompts("bo") != []


def test_writing_again_after_deletion_says_so_and_rejoin_brings_them_back_from_nothing(harness):
    h = harness
    h.say("alice", f"/me delete confirm {code_in(h.say('alice', '/me delete')[0])}")
    again = h.say("alice", "/checkin")
    assert again[0].startswith("Your data was deleted at your request on ")
    assert "send `/me rejoin`" in again[0]
    # The organisation file still lists her: she is not added back until she asks.
    config = parse_config(DEMO, source="test")
    with transaction(h.app.sessions) as s:
        sync_members(s, config, now=h.clock.now())
    with transaction(h.app.sessions) as s:
        assert s.exec(select(Member).where(Member.handle == "alice")).first() is None
    assert h.say("alice", "/me rejoin")[0].startswith("Welcome back 👋")
    with transaction(h.app.sessions) as s:
        sync_members(s, config, now=h.clock.now())
    with transaction(h.app.sessions) as s:
        back = s.exec(select(Member).where(Member.handle == "alice")).one()
        assert back.id != ALICE and back.active and back.manager_id == 1
        assert s.exec(select(ErasedAccount)).all() == []
    assert "👤 Alice · no check-in" in h.say("alice", "/me")[0]


def test_a_slack_directory_sync_does_not_bring_back_someone_who_deleted_their_data(harness):
    from bot.platforms.slack.directory import sync_users

    h = harness
    h.set_member("alice", accounts={"slack": "UALICE"})
    h.say("alice", f"/me delete confirm {code_in(h.say('alice', '/me delete')[0])}")
    users = [
        {"id": "UALICE", "name": "alice", "real_name": "Alice Martin", "tz": "Europe/London"},
        {"id": "UNEW", "name": "nina", "real_name": "Nina New", "tz": "Europe/London"},
    ]
    with transaction(h.app.sessions) as s:
        counts = sync_users(s, iter(users), default_timezone="UTC", default_locale="en", now=h.clock.now())
    assert (counts["added"], counts["skipped"]) == (1, 1)
    with transaction(h.app.sessions) as s:
        assert repo.member_by_platform_id(s, platform="slack", user_id="UALICE") is None


# ------------------------------------------------------------------------------------------------ who read it


def test_access_lists_who_read_my_answers_by_name_newest_first(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice")
    assert h.say("alice", "/me access")[0].startswith("🔎 No one has read your answers yet.")
    h.run_until(local("Europe/London", 2026, 12, 7, 9, 0))  # two Monday digests
    h.say("alice", "/me")  # reading one's own is not listed
    lines = h.say("alice", "/me access")[0].split("\n")
    assert lines[0] == "🔎 Who read your answers, newest first (2 in all):"
    # W49 was never answered, so that digest showed no check-in of hers, and the record names none
    assert lines[1] == (
        "• Mon 7 Dec, 09:00 — Maria Rossi: your section of the Monday digest (your mood over six "
        "weeks, open obstacles and support requests)"
    )
    assert lines[2].startswith(
        "• Mon 30 Nov, 09:00 — Maria Rossi: your section of the Monday digest (your check-in for the week of 23 Nov"
    )
    assert len(lines) == 3
    assert h.say("alice", "/me access x y")[0].startswith("I understood `/me access`, but not “x y”.")


def test_access_is_paged_with_a_clear_count_of_the_rest(harness):
    h = harness
    with transaction(h.app.sessions) as s:
        for i in range(20):
            s.add(
                AuditRecord(
                    actor_id=1,
                    subject_id=ALICE,
                    what="support_list",
                    part=f"#{i}",
                    at=h.clock.now() - timedelta(hours=i),
                )
            )
    first = h.say("alice", "/me access")[0].split("\n")
    assert len(first) == 1 + 15 + 1 and first[1].endswith("your support requests #0")
    assert first[-1] == "… and 5 more: `/me access 2`"
    second = h.say("alice", "/me access 2")[0].split("\n")
    assert second[0] == "🔎 Who read your answers, newest first (20 in all, page 2):"
    assert len(second) == 1 + 5 and second[-1].endswith("your support requests #19")


# ------------------------------------------------------------------------------------------------ flags


def test_a_flag_reaches_the_manager_who_acknowledges_it_and_it_shows_wherever_the_answer_does(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", wins="Shipped the importer")
    saved = h.say("alice", "/me flag 2026-W48 wins It was really Bo's idea")
    assert saved == [
        "⚑ Flagged as wrong: your answer “wins” in the week of 23 Nov. Maria has been asked to acknowledge it. "
        "The flag and your reason are shown with it wherever it appears (digest, `/me`, export)."
    ]
    asked = [m for r, m in h.fake.sent if r.address == "maria" and m.kind == "flag_new"]
    assert len(asked) == 1
    assert asked[0].text.startswith(
        "⚑ Alice says their answer “wins” for the week of 23 Nov is wrong — it says “Shipped the "
        "importer”.\nWhy: “It was really Bo's idea”"
    )
    buttons = [b for row in message_rows(asked[0].replies, "en", None) for b in row.buttons]
    assert [(b.label, b.value) for b in buttons] == [("Acknowledge", "/me ack 1")]
    assert (
        "⚑ Alice flagged wins (the week of 23 Nov) as wrong: “It was really Bo's idea” · not acknowledged yet"
        in h.say("alice", "/me")[0]
    )
    assert h.say("maria", "/me ack 1") == [
        "✓ Acknowledged. Alice has been told you saw their flag, and the digest shows it as acknowledged."
    ]
    assert h.fake.texts_for("alice")[-1] == "✓ Maria has seen your flag on your answer “wins” in the week of 23 Nov."
    assert h.say("maria", "/me ack 1") == ["Flag #1 from Alice was already acknowledged."]
    shown = "⚑ Alice flagged wins (the week of 23 Nov) as wrong: “It was really Bo's idea” · acknowledged ✓"
    assert shown in h.say("alice", "/me")[0]
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    assert shown in digest_for(h, "maria")
    data = json.loads(h.say("alice", "/me export")[0].split("\n", 1)[1])
    weekly = [c for c in data["conversations"] if c["flow"] == "weekly_checkin"][0]
    assert weekly["flags"]["wins"]["why"] == "It was really Bo's idea"
    assert weekly["flags"]["wins"]["acknowledged_at"] is not None
    # The manager read the flagged answer: that is in Alice's access list too.
    assert (
        "Maria Rossi: the answer you flagged as wrong (“wins” in the week of 23 Nov)" in h.say("alice", "/me access")[0]
    )


def test_an_unacknowledged_flag_asks_the_manager_in_the_digest(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice", mood=2)
    h.say("alice", "/me flag 2026-W48 mood I pressed the wrong key, it was a 4")
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    assert (
        "⚑ Alice flagged mood (the week of 23 Nov) as wrong: “I "
        "pressed the wrong key, it was a 4” · please acknowledge: "
        "/me ack 1"
    ) in digest_for(h, "maria")


def test_a_hint_in_the_digest_can_be_flagged_as_wrong(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 12, 14, 8, 0))  # three weeks without a check-in
    mine = h.say("alice", "/me")[0]
    assert "1. No check-in for three weeks." in mine
    assert h.say("alice", "/me flag hint 3 nope")[0].startswith("There is no point 3 under “Worth asking about”")
    assert h.say("alice", "/me flag hint 1 I was on parental leave")[0].startswith(
        "⚑ Flagged as wrong: the point “no check-in for three weeks” in the week of 7 Dec."
    )
    shown = "  ⚑ Alice says this is wrong: “I was on parental leave” · "
    assert shown + "not acknowledged yet" in h.say("alice", "/me")[0]
    h.run_until(local("Europe/London", 2026, 12, 14, 9, 0))
    assert shown + "please acknowledge: /me ack 1" in digest_for(h, "maria")


def test_no_one_can_flag_or_acknowledge_someone_elses_answer(harness):
    h = harness
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice")
    h.say("alice", "/me flag 2026-W48 wins wrong")
    assert h.say("bo", "/me flag alice 2026-W48 wins hijack")[0].startswith("Only your own answers can be flagged")
    assert h.say("bo", "/me flag @alice 2026-W48 wins hijack")[0].startswith("Only your own answers can be flagged")
    assert h.say("bo", "/me flag 2026-W48 wins hijack")[0].startswith("I could not find your answer “wins”")
    assert h.say("bo", "/me ack 1") == ["There is no flag #1 waiting for you to acknowledge."]
    assert h.say("alice", "/me ack 1") == ["There is no flag #1 waiting for you to acknowledge."]
    with transaction(h.app.sessions) as s:
        flags = s.exec(select(AnswerFlag)).all()
        assert [(f.member_id, f.reason, f.acknowledged_at) for f in flags] == [(ALICE, "wrong", None)]


def test_garbled_arguments_say_what_was_understood_and_how_to_use_it(harness):
    h = harness
    assert h.say("alice", "/me flag 2026-W48")[0].startswith(
        "I understood `/me flag` for the week of 23 Nov, but not which answer. To flag one of your answers"
    )
    assert h.say("alice", "/me flag 2026-W48 wins")[0].startswith(
        "I understood `/me flag` for the week of 23 Nov, answer wins, but not why."
    )
    said = h.say("alice", "/me flag last week wins")[0]  # the week as people say it is shown as a week too
    assert said.startswith("I understood `/me flag` for the week of ") and ", answer wins, but not why." in said
    assert "-W" not in said.split("To flag")[0]
    assert h.say("alice", "/me flag hint x")[0].startswith("I understood `/me flag hint`, but not which point")
    assert h.say("maria", "/me ack seven")[0].startswith("I understood `/me ack`, but not “seven”.")
    assert h.say("alice", "/me blah")[0].startswith("I know `/me`, but not “blah” after it.")
    assert h.say("alice", "/me rejoin")[0].startswith("You are already a member")


def test_retention_takes_flags_and_old_audit_records_with_the_answers(harness):
    from dataclasses import replace

    h = harness
    h.app.settings = replace(h.app.settings, retention_days=30)
    h.run_until(local("Europe/London", 2026, 11, 27, 15, 0))
    run_checkin(h, "alice")
    h.say("alice", "/me flag 2026-W48 wins wrong")
    h.run_until(local("Europe/London", 2026, 11, 30, 10, 0))
    assert count(h, AnswerFlag) == 1 and count(h, AuditRecord) > 0
    h.run_until(local("Europe/London", 2027, 1, 2, 12, 0))
    assert count(h, AnswerFlag) == 0
    with transaction(h.app.sessions) as s:
        assert [r for r in s.exec(select(AuditRecord)) if r.at < local("Europe/London", 2026, 12, 2)] == []


# ------------------------------------------------------------------------------------------------ in Chinese


def zh_checkin(h) -> None:
    h.say("chen", "/checkin")
    for text in ("4", "上线了导入功能", "无", "继续优化", "无"):
        h.say("chen", text)
    with transaction(h.app.sessions) as s:
        run = s.exec(select(ConversationRun).where(ConversationRun.member_id == 4)).one()
        assert run.status == "completed"


def test_the_same_in_chinese(harness):
    h = harness
    h.run_until(local("Asia/Shanghai", 2026, 11, 27, 15, 0))
    zh_checkin(h)
    saved = h.say("chen", "/我 纠错 2026-W48 亮点 其实是 Bo 的主意")[0]
    assert saved.startswith("⚑ 已标记为有误：11月23日那周的回答“亮点”。已请 Maria 确认知悉。")
    h.run_until(local("Europe/London", 2026, 11, 27, 9, 0))  # 07:00 in London: it waits for Maria's working time
    asked = [m.text for r, m in h.fake.sent if r.address == "maria" and m.kind == "flag_new"]
    assert asked[0].startswith("⚑ 陈晨 says their answer “wins” for the week of 23 Nov is wrong")  # Maria reads English
    h.say("maria", "/me ack 1")
    assert h.fake.texts_for("chen")[-1] == "✓ Maria 已知悉你对11月23日那周回答“亮点”的纠错。"
    assert "⚑ 陈晨 指出11月23日那周的“亮点”有误：“其实是 Bo 的主意” · 已确认知悉 ✓" in h.say("chen", "/我")[0]
    h.run_until(local("Europe/London", 2026, 11, 30, 9, 0))
    access = h.say("chen", "/我 查阅记录")[0].split("\n")
    assert access[0] == "🔎 查看过你的回答的人（最新在前，共 2 条）："
    assert "Maria Rossi：周一摘要中关于你的部分（11月23日那周的每周小结" in access[1]
    assert "Maria Rossi：你标记为有误的回答（11月23日那周的“亮点”）" in access[2]
    explained = h.say("chen", "/我 删除")[0]
    assert explained.startswith("⚠️ 这会永久删除 Flywheel 保存的关于你的数据，无法恢复：")
    code = code_in(explained)
    assert h.say("chen", "/我 删除 确认 9999" if code != "9999" else "/我 删除 确认 1111")[0].startswith(
        "什么都没有删除"
    )
    assert h.say("chen", f"/我 删除 确认 {code}")[0].startswith("🗑️ 已完成。你的数据已删除")
    assert h.say("chen", "/checkin")[0].startswith("应你的要求，你的数据已于 ")
    assert h.say("chen", "/我 重新加入")[0].startswith("欢迎回来 👋")
    # still listed in the organisation file: added again at the next start, as the rejoin said, in Chinese
    assert h.say("chen", "/我 乱码")[0].startswith("组织文件里有你，但 Flywheel 还没有添加你")


# ------------------------------------------------------------------------------------------------ on Slack and Feishu


def test_on_slack_a_flag_is_acknowledged_with_a_button_and_deletion_is_confirmed(tmp_path):
    from bot.app import Flywheel
    from bot.platforms.slack.messenger import SlackMessenger
    from bot.settings import Settings
    from bot.web import create_wsgi
    from conversations.clock import FrozenClock
    from fakes.slack_api import FakeSlack
    from tests.platforms.test_slack_http import SECRET, Client, texts
    from tests.platforms.test_slack_messenger import ORG

    clock = FrozenClock(local("Europe/London", 2026, 11, 27, 15, 0))
    fake = FakeSlack(clock).start()
    app = Flywheel.build(
        Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}"),
        clock=clock,
        config=parse_config(ORG, source="test"),
        messengers={"slack": SlackMessenger.from_settings("xoxb-t", fake.url)},
    )
    client = Client(
        create_wsgi(app, slack_signing_secret=SECRET, poke=app.deliver_outbox, now=lambda: clock.now().timestamp()),
        lambda: clock.now().timestamp(),
    )
    try:
        client.command("UALICE", "/checkin", "")
        for i, text in enumerate(["4", "Shipped the importer", "none", "ship it", "no"]):
            client.dm("UALICE", text, f"EvC{i}")
        client.command("UALICE", "/flywheel", "me flag 2026-W48 wins Bo did the hard part")
        assert texts(fake, "UALICE")[-1].startswith("⚑ Flagged as wrong: your answer “wins” in the week of 23 Nov.")
        asked = fake.posted("UMARIA")[-1].params
        assert asked["blocks"][0]["text"]["text"].startswith("⚑ Alice says their answer “wins” for the week of 23 Nov")
        button = asked["blocks"][-1]["elements"][0]
        assert (button["text"]["text"], button["value"]) == ("Acknowledge", "/me ack 1")
        payload = {
            "type": "block_actions",
            "user": {"id": "UMARIA", "team_id": "T1"},
            "team": {"id": "T1"},
            "trigger_id": "t.1",
            "channel": {"id": "D0UMARIA"},
            "actions": [
                {
                    "action_id": button["action_id"],
                    "block_id": asked["blocks"][-1]["block_id"],
                    "value": button["value"],
                    "type": "button",
                    "action_ts": "1700000100.1",
                }
            ],
        }
        assert (
            client.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")[0]
            == 200
        )
        assert texts(fake, "UMARIA")[-1].startswith("✓ Acknowledged. Alice has been told")
        assert texts(fake, "UALICE")[-1] == "✓ Maria has seen your flag on your answer “wins” in the week of 23 Nov."
        client.command("UALICE", "/flywheel", "me delete")
        code = code_in(texts(fake, "UALICE")[-1])
        client.command("UALICE", "/flywheel", f"me delete confirm {code}")
        assert texts(fake, "UALICE")[-1].startswith("🗑️ Done. Your data is deleted")
        client.dm("UALICE", "hello?", "EvAfter")
        assert texts(fake, "UALICE")[-1].startswith("Your data was deleted at your request on ")
    finally:
        app.close()
        fake.stop()


def test_on_feishu_the_manager_acknowledges_a_flag_with_a_card_button(tmp_path):
    from tests.platforms.test_feishu import Env, buttons

    env = Env(tmp_path)
    try:
        env.over_long_connection(env.message("ou_alice", "/checkin"))
        for text in ["4", "Shipped the importer", "none", "ship it", "no"]:
            env.over_long_connection(env.message("ou_alice", text))
        env.over_long_connection(env.message("ou_alice", "/me flag 2026-W48 wins Bo did the hard part"))
        card = [c for c in env.fake.sent("ou_maria") if c.card][-1].card
        ack = next(b for b in buttons(card) if b["value"]["v"] == "/me ack 1")
        assert ack["text"]["content"] == "已知悉"  # the manager reads Chinese
        answer = env.over_long_connection(env.card_action("ou_maria", ack["value"]))
        assert answer["toast"]["type"] == "success"
        assert (
            env.fake.texts("ou_alice")[-1] == "✓ 王玛丽 has seen your flag on your answer “wins” in the week of 23 Nov."
        )
        env.over_long_connection(env.message("ou_alice", "/me access"))
        assert (
            "王玛丽: the answer you flagged as wrong (“wins” in the week of 23 Nov)" in env.fake.texts("ou_alice")[-1]
        )
    finally:
        env.close()


def test_a_skip_level_reader_sees_a_flag_but_is_not_asked_to_acknowledge_it():
    from conversations.machine import Reply
    from conversations.render import Audience, Renderer

    flag = {"id": 7, "period": "2026-W48", "step": "wins", "hint": None, "why": "not mine", "acknowledged": False}
    params = {
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
        "actions": [],
        "points": [],
        "hints": [{"key": "no_checkin", "weeks": 3, "flag": {**flag, "id": 8}}],
        "flags": [flag],
    }
    renderer = Renderer()
    direct = renderer.render(Reply("digest/person", {**params, "via": None}), Audience("en", "UTC", "Leo"))
    skip = renderer.render(Reply("digest/person", {**params, "via": "Leo"}), Audience("en", "UTC", "Vera"))
    zh = renderer.render(Reply("digest/person", {**params, "via": "Leo"}), Audience("zh", "UTC", "Vera"))
    assert "⚑ Dev flagged wins (the week of 23 Nov) as wrong: “not mine” · please acknowledge: /me ack 7" in direct
    assert "  ⚑ Dev says this is wrong: “not mine” · please acknowledge: /me ack 8" in direct
    assert "⚑ Dev flagged wins (the week of 23 Nov) as wrong: “not mine” · not acknowledged yet" in skip
    assert "/me ack" not in skip and "/me ack" not in zh
    assert "⚑ Dev 指出11月23日那周的“亮点”有误：“not mine” · 经理尚未确认" in zh


def test_on_the_console_delete_then_write_again_then_rejoin(tmp_path):
    from tests.e2e.test_console import console, rows

    db = tmp_path / "c.db"
    out = console(db, "/me delete\n", who="alice")
    code = rows(db, "select code from deletion_request")[0][0]
    assert f"send `/me delete confirm {code}` within 10 minutes" in out
    out = console(db, f"/me delete confirm {code}\n/as alice\nhello\n/me rejoin\n", who="alice")
    assert "🗑️ Done. Your data is deleted" in out
    assert "You are now alice, who deleted their data: Flywheel no longer knows them." in out
    assert "Your data was deleted at your request on " in out and "Welcome back 👋" in out
    assert rows(db, "select handle, active from member where id = 2") == [("deleted-2", 0)]
    out = console(db, "/me\n", who="alice")  # the next start reads the organisation file: she is back, from nothing
    assert "👤 Alice · no check-in" in out
    assert rows(db, "select count(*) from member where handle = 'alice' and active") == [(1,)]


def test_no_text_but_the_exact_code_deletes_anything_and_every_text_gets_an_answer(harness):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    h = harness
    code = code_in(h.say("alice", "/me delete")[0])
    # (no other four-digit code among them: `/me delete` alone issues a new one, which one of them might equal)
    words = st.sampled_from(["confirm", "确认", "cancel", "delete", "x" + code, code[:3], code + "0", " ", "\n"])

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.one_of(words, st.text(max_size=12)), max_size=4), st.sampled_from(["/me delete", "/我 删除"]))
    def garbled(parts, head):
        text = f"{head} {' '.join(parts)}"
        if text.split()[2:] in (["confirm", code], ["确认", code]):
            return  # the one text that deletes
        assert h.say("alice", text), text
        with transaction(h.app.sessions) as s:
            assert s.get(Member, ALICE).active, text

    garbled()
