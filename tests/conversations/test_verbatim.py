"""Properties over arbitrary Unicode: what people type is kept exactly, controls and bidi overrides are
neutralised, and "nothing" means nothing. How it is shown on each platform, and exported, is
tests/bot/test_verbatim_shown.py (it needs the platforms and the database)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from conversations.answers import NOTHING_ANSWERS, Invalid, Items, Text, nothing_key, says_nothing
from conversations.kudos import KudosRefusal, parse_kudos
from conversations.render import neutralise

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
MARKS = "\u200e\u200f\u061c"


# Typed text of any kind, and text without the characters a screen must not obey (for the exact-match property).
ANY_TEXT = st.text(min_size=1, max_size=120)
PLAIN_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=BIDI + MARKS), min_size=1, max_size=120
)


def _typed(text: str) -> str:
    assume(text.strip())
    return text.strip()


# ------------------------------------------------------------------------------------------ stored as typed


@settings(deadline=None)
@given(ANY_TEXT)
def test_a_text_answer_is_stored_exactly(text):
    typed = _typed(text)
    assert Text().parse(text) == typed


def _one_item(s: str) -> bool:
    """Text that the list parser reads as exactly itself (not a lone bullet such as "-", which is no item)."""
    try:
        return bool(s) and Items().parse(s) == [s]
    except Invalid:
        return False


ITEM = (
    st.text(st.characters(blacklist_characters="\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85;；"), min_size=1, max_size=40)
    .map(str.strip)
    .filter(_one_item)
)


@settings(deadline=None)
@given(st.lists(ITEM, min_size=1, max_size=3), st.sampled_from(["; ", "；", "\n", "\r\n", " ;\n"]))
def test_list_items_are_kept_whole_between_the_documented_separators(items, separator):
    assert Items(1, 3).parse(separator.join(items)) == items


@settings(deadline=None)
@given(st.lists(ITEM, min_size=1, max_size=3), st.sampled_from(["- ", "• ", "1. ", "2) ", "3、", "（1）", "(2) "]))
def test_a_bullet_or_number_at_the_start_of_a_line_is_left_out(items, bullet):
    assert Items(1, 3).parse("\n".join(bullet + item for item in items)) == items


REASON = (
    st.text(min_size=1, max_size=200)
    .map(str.strip)
    .filter(lambda s: s and s[0] not in "@<:：,，、—–-" and not s.split()[-1].startswith(("#", "＃", "<#")))
)


@settings(deadline=None)
@given(REASON)
def test_a_kudos_reason_is_what_was_typed_minus_the_people_and_the_tags(reason):
    parsed = parse_kudos(f"@alice <@U1|bo> {reason} #growth #teamwork")
    assume(not isinstance(parsed, KudosRefusal))  # "for" alone is no reason: refused politely (tested elsewhere)
    assert (parsed.mentions, parsed.reason, parsed.tags) == (("@alice", "<@U1|bo>"), reason, ("growth", "teamwork"))


@settings(deadline=None)
@given(PLAIN_TEXT, st.lists(st.sampled_from(list(BIDI + MARKS)), max_size=5), st.randoms())
def test_neutralise_only_takes_out_the_bidi_controls(text, controls, rnd):
    assume(not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text))
    mixed = list(text)
    for ch in controls:
        mixed.insert(rnd.randint(0, len(mixed)), ch)
    assert neutralise("".join(mixed)) == text


def test_neutralise_examples():
    assert neutralise("\x1b[2J\x1b]0;pwned\x07ok") == "␛[2J␛]0;pwned␇ok"
    assert neutralise("a\x9bb\x7fc\r\nd\re\tf") == "a[U+009B]b␡c\nd\ne\tf"
    assert neutralise("user\u202egnp.exe") == "usergnp.exe"
    assert neutralise("1\u200f-\u200f2 \u2067x\u2069") == "1-2 x"  # marks in text with no right-to-left letters
    assert neutralise("שלום\u200f, world") == "שלום\u200f, world"  # in Hebrew text a mark is ordinary
    assert neutralise("1:1 谢谢 <b> & ☃") == "1:1 谢谢 <b> & ☃"


# ------------------------------------------------------------------------------------------ "nothing" means nothing

LIST_WORDS = frozenset(word for answers in NOTHING_ANSWERS.values() for a in answers for word in nothing_key(a).split())


@pytest.mark.parametrize("answer", [a for answers in NOTHING_ANSWERS.values() for a in answers])
def test_every_listed_answer_says_nothing_however_it_is_typed(answer):
    assert says_nothing(answer)
    assert says_nothing(f"  {answer.upper()}!! ")
    assert says_nothing(unicodedata.normalize("NFKC", answer).translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)}))
    assert says_nothing(answer + "。")


WORD = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Lm", "Lt", "Nd")), min_size=1, max_size=8)


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(sorted(LIST_WORDS)) | WORD, max_size=4),
    WORD,
    st.integers(0, 4),
    st.sampled_from([" ", ", ", "! ", "\n", "。", "，"]),
)
def test_a_letter_word_not_in_the_list_makes_an_answer_say_something(words, word, at, separator):
    assume(any(unicodedata.category(ch).startswith("L") for ch in word))
    assume(not set(nothing_key(word).split()) <= LIST_WORDS)
    words.insert(min(at, len(words)), word)
    assert not says_nothing(separator.join(words))


@settings(deadline=None)
@given(
    st.sampled_from([a for answers in NOTHING_ANSWERS.values() for a in answers]),
    st.text(st.characters(whitelist_categories=("Po", "Pd", "Zs", "So")), max_size=4).filter(
        lambda s: all(unicodedata.category(c)[0] in "PSZ" for c in unicodedata.normalize("NFKC", s))
    ),
)  # ™ is TM
def test_punctuation_spacing_and_symbols_around_a_listed_answer_do_not_matter(answer, noise):
    assert says_nothing(noise + answer + noise)
