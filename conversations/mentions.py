"""The neutral form of a mention of someone's chat account, shared by every platform.

A person named in a command is either written by name (`@alice`, `@陈晨`: a handle or an exact name, as on the
console) or mentioned through the platform's own picker. Each platform's inbound layer writes the latter as the
neutral token `<@id>` / `<@id|name>`, with the platform's user id (`bot/platforms/identity.py` knows whose it is).
Slack's own message syntax already is this form, so Slack text passes unchanged; Feishu turns its `@_user_1` keys
into it. Command parsers find mentions with `MENTION`; nothing outside the platform layer looks inside an id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A platform mention (the neutral token), or a name typed after `@`.
MENTION = re.compile(r"(<@[A-Za-z0-9_]+(?:\|[^>]*)?>|@[^\s,，、:：@#]+)")
_TOKEN = re.compile(r"<@([A-Za-z0-9_]+)(?:\|([^>]*))?>")


@dataclass(frozen=True)
class Mention:
    """A mention of one account on the platform the text came from; `name` is what the platform showed, if any."""

    user_id: str
    name: str = ""


def mention_token(user_id: str, name: str = "") -> str:
    """The neutral token for a mention: `<@id|name>` (a `|` or `>` in the name would end it: they become spaces)."""
    return f"<@{user_id}|{name.replace('|', ' ').replace('>', ' ')}>"


def read_mention(token: str) -> Mention | None:
    """The account a neutral token mentions; None for a name typed after `@` (or anything else)."""
    m = _TOKEN.fullmatch(token)
    return Mention(m.group(1), m.group(2) or "") if m else None
