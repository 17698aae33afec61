"""`says_the_same`: the one rule for a repeated blocker and a duplicate retro action."""

import pytest

from conversations.similarity import CJK_THRESHOLD, jaccard_bigrams, says_the_same

SAME = [
    ("security sign-off", "Security sign-off"),
    ("security sign-off", "security sign off!"),
    ("Still waiting for the security sign-off", "waiting for security sign-off"),
    ("security sign-off", "Still waiting for the security sign-off"),  # the shorter one's words, all there
    ("no staging access", "staging access"),
    ("ＳＳＯ access", "sso  access"),
    ("安全审批还没下来", "安全审批没下来"),
    ("等安全团队审批", "还在等安全团队审批"),
    ("测试环境不稳定", "测试环境不稳定。"),
]
DIFFERENT = [
    ("security sign-off", "legal sign-off"),
    ("flaky CI", "CI"),  # one word is too little to go on
    ("release", "release notes"),
    ("测试环境不稳定", "预发环境不稳定"),
    ("安全审批", "预算审批"),
    ("安全签字", "安全审批"),
    ("", ""),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_rewordings_of_one_obstacle_are_the_same(a, b):
    assert says_the_same(a, b) and says_the_same(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_obstacles_are_not(a, b):
    assert not says_the_same(a, b)


def test_the_threshold_sits_between_the_measured_pairs():
    """The pairs the threshold was chosen on (conversations/similarity.py)."""
    assert (
        jaccard_bigrams("安全审批还没下来", "安全审批没下来")
        >= CJK_THRESHOLD
        > jaccard_bigrams("测试环境不稳定", "预发环境不稳定")
    )
    assert round(jaccard_bigrams("测试环境不稳定", "预发环境不稳定"), 2) == 0.5
    assert round(jaccard_bigrams("等待安全审批", "还在等安全审批"), 2) == 0.38  # a known miss: a new obstacle
