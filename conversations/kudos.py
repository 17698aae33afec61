"""Kudos: public, specific, timely recognition. Parsing and the rules are pure; the bot stores and posts.

`/kudos @alice @bob for untangling the release #teamwork` — one or more people, a reason (required, kept exactly as
typed), and optionally value tags that become badges. No self-kudos, and a weekly limit per giver so that each one
stays meaningful. Rankings are off unless an admin turns them on: recognition is not a score to chase.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from conversations.answers import MAX_ANSWER_LEN, normalize
from conversations.mentions import MENTION


@dataclass(frozen=True)
class KudosValue:
    key: str
    emoji: str
    en: str
    zh: str

    def name(self, locale: str) -> str:
        return self.zh if locale == "zh" else self.en


DEFAULT_VALUES: tuple[KudosValue, ...] = (
    KudosValue("collaboration", "🤝", "Cross-team collaboration", "跨部门协同之星"),
    KudosValue("customer", "🛡️", "Customer guardian", "客户守护者"),
    KudosValue("growth", "🌱", "Growth", "成长之星"),
    KudosValue("ownership", "🎯", "Ownership", "主人翁精神"),
    KudosValue("teamwork", "🙌", "Teamwork", "团队协作"),
)


@dataclass(frozen=True)
class KudosSettings:
    values: tuple[KudosValue, ...] = DEFAULT_VALUES
    weekly_limit: int = 10
    channel: str | None = None  # where kudos are posted; None = where they were typed
    rankings: bool = False
    channels: tuple[tuple[str, str], ...] = ()  # per platform, for an organisation on Slack and Feishu
    # Whether a channel id is one of a platform's own (platform, channel) → bool: the platforms say
    # (`bot/platforms/identity.owns_channel`). Unset, `channel` serves every platform.
    owns_channel: Callable[[str, str], bool] | None = field(default=None, compare=False)

    def channel_for(self, platform: str) -> str | None:
        """The configured kudos channel on one platform: from `channels`, or `channel` when it is one of that
        platform's channels."""
        if self.channels:
            return dict(self.channels).get(platform)
        if self.channel is None:
            return None
        return self.channel if self.owns_channel is None or self.owns_channel(platform, self.channel) else None

    def value(self, tag: str) -> KudosValue | None:
        """The value a tag names: its key, its English name without spaces, or its Chinese name (or a
        distinctive part of it, such as #协作 for 团队协作)."""
        wanted = tag.lower().lstrip("#")
        for v in self.values:
            if wanted in (v.key.lower(), v.en.lower().replace(" ", ""), v.en.lower().replace(" ", "-"), v.zh):
                return v
        partial = [v for v in self.values if len(wanted) >= 2 and wanted in v.zh]
        return partial[0] if len(partial) == 1 else None


@dataclass(frozen=True)
class KudosRequest:
    mentions: tuple[str, ...]
    reason: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class KudosRefusal:
    """Why a kudos was not sent: `key` names the message (`prompts/kudos/<locale>/<key>.j2`)."""

    key: str
    params: dict = field(default_factory=dict)


VALUES_MAX_LEN = 64  # the stored value keys, space-separated (kudos.value)


def store_values(keys: list[str]) -> str | None:
    """The value keys of one kudos as stored: space-separated, or None for none."""
    return " ".join(keys) or None


def stored_values(stored: str | None) -> list[str]:
    """The value keys of one stored kudos (one tag, several, or none)."""
    return stored.split() if stored else []


# What separates the people from the reason ("@alice, @bo: …", "@alice — …"); not part of the reason.
_AFTER_MENTIONS = re.compile(r"^[\s:：,，、—–]*(?:-\s+)?")
# Words that only introduce a reason: "@bo for" or "@bo 谢谢" has no reason yet. The reason keeps them.
_LEAD = re.compile(r"^(?:for|because|thanks for|thank you for|thanks|thank you|感谢|谢谢|因为|为了)\s*", re.IGNORECASE)
_TAGS = re.compile(r"(?:[#＃][^\s#＃]+)+")
_CHANNEL_TAG = re.compile(r"<#C[A-Z0-9]+\|([^>]+)>")


def _split_tags(text: str) -> tuple[str, list[str]]:
    """Take the value tags off the end: `for the release #growth #teamwork` → (`for the release`, [growth,
    teamwork]). Only a run of tags at the very end counts, so `fixing #123 in the tracker` keeps its `#123`."""
    tags: list[str] = []
    rest = text.rstrip()
    while rest:
        i = len(rest)
        while i > 0 and not rest[i - 1].isspace():
            i -= 1
        word = rest[i:]
        if not _TAGS.fullmatch(word):
            break
        tags[:0] = [t for t in re.split(r"[#＃]", word) if t]
        rest = rest[:i].rstrip()
    return rest, tags


def parse_kudos(args: str) -> KudosRequest | KudosRefusal:
    """Split `@a @b for reason #tag #tag` into its parts. The reason is exactly what was typed between the people
    and the tags: "for the release", "thanks for the help" and "谢谢你帮我改bug" stay whole."""
    rest = args.strip()
    mentions: list[str] = []
    while True:
        m = MENTION.match(rest)  # @handle / @名字, or a platform's mention (conversations.mentions)
        if not m:
            break
        token = m.group(1)
        if token not in mentions:
            mentions.append(token)
        rest = rest[m.end() :].lstrip(" ,，、")
    if not mentions:
        return KudosRefusal("usage")
    rest = _CHANNEL_TAG.sub(lambda m: f"#{m.group(1)}", rest)  # Slack turns #teamwork into <#C123|teamwork>
    rest, tags = _split_tags(rest)
    reason = _AFTER_MENTIONS.sub("", rest, count=1).strip()
    if not normalize(_LEAD.sub("", reason, count=1)):
        return KudosRefusal("no_reason", {"mentions": mentions})
    if len(reason) > MAX_ANSWER_LEN:
        return KudosRefusal("too_long", {"max": MAX_ANSWER_LEN, "length": len(reason)})
    return KudosRequest(tuple(mentions), reason, tuple(dict.fromkeys(tags)))


def check_kudos(
    *, giver_id: int, recipient_ids: list[int], given_this_week: int, settings: KudosSettings
) -> KudosRefusal | None:
    """The rules, given who is involved and how many kudos the giver has sent this week."""
    if giver_id in recipient_ids:
        return KudosRefusal("self")
    if given_this_week >= settings.weekly_limit:
        return KudosRefusal("limit", {"limit": settings.weekly_limit})
    return None
