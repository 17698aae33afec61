"""Where platforms meet neutral code about people and places: a member's address on a platform, who a mention in a
command names, and whose a channel id is. Nothing else knows a platform's id formats or its mention syntax.

- Accounts are `member_identity` rows, one per platform, loaded with their members in one query per batch:
  `Member.account(platform)` is a member's address there (the console knows people by their handle).
- Mentions: each platform's inbound layer writes the people its users picked as the neutral token of
  `conversations.mentions` (`<@id|name>`); a name typed after `@` is a handle or an exact name on every platform.
- Channels: a platform with a distinctive channel id format claims its ids here (Feishu chat ids); the others
  (Slack's ids and `#names`, the console's names) take any id no such platform claims.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlmodel import Session

from bot.platforms.feishu.inbound import is_chat_id as _feishu_chat
from conversations.mentions import read_mention
from storage import repo
from storage.models import Member

_CHANNEL_CLAIMS: dict[str, Callable[[str], bool]] = {"feishu": _feishu_chat}


def owns_channel(platform: str, channel: str) -> bool:
    """Whether `channel` is an id of a channel on `platform` (so a kudos channel configured once is used there)."""
    claim = _CHANNEL_CLAIMS.get(platform)
    if claim is not None:
        return claim(channel)
    return not any(claims(channel) for claims in _CHANNEL_CLAIMS.values())


def member_by_mention(s: Session, *, platform: str, token: str) -> Member | None:
    """Who `token` names: a platform mention (`<@id|name>`, the account on `platform`), or `@alice` / `@陈晨` (a
    handle or an exact name)."""
    mention = read_mention(token)
    if mention is not None:
        return repo.member_by_platform_id(s, platform=platform, user_id=mention.user_id)
    return repo.member_by_name(s, name=token.lstrip("@"))


def members_by_mentions(s: Session, *, platform: str, tokens: Sequence[str]) -> tuple[list[Member], str | None]:
    """The active members the mentions name, in order and without repeats; or the first token nobody matches."""
    found: list[Member] = []
    for token in tokens:
        member = member_by_mention(s, platform=platform, token=token)
        if member is None or not member.active:
            return [], token
        if member not in found:
            found.append(member)
    return found, None
