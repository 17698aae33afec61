"""The digest's and the 1:1 agenda's talking point "what they want to grow" (bot/digest.py) comes from the latest
monthly review's growth answer; what of it the member has since done or dropped as a development action is not
brought up again."""

from __future__ import annotations

from tests.bot.test_actions import _h, _review
from tests.helpers import local


def _digests(h, handle):
    return [m.text for r, m in h.fake.sent if r.address == handle and m.kind == "digest"]


def test_growth_the_member_has_done_or_dropped_is_left_out_of_the_talking_points(tmp_path):
    h = _h(tmp_path)
    try:
        _review(h, "chen", "给团队做一次分享；周五前写完设计文档", zh=True)
        _review(h, "alice", "Give a talk; Pair with Bo", zh=False)
        h.say("chen", "/action done 1")
        h.say("chen", "/action drop 2")
        h.say("alice", "/action done 3")  # Alice's second one still open
        h.run_until(local("Europe/London", 2026, 12, 7, 9, 5))
        digest = "\n".join(_digests(h, "maria"))
        assert digest, "a digest was sent"
        chen = digest[digest.index("陈晨") :]
        assert "给团队做一次分享" not in chen and "周五前写完设计文档" not in chen
        assert "What they want to grow" not in digest
        assert "Pair with Bo" in digest  # an open action is still listed
    finally:
        h.app.close()
