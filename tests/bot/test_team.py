"""Reporting lines change only with consent: `/flywheel team add` asks, the member accepts or declines, requests
expire after seven days; admins set lines directly; lines from the org file or the Feishu directory stay theirs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import Flywheel
from bot.config import parse_config
from bot.platforms.common import message_rows
from storage import repo
from storage.db import transaction
from storage.models import AuditRecord, ManagerRequest, Member, OutboxMessage, SupportRequest
from tests.helpers import local, make_harness

ORG = {
    "members": [
        {"handle": "maria", "name": "Maria Rossi", "timezone": "Europe/London"},
        {"handle": "alice", "name": "Alice Martin", "timezone": "Europe/London"},
        {"handle": "bo", "name": "Bo Li", "timezone": "America/New_York"},
        {"handle": "chen", "name": "陈晨", "manager": "maria", "timezone": "Asia/Shanghai", "locale": "zh"},
        {"handle": "dan", "name": "Dan Ng", "timezone": "Europe/London"},
        {"handle": "wen", "name": "王文", "timezone": "Asia/Shanghai", "locale": "zh"},
    ],
    "admins": ["maria"],
}
NOT_FOUND = "There is no open request #1 from one of your reports. `/support` lists yours."
START = local("Europe/London", 2026, 11, 23, 9, 0)  # a Monday


@pytest.fixture
def h(tmp_path):
    harness = make_harness(tmp_path, start=START, config=ORG)
    yield harness
    harness.app.close()


def member(h, handle) -> Member:
    with transaction(h.app.sessions) as s:
        return s.exec(select(Member).where(Member.handle == handle)).one()


def manager_of(h, handle) -> str | None:
    m = member(h, handle)
    return member_by_id(h, m.manager_id).handle if m.manager_id else None


def member_by_id(h, member_id) -> Member:
    with transaction(h.app.sessions) as s:
        return s.get(Member, member_id)


def requests(h) -> list[tuple[int, str, str, str]]:
    with transaction(h.app.sessions) as s:
        handles = {m.id: m.handle for m in s.exec(select(Member))}
        return [
            (r.id, handles[r.member_id], handles[r.manager_id], r.status)
            for r in s.exec(select(ManagerRequest).order_by(ManagerRequest.id))
        ]


def audit_rows(h) -> list[tuple[str, str, str, str | None]]:
    with transaction(h.app.sessions) as s:
        handles = {m.id: m.handle for m in s.exec(select(Member))}
        return [
            (handles.get(r.actor_id, "-"), handles[r.subject_id], r.what, r.part)
            for r in s.exec(select(AuditRecord).order_by(AuditRecord.id))
            if r.what.startswith("manager_")
        ]


def inbox(h, handle) -> list[str]:
    """Everything `handle` has received so far, delivering what is queued for them first — the clock moves on to
    their working time if what is queued waits for it (bot/calendar.py `send_at`)."""
    with transaction(h.app.sessions) as s:
        person = s.exec(select(Member).where(Member.handle == handle)).one()
        due = [
            m.next_attempt_at
            for m in s.exec(
                select(OutboxMessage).where(OutboxMessage.member_id == person.id, OutboxMessage.status == "pending")
            )
        ]
    latest = max(due, default=None)
    if latest is not None and latest.replace(tzinfo=None) > h.clock.now().replace(tzinfo=None):
        h.clock.set(latest.replace(tzinfo=h.clock.now().tzinfo))
    h.app.deliver_outbox()
    return h.fake.texts_for(handle)


def test_a_request_changes_nothing_and_shows_nothing_until_the_member_accepts(h):
    h.say("maria", "/flywheel manager @alice @maria")
    # Alice asks her manager (Maria) for support; her answers are for Maria only.
    started = h.clock.now()
    h.clock.set(local("Europe/London", 2026, 12, 1, 10, 0))  # in December's review window ...
    h.say("alice", "/review")
    h.say("alice", "none")
    h.say("alice", "1 a decision on the private vendor contract")
    h.clock.set(started)  # ... and the rest back in November, where the request's dates are
    before = len(inbox(h, "bo"))

    assert h.say("bo", "/flywheel team add @alice") == [
        "I've asked Alice to confirm. Nothing changes until they accept, and until then you see nothing about them "
        "in Flywheel. You'll hear when they answer; a request with no answer expires after 7 days. `/flywheel team` "
        "shows who hasn't answered yet."
    ]
    ask = inbox(h, "alice")[-1]
    assert ask.startswith(
        "👋 Bo would like you to report to them in Flywheel, instead of Maria.\n"
        "If you accept, Bo will see your weekly check-ins (recent ones too), monthly reviews and support "
        "requests"
    )
    assert "Reply `/flywheel accept 1` or `/flywheel decline 1`. The request expires Mon 30 Nov, 09:00." in ask
    # The message carries Accept / Decline buttons that send exactly what it says to type.
    _, message = [x for x in h.fake.sent if x[0].address == "alice"][-1]
    assert [[(b.label, b.value) for b in row.buttons] for row in message_rows(message.replies, "en", None)] == [
        [("Accept", "/flywheel accept 1"), ("Decline", "/flywheel decline 1")]
    ]

    # Nothing changed, and nothing of Alice reaches Bo: not his team, not /support, not a Monday digest.
    assert manager_of(h, "alice") == "maria"
    alice, bo, dan, maria = (member(h, x).id for x in ("alice", "bo", "dan", "maria"))
    with transaction(h.app.sessions) as s:
        assert [(r.member_id, r.manager_id) for r in repo.pending_manager_requests(s, now=h.clock.now())] == [
            (alice, bo)
        ]
        assert repo.pending_manager_requests(s, member_id=dan) == []
    assert h.say("bo", "/flywheel team")[0].startswith("No one reports to you in Flywheel yet.")
    assert "Waiting for an answer: Alice (#1, until Mon 30 Nov, 04:00)." in h.say("bo", "/flywheel team")[0]
    assert "private vendor" not in h.say("bo", "/support")[0]
    assert h.say("bo", "/support 1 resolved") == [NOT_FOUND]
    h.run_until(local("America/New_York", 2026, 11, 30, 10, 0))  # past Bo's Monday digest time (request expired)
    seen_by_bo = inbox(h, "bo")[before:]
    assert not any("private vendor" in t or "📋" in t for t in seen_by_bo)
    # Bo hears of Alice only as the person he asked: his own request, his list of who has not answered, its expiry.
    assert all(
        t.startswith(("I've asked Alice", "No one reports to you", "⌛ Your request for Alice"))
        for t in seen_by_bo
        if "Alice" in t
    )
    assert any(t.startswith("⌛ Your request for Alice") for t in seen_by_bo)
    with transaction(h.app.sessions) as s:
        assert s.exec(select(SupportRequest)).one().manager_id == maria


def test_accepting_moves_the_line_and_tells_all_three(h):
    h.say("maria", "/flywheel manager @alice @maria")
    h.clock.set(local("Europe/London", 2026, 12, 1, 10, 0))  # December's review is open
    h.say("alice", "/review")
    h.say("alice", "none")
    h.say("alice", "1 a decision on the vendor")
    h.say("bo", "/flywheel team add @alice")
    maria_before = len(inbox(h, "maria"))

    assert h.say("alice", "/flywheel accept 1") == [
        "Done: you now report to Bo in Flywheel. From now on Bo sees your check-ins, reviews and support requests, "
        "and Maria no longer does. Your open support requests went to Bo too."
    ]
    assert manager_of(h, "alice") == "bo"
    assert member(h, "alice").manager_source == "chat"
    assert inbox(h, "bo")[-1] == (
        "✅ Alice accepted: they now report to you in Flywheel. You'll see them in your "
        "Monday digest, and they can see what it says about them with /me."
    )
    assert inbox(h, "maria")[maria_before:] == [
        "Alice now reports to Bo in Flywheel (Alice accepted Bo's request). You'll no longer see Alice in your digest, "
        "and their open support requests went to Bo."
    ]
    bo = member(h, "bo").id
    with transaction(h.app.sessions) as s:
        assert s.exec(select(SupportRequest)).one().manager_id == bo  # it moved with her
    assert h.say("bo", "/flywheel team") == ["Your direct reports: Alice."]
    assert h.say("maria", "/support 1 resolved") == [NOT_FOUND]
    assert h.say("bo", "/support 1 handle")[0] != NOT_FOUND
    # Answering again changes nothing.
    assert h.say("alice", "/flywheel accept 1") == ["Request #1 was already accepted, so nothing changed."]
    maria, alice, bo = (member(h, x).id for x in ("maria", "alice", "bo"))
    assert audit_rows(h) == [
        ("maria", "alice", "manager_set_by_admin", f"manager none -> {maria}"),
        ("bo", "alice", "manager_requested", f"request 1: manager {maria} -> {bo}"),
        ("alice", "alice", "manager_accepted", f"request 1: manager {maria} -> {bo}"),
    ]


def restart(h, org) -> None:
    """Start the bot again on the same database with this org file (it syncs its members at start)."""
    Flywheel.build(
        h.app.settings, clock=h.clock, config=parse_config(org, source="test"), messengers={"console": h.fake}
    ).close()


def test_the_org_file_owns_the_lines_it_names_and_leaves_accepted_ones_alone(h):
    h.say("bo", "/flywheel team add @alice")
    h.say("alice", "/flywheel accept 1")
    restart(h, ORG)  # the file names no manager for Alice: the line she accepted stays
    assert manager_of(h, "alice") == "bo" and member(h, "alice").manager_source == "chat"
    named = {**ORG, "members": [{**m, "manager": "dan"} if m["handle"] == "alice" else m for m in ORG["members"]]}
    restart(h, named)  # now it names one: the file wins, and from then on the line is the file's
    assert manager_of(h, "alice") == "dan" and member(h, "alice").manager_source == "file"
    assert h.say("bo", "/flywheel team add @alice")[0].startswith("Alice's manager is set in the organisation file")
    restart(h, ORG)  # the file stops naming one: it clears the line it set
    assert manager_of(h, "alice") is None and member(h, "alice").manager_source is None


def test_declining_changes_nothing_and_tells_the_one_who_asked(h):
    h.say("bo", "/flywheel team add @dan")
    assert h.say("dan", "/flywheel decline 1") == ["Declined: nothing changed. I'll let Bo know."]
    assert inbox(h, "bo")[-1] == "Dan declined your request to report to you in Flywheel, so nothing changed."
    assert manager_of(h, "dan") is None
    assert requests(h) == [(1, "dan", "bo", "declined")]
    assert [r[:3] for r in audit_rows(h)] == [("bo", "dan", "manager_requested"), ("dan", "dan", "manager_declined")]
    assert h.say("dan", "/flywheel accept 1") == ["Request #1 was already declined, so nothing changed."]
    assert manager_of(h, "dan") is None


def test_a_request_expires_after_seven_days_and_cannot_be_accepted(h):
    h.say("bo", "/flywheel team add @dan")
    h.run_until(START + timedelta(days=7) - timedelta(minutes=1))
    assert requests(h) == [(1, "dan", "bo", "pending")]
    h.run_until(START + timedelta(days=7))
    assert requests(h) == [(1, "dan", "bo", "expired")]
    assert inbox(h, "bo")[-1] == (
        "⌛ Your request for Dan to report to you in Flywheel expired: there was no answer within 7 days, so nothing "
        "changed. You can ask again with `/flywheel team add @…`."
    )
    assert h.say("dan", "/flywheel accept 1") == ["Request #1 has expired (requests last 7 days), so nothing changed."]
    assert manager_of(h, "dan") is None
    assert audit_rows(h)[-1][:3] == ("-", "dan", "manager_expired")
    # Asking again is a new request.
    h.say("bo", "/flywheel team add @dan")
    assert requests(h)[-1] == (2, "dan", "bo", "pending")


def test_an_answer_after_seven_days_finds_the_request_expired_even_before_the_tick(h):
    h.say("bo", "/flywheel team add @dan")
    h.clock.set(START + timedelta(days=8))  # no tick in between
    assert h.say("dan", "/flywheel accept 1") == ["Request #1 has expired (requests last 7 days), so nothing changed."]
    assert manager_of(h, "dan") is None and requests(h) == [(1, "dan", "bo", "expired")]
    assert inbox(h, "bo")[-1].startswith("⌛ Your request for Dan to report to you in Flywheel expired")
    h.app.tick()
    assert sum(t.startswith("⌛") for t in inbox(h, "bo")) == 1  # told once


def test_only_the_member_named_can_accept_and_only_the_asker_can_withdraw(h):
    h.say("bo", "/flywheel team add @dan")
    refusal = (
        "I couldn't find a request #1 waiting for your answer. Requests to report to someone are answered by "
        "the person asked; the one who asked can withdraw theirs with `/flywheel cancel`."
    )
    assert h.say("alice", "/flywheel accept 1") == [refusal]
    assert h.say("bo", "/flywheel accept 1") == [refusal]  # not even the one who asked
    assert h.say("alice", "/flywheel cancel 1") == [refusal]
    assert h.say("dan", "/flywheel accept 99") == [refusal.replace("#1", "#99")]
    assert manager_of(h, "dan") is None and requests(h) == [(1, "dan", "bo", "pending")]
    assert h.say("bo", "/flywheel cancel 1") == [
        "Withdrawn: you're no longer asking Dan to report to you, and Dan has been told."
    ]
    assert inbox(h, "dan")[-1] == (
        "Bo withdrew the request (#1) for you to report to them in Flywheel. Nothing changed."
    )
    assert h.say("dan", "/flywheel accept 1") == [
        "Request #1 was withdrawn or can no longer apply, so nothing changed."
    ]
    assert manager_of(h, "dan") is None
    assert [r[2] for r in audit_rows(h)] == ["manager_requested", "manager_cancelled"]


def test_repeats_self_and_loops(h):
    h.say("bo", "/flywheel team add @dan")
    assert h.say("bo", "/flywheel team add @dan") == [
        "You've already asked Dan; that request is still waiting for an answer."
    ]
    assert len(requests(h)) == 1
    assert h.say("bo", "/flywheel team add @bo") == ["You can't ask yourself to report to you, so I left you out."]
    h.say("dan", "/flywheel accept 1")
    assert h.say("bo", "/flywheel team add @dan") == ["Dan already reports to you in Flywheel."]
    assert h.say("dan", "/flywheel team add @bo") == [
        "I didn't ask Bo: you report to them (directly or further up), so that would make a loop in the reporting "
        "lines."
    ]
    assert h.say("bo", "/flywheel team add @nobody") == ["I could not find @nobody. Mention people with @."]


def test_lines_from_the_org_file_or_the_feishu_directory_cannot_be_changed_in_chat(h):
    file_line = (
        "陈晨's manager is set in the organisation file, so it can't be changed in chat. A Flywheel admin "
        "(Maria) can change it there."
    )
    assert h.say("bo", "/flywheel team add @chen") == [file_line]
    assert h.say("maria", "/flywheel manager @chen @bo") == [file_line]  # not even an admin, in chat
    assert manager_of(h, "chen") == "maria" and requests(h) == []
    # A line the Feishu directory set (leader_user_id).
    h.set_member("dan", manager_id=member(h, "maria").id, manager_source="feishu")
    assert h.say("bo", "/flywheel team add @dan") == [
        "Dan's manager is taken from the Feishu directory (the leader set in the contact list), so it can't be "
        "changed in chat. An administrator of your Feishu organisation can change it in the directory; Flywheel picks "
        "that up within a day."
    ]
    # Several people at once: one answer per kind of line, and requests for the others.
    assert h.say("bo", "/flywheel team add @chen @alice @dan @wen") == [
        "\n\n".join(
            [
                "I've asked Alice and 王文 to confirm. Nothing changes "
                "until they accept, and until then you see nothing about "
                "them in Flywheel. You'll hear when they answer; a request with no answer expires after 7 days. "
                "`/flywheel team` shows who hasn't answered yet.",
                file_line,
                "Dan's manager is taken from the Feishu directory (the leader set in the contact list), so it can't be "
                "changed in chat. An administrator of your Feishu "
                "organisation can change it in the directory; Flywheel picks "
                "that up within a day.",
            ]
        )
    ]
    h.say("bo", "/flywheel cancel 1")
    h.say("bo", "/flywheel cancel 2")
    assert h.say("wen", "/flywheel team add @chen") == [
        "陈晨的经理由组织配置文件设定，不能在聊天中修改。Flywheel 管理员（Maria）可以在配置文件中修改。"
    ]
    assert h.say("wen", "/flywheel team add @dan") == [
        "Dan的经理来自飞书通讯录（通讯录中设置的直属上级），不能在聊天中修改。请飞书企业管理员在通讯录中修改，Flywheel "
        "会在一天内同步。"
    ]
    # Asked, then the line became the directory's before the answer: accepting cannot take it over.
    h.say("bo", "/flywheel team add @alice")
    h.set_member("alice", manager_id=member(h, "maria").id, manager_source="feishu")
    assert h.say("alice", "/flywheel accept 3")[0].startswith("Your manager is taken from the Feishu directory")
    assert manager_of(h, "alice") == "maria" and requests(h)[-1][3] == "cancelled"


def test_an_admin_sets_a_line_directly_and_all_three_hear(h):
    assert h.say("bo", "/flywheel manager @alice @bo") == [
        "Only a Flywheel admin can set someone's manager. Managers can ask their team with `/flywheel team add @a @b`; "
        "each person confirms."
    ]
    assert h.say("maria", "/flywheel manager @alice @dan") == ["Alice now reports to Dan in Flywheel."]
    assert inbox(h, "alice")[-1] == (
        "Maria, a Flywheel admin, set your manager to Dan. From now on Dan sees your "
        "check-ins, reviews and support requests."
    )
    assert inbox(h, "dan")[-1] == (
        "Maria, a Flywheel admin, set Alice to report to you in Flywheel. You'll see them in your Monday digest."
    )
    assert h.say("maria", "/flywheel manager @alice @bo") == ["Alice now reports to Bo in Flywheel."]
    assert manager_of(h, "alice") == "bo" and member(h, "alice").manager_source == "admin"
    assert inbox(h, "alice")[-1].endswith(
        "Bo sees your check-ins, reviews and support requests, and Dan no longer does."
    )
    assert inbox(h, "bo")[-1].startswith("Maria, a Flywheel admin, set Alice to report to you")
    assert inbox(h, "dan")[-1] == (
        "Alice now reports to Bo in Flywheel (set by Maria, a Flywheel admin). You'll no "
        "longer see Alice in your digest, and their open support requests went to Bo."
    )
    dan, bo = member(h, "dan").id, member(h, "bo").id
    assert audit_rows(h) == [
        ("maria", "alice", "manager_set_by_admin", f"manager none -> {dan}"),
        ("maria", "alice", "manager_set_by_admin", f"manager {dan} -> {bo}"),
    ]


def test_in_chinese(h):
    assert h.say("bo", "/flywheel team add @wen")[0].startswith("I've asked 王文 to confirm.")
    ask = inbox(h, "wen")[-1]
    assert ask.startswith(
        "👋 Bo 希望你在 Flywheel 中向 TA 汇报。\n如果你接受，Bo 将能看到你的每周小结（包括近期的）、月度回顾和支持需求"
    )
    assert "回复 `/flywheel accept 1` 接受，或 `/flywheel decline 1` 拒绝。请求将于 11月30日（周一）17:00 失效。" in ask
    _, message = [x for x in h.fake.sent if x[0].address == "wen"][-1]
    assert [b.label for b in message_rows(message.replies, "zh", None)[0].buttons] == ["接受", "拒绝"]
    assert h.say("wen", "/flywheel 接受 1") == [
        "好了：你现在在 Flywheel 中向 Bo 汇报。从现在起，Bo "
        "能看到你的每周小结、月度回顾和支持需求。你尚未解决的支持需求也已转给 Bo。"
    ]
    assert manager_of(h, "wen") == "bo"
    assert inbox(h, "bo")[-1].startswith("✅ 王文 accepted")


def test_forgetting_someone_deletes_the_requests_they_were_part_of(h, monkeypatch):
    from bot.cli import main

    h.say("bo", "/flywheel team add @alice @dan")
    h.say("maria", "/flywheel team add @bo")
    monkeypatch.setenv("DATABASE_URL", h.app.settings.database_url)
    for name in ("SLACK_BOT_TOKEN", "FEISHU_APP_ID", "FLYWHEEL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    assert main(["forget", "bo", "--yes"]) == 0
    assert requests(h) == []


def test_requests_on_postgresql(tmp_path, postgres_url):
    h = make_harness(tmp_path, start=START, config=ORG, database_url=postgres_url)
    try:
        h.say("bo", "/flywheel team add @alice @dan")
        # Inbound events are handled once on PostgreSQL too (INSERT … ON CONFLICT counted from RETURNING).
        assert h.say("alice", "/flywheel accept 1", key="ev-accept")[0].startswith("Done: you now report to Bo")
        assert h.say("alice", "/flywheel accept 1", key="ev-accept") == []
        h.run_until(START + timedelta(days=7))
        assert requests(h) == [(1, "alice", "bo", "accepted"), (2, "dan", "bo", "expired")]
        assert manager_of(h, "alice") == "bo" and manager_of(h, "dan") is None
        assert [r[2] for r in audit_rows(h)] == [
            "manager_requested",
            "manager_requested",
            "manager_accepted",
            "manager_expired",
        ]
    finally:
        h.app.close()


def test_asking_again_after_seven_days_expires_the_old_request_first(h):
    h.say("bo", "/flywheel team add @dan")
    h.clock.set(START + timedelta(days=7, hours=1))  # no tick in between
    assert h.say("bo", "/flywheel team add @dan")[0].startswith(
        "⌛ Your request for Dan to report to you in Flywheel expired"
    )  # told first, in order
    assert inbox(h, "bo")[-1].startswith("I've asked Dan to confirm.")
    assert requests(h) == [(1, "dan", "bo", "expired"), (2, "dan", "bo", "pending")]
