"""The digest is the same text on SQLite and on PostgreSQL for the same data, and people are listed by name
case-insensitively ("ana" next to "Ana", not after "Zoe"), with the id breaking ties between equal names."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from bench.common import org
from bench.digest import NOW, seed
from bot.app import Flywheel
from bot.config import parse_config
from bot.digest import build_reports, digest_replies, direct_reports, managers, pack
from bot.settings import Settings
from conversations.clock import FrozenClock
from conversations.render import Audience
from storage import repo
from storage.models import Member

# 40 people, the first 4 manage the rest round-robin (m0 manages m4, m8, m12, …). Under m0: two people with the
# same name, and names that differ only in case.
RENAMED = {4: "Sam Lee", 8: "Sam Lee", 12: "zoe Park", 16: "Ana Ruiz", 20: "ana Ruiz", 24: "Zoe Park"}


def _config():
    spec = org(40, managers=4)
    for i, name in RENAMED.items():
        spec["members"][i]["name"] = name
    return parse_config(spec, source="test")


def _digests(url: str) -> dict[str, list[str]]:
    """Every manager's digest, rendered and packed into messages exactly as the Monday tick would send it."""
    app = Flywheel.build(Settings(database_url=url), clock=FrozenClock(NOW), config=_config())
    try:
        seed(app, weeks=6, rng=random.Random(11))
        with app.engine.begin() as conn:  # a later profile edit of the first "Sam Lee" (PostgreSQL moves the row)
            conn.execute(sa.update(Member.__table__).where(Member.handle == "m4").values(email="sam@example.com"))
        texts = {}
        with app.transaction() as s:
            for manager in managers(s):
                reports, team = build_reports(s, manager=manager, now=NOW, skip_level=app.skip_level)
                audience = Audience(manager.locale, manager.timezone, manager.name)
                texts[manager.handle] = [
                    "\n\n".join(app.renderer.render(reply, audience) for reply in group)
                    for group in pack(digest_replies(reports, team), app.renderer, audience, budget=1200)
                ]
        return texts
    finally:
        app.close()


def test_digests_are_identical_on_sqlite_and_postgres(tmp_path, postgres_url):
    on_sqlite = _digests(f"sqlite:///{tmp_path / 'digest.db'}")
    on_postgres = _digests(postgres_url)
    assert set(on_sqlite) == {"m0", "m1", "m2", "m3"}
    assert all(len(messages) > 1 for messages in on_sqlite.values())  # sections really are packed into several
    for handle in on_sqlite:
        assert on_postgres[handle] == on_sqlite[handle], handle
    people = [line.split(" · ")[0] for line in "\n".join(on_sqlite["m0"]).splitlines() if line.startswith("👤 ")]
    assert people[:6] == ["👤 Ana", "👤 ana", "👤 Member28", "👤 Member32", "👤 Member36", "👤 Sam"]


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_people_are_listed_by_name_ignoring_case(db, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'names.db'}" if db == "sqlite" else request.getfixturevalue("postgres_url")
    people = [
        ("boss", "Boss", None),
        ("zoe", "Zoe", "boss"),
        ("ana2", "ana", "boss"),
        ("bob", "Bob", "boss"),
        ("ana1", "Ana", "boss"),
        ("eve", "Éve", "boss"),
    ]
    config = parse_config(
        {
            "members": [
                {"handle": h, "name": n, "timezone": "UTC", **({"manager": m} if m else {})} for h, n, m in people
            ]
        },
        source="test",
    )
    app = Flywheel.build(Settings(database_url=url), clock=FrozenClock(NOW), config=config)
    try:
        with app.transaction() as s:
            boss = s.exec(sa.select(Member).where(Member.handle == "boss")).scalar_one()
            expected = ["ana2", "ana1", "bob", "zoe", "eve"]  # equal names by id; codepoint order otherwise
            assert [m.handle for m in direct_reports(s, manager_id=boss.id)] == expected
            team = repo.team_members(s, team=None, manager_id=boss.id)
            assert [m.handle for m in team] == ["ana2", "ana1", "bob", "boss", "zoe", "eve"]
    finally:
        app.close()
