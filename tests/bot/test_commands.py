"""The one command list (conversations/commands.py COMMANDS) against everything that names commands: the handlers the
features register, the Slack manifest's slash commands, the help text in both languages and the README's Feishu
bot menu."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conversations.commands import COMMANDS, SUBCOMMANDS, aliases
from tests.helpers import make_harness, utc

ROOT = Path(__file__).resolve().parent.parent.parent
TYPED = re.compile(
    r"(?<![\w/.])/([a-z0-9]*[a-z][a-z0-9]*|[\u4e00-\u9fff]+)"
)  # `/checkin`, `/1on1`, `/小结` — not a path such as a/b


def test_every_command_has_exactly_one_handler(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9))
    try:
        assert sorted(h.app.commands) == sorted(COMMANDS)
    finally:
        h.app.close()


def test_the_slack_manifest_offers_only_commands_in_the_list_and_reaches_all_of_them():
    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    slash = {c["command"].removeprefix("/") for c in manifest["features"]["slash_commands"]}
    assert slash <= set(COMMANDS)
    assert "flywheel" in slash and set(COMMANDS) <= slash | set(SUBCOMMANDS)  # the rest as `/flywheel <command>`


def test_the_help_text_names_every_command_and_no_other():
    known = set(COMMANDS) | set(aliases())
    for locale in ("en", "zh"):
        named = set(TYPED.findall((ROOT / "prompts" / "common" / locale / "help.j2").read_text(encoding="utf-8")))
        assert named <= known, (locale, named - known)
        assert set(COMMANDS) - {"help"} <= named, (locale, set(COMMANDS) - {"help"} - named)  # help: it is the help


def test_the_readme_feishu_menu_and_chinese_names_are_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("Optional **bot menu**")
    menu = re.findall(r"`/([a-z0-9]+)", readme[start : readme.index("\n\n", start)])
    assert menu and set(menu) <= set(COMMANDS), menu
    chinese = readme[readme.index("(or in Chinese:") :][:400]
    names = TYPED.findall(chinese[: chinese.index(")")])
    assert names and set(names) <= set(aliases()), names


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_on_slack_the_help_names_the_commands_as_slack_takes_them(locale):
    """Slack keeps `/me` for itself, and the manifest registers no `/note` or `/resume`: there they are
    `/flywheel me`, `/flywheel note`, `/flywheel resume` (a helper's trial found the help sending people to `/me`)."""
    from conversations.machine import Reply
    from conversations.render import Audience, Renderer, neutralise

    audience = Audience(locale, "Europe/London", "Alice", seen_by=("Maria",))

    def shown(platform: str) -> str:
        return Renderer().with_escape(neutralise, platform=platform).render(Reply("common/help"), audience)

    manifest = yaml.safe_load((ROOT / "slack" / "manifest.yml").read_text(encoding="utf-8"))
    registered = {c["command"] for c in manifest["features"]["slash_commands"]}
    on_slack = shown("slack")
    typed = set(re.findall(r"(?<![a-z/])(/[a-z0-9]+)", on_slack.replace("/flywheel ", "")))
    assert typed <= registered, typed - registered  # everything else is written `/flywheel …`
    assert not re.search(r"/[^\x00-\x7f]", on_slack)  # nor the Chinese names, which Slack would refuse
    assert "/flywheel me export" in on_slack and "/flywheel note" in on_slack and "/flywheel resume" in on_slack
    on_console = shown("console")
    assert "• /me " in on_console and "/flywheel me" not in on_console
    if locale == "zh":
        assert "/小结" in on_console
