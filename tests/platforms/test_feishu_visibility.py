"""Feishu card values that carry someone's run id, in Feishu's exact shapes over the long connection: only the run's
own, active member gets its form or its answers (bot/access.py) — not a peer, not their manager, and not themselves
once deactivated."""

from __future__ import annotations

import json

from sqlmodel import select

from storage.db import transaction
from storage.models import Answer, Member
from tests.platforms.test_feishu import Env, buttons


def test_a_card_carrying_someone_elses_run_opens_nothing(tmp_path):
    env = Env(tmp_path)
    try:
        env.app.tick()
        form_button = next(b for b in buttons(env.fake.sent("ou_bo")[0].card) if b["value"]["v"].startswith("form:"))
        opened = env.over_long_connection(env.card_action("ou_bo", form_button["value"]))
        form = opened["card"]["data"]["elements"][1]
        submit = next(e for e in form["elements"] if e.get("action_type") == "form_submit")
        names = [e["name"] for e in form["elements"] if e.get("tag") in ("input", "select_static")]
        values = dict(zip(names, ["4", "CARD-SENTINEL", "无", "发布 v2", ""], strict=True))
        assert (
            env.over_long_connection(env.card_action("ou_bo", submit["value"], form_value=values))["toast"]["content"]
            == "已记录"
        )
        run_id = int(form_button["value"]["v"].removeprefix("form:"))
        for who in ("ou_alice", "ou_maria", "ou_nobody"):  # a peer, the manager, someone Flywheel does not know
            answer = json.dumps(
                env.over_long_connection(env.card_action(who, form_button["value"])), ensure_ascii=False
            )
            assert "CARD-SENTINEL" not in answer and '"tag": "form"' not in answer, who
            pressed = env.over_long_connection(env.card_action(who, {"run": run_id, "step": "wins", "v": "x"}))
            assert "CARD-SENTINEL" not in json.dumps(pressed, ensure_ascii=False), who
            refused = env.over_long_connection(
                env.card_action(who, submit["value"], form_value={**values, names[1]: "HIJACKED"})
            )
            assert refused["toast"]["type"] == "error", who
        with transaction(env.app.sessions) as s:  # bo leaves: his own card no longer opens either
            assert {a.value for a in s.exec(select(Answer).where(Answer.step == "wins"))} == {"CARD-SENTINEL"}
        with transaction(env.app.sessions) as s:
            bo = s.exec(select(Member).where(Member.handle == "bo")).one()
            bo.active = False
            s.add(bo)
        gone = json.dumps(env.over_long_connection(env.card_action("ou_bo", form_button["value"])), ensure_ascii=False)
        assert "CARD-SENTINEL" not in gone and '"tag": "form"' not in gone
    finally:
        env.close()
