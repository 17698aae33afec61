"""Members' chat accounts as rows: lookups by account, addresses read without a query per member, and the seam that
reads mentions and channel ids for the platforms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from bot.platforms.identity import member_by_mention, members_by_mentions, owns_channel
from conversations.mentions import Mention, mention_token, read_mention
from storage import repo
from storage.db import create_db_engine, session_factory, transaction, upgrade
from storage.models import Member

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
PEOPLE = 60


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'i.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_db_engine(url)
    upgrade(engine)
    with transaction(session_factory(engine)) as s:
        for i in range(PEOPLE):
            m = Member(handle=f"m{i}", name=f"Member {i}", timezone="UTC", created_at=NOW, updated_at=NOW)
            m.set_account("slack", f"U{i:04d}", workspace="T1")
            if i % 2:
                m.set_account("feishu", f"ou_{i}")
            s.add(m)
    yield engine
    engine.dispose()


def _statements(engine):
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_batch_of_members_comes_with_its_accounts_in_a_fixed_number_of_queries(engine):
    seen = _statements(engine)
    with transaction(session_factory(engine)) as s:
        members = repo.members_by_id(s, ids=range(1, PEOPLE + 1))
        loaded = len(seen)
        addresses = {
            m.handle: (m.account("slack"), m.account("feishu"), m.account("console")) for m in members.values()
        }
        assert len(seen) == loaded  # reading the addresses asks nothing more
    assert addresses["m3"] == ("U0003", "ou_3", "m3") and addresses["m4"] == ("U0004", None, "m4")
    assert len([q for q in seen if "member_identity" in q]) == 1  # one query for the whole batch's accounts


def test_members_are_found_by_their_accounts(engine):
    with transaction(session_factory(engine)) as s:
        assert repo.member_by_platform_id(s, platform="slack", user_id="U0007").handle == "m7"
        assert repo.member_by_platform_id(s, platform="feishu", user_id="ou_7").handle == "m7"
        assert repo.member_by_platform_id(s, platform="feishu", user_id="U0007") is None  # another platform's id
        assert repo.member_by_platform_id(s, platform="console", user_id="m7").handle == "m7"
        found = repo.members_by_platform_ids(s, platform="slack", user_ids=["U0001", "U0002", "UNOBODY"])
        assert {k: m.handle for k, m in found.items()} == {"U0001": "m1", "U0002": "m2"}
        assert len(repo.members_on(s, platform="feishu")) == PEOPLE // 2


def test_an_account_belongs_to_one_member(engine):
    with pytest.raises(sa.exc.IntegrityError), transaction(session_factory(engine)) as s:
        s.get(Member, 2).set_account("slack", "U0000")  # m0's


def test_forgetting_an_account_deletes_its_row(engine):
    with transaction(session_factory(engine)) as s:
        m = repo.member_by_handle(s, handle="m1")
        m.set_account("feishu", None)
        m.set_account("slack", "U9999")
    with transaction(session_factory(engine)) as s:
        m = repo.member_by_handle(s, handle="m1")
        assert m.accounts() == [("console", "m1"), ("slack", "U9999")]
        assert repo.member_by_platform_id(s, platform="feishu", user_id="ou_1") is None


def test_mentions_are_resolved_on_the_platform_they_came_from(engine):
    with transaction(session_factory(engine)) as s:
        assert member_by_mention(s, platform="slack", token="<@U0005|five>").handle == "m5"
        assert member_by_mention(s, platform="feishu", token=mention_token("ou_5", "五")).handle == "m5"
        assert member_by_mention(s, platform="feishu", token="<@U0005>") is None
        assert member_by_mention(s, platform="slack", token="@m6").handle == "m6"
        people, unknown = members_by_mentions(s, platform="slack", tokens=["<@U0001>", "@m1", "@m2"])
        assert ([p.handle for p in people], unknown) == (["m1", "m2"], None)
        assert members_by_mentions(s, platform="slack", tokens=["@m1", "<@UNOBODY>"]) == ([], "<@UNOBODY>")


def test_the_neutral_mention_token():
    assert read_mention("<@U1|bo>") == Mention("U1", "bo")
    assert read_mention("<@ou_abc>") == Mention("ou_abc", "")
    assert read_mention("@bo") is None
    assert mention_token("ou_x", "a|b>c") == "<@ou_x|a b c>"


def test_a_platform_says_whether_a_channel_is_its_own():
    assert owns_channel("feishu", "oc_abc") and not owns_channel("slack", "oc_abc")
    assert owns_channel("slack", "C0KUDOS") and not owns_channel("feishu", "C0KUDOS")
    assert owns_channel("console", "#kudos") and owns_channel("slack", "#kudos")
