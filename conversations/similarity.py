"""When two things people wrote say the same: a new blocker and an open obstacle, two retro actions. Pure.

English (and any text without Chinese characters) is the same when it has the same words after normalisation:
width, case, punctuation and spacing do not matter, nor the order of the words, nor a few filler words
("the", "still", "again": "Still waiting for the security sign-off" repeats "waiting for security sign-off"); or
when every word of a shorter text of at least two words is in the longer one ("security sign-off" and "still
waiting for the security sign-off" — the way people report the same thing again).

Chinese has no spaces to find words by, so text with Chinese characters is compared by its character bigrams
(pairs of neighbouring characters, punctuation and spaces left out): the same when their Jaccard index (shared
bigrams over all bigrams) is at least `CJK_THRESHOLD`. Why 0.55: on the pairs in tests/conversations/
test_similarity.py, rewordings of one obstacle ("安全审批还没下来" / "安全审批没下来" 0.62, "等安全团队审批" /
"还在等安全团队审批" 0.75) score above 0.6, while different obstacles that share a topic ("测试环境不稳定" /
"预发环境不稳定" 0.5, "安全审批" / "预算审批" 0.2) score 0.5 or less. Some rewordings stay below it ("等待安全审批" /
"还在等安全审批" 0.38): those open a new obstacle, as before. A match is only ever a question to the member ("is
this the same one?"), never a silent merge, so a false match costs one short answer.
"""

from __future__ import annotations

import re

# One form of text for every comparison (the same one "says nothing" uses).
from conversations.answers import nothing_key as text_key

CJK_THRESHOLD = 0.55
FILLER_WORDS = frozenset({"a", "an", "the", "still", "again", "yet", "some"})
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _bigrams(key: str) -> set[str]:
    chars = key.replace(" ", "")
    return {chars[i : i + 2] for i in range(len(chars) - 1)} or ({chars} if chars else set())


def jaccard_bigrams(a: str, b: str) -> float:
    """Shared character bigrams over all character bigrams of two texts (0 … 1)."""
    x, y = _bigrams(text_key(a)), _bigrams(text_key(b))
    return len(x & y) / len(x | y) if x | y else 0.0


def says_the_same(a: str | None, b: str | None) -> bool:
    """The one rule for "these two say the same thing" (a repeated blocker, a duplicate retro action)."""
    if a is None or b is None:
        return False
    ka, kb = text_key(a), text_key(b)
    if not ka or not kb:
        return False
    if ka == kb:
        return True
    if _HAN.search(ka) or _HAN.search(kb):
        return jaccard_bigrams(ka, kb) >= CJK_THRESHOLD
    words_a = sorted(w for w in ka.split() if w not in FILLER_WORDS)
    words_b = sorted(w for w in kb.split() if w not in FILLER_WORDS)
    if not words_a or not words_b:
        return False
    shorter, longer = sorted((set(words_a), set(words_b)), key=len)
    return words_a == words_b or (len(shorter) >= 2 and shorter <= longer)
