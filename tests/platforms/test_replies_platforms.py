"""A reply round trip on Slack (against the fake Slack Web API) and on Feishu (the fake Feishu Open API): the manager
presses Reply on an item of the digest, a form with one text box opens, the reply reaches the member in their DM
with an Answer button, and the member's answer comes back to the manager. Only the two of them get anything."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

from sqlmodel import select

from storage.db import transaction
from storage.models import AnswerReply
from tests.helpers import local
from tests.platforms.test_slack_http import env, submission, texts  # noqa: F401  # the Slack fixture

MONDAY = local("Europe/London", 2026, 11, 30, 9, 0)


def _slack_check_in(client, clock, user, prefix, wins):
    from datetime import timedelta

    for i, text in enumerate(("4", wins, "no staging access", "Finish the API", "none")):
        clock.set(clock.now() + timedelta(minutes=1))  # a person types one answer at a time
        client.dm(user, text, f"{prefix}{i}")


def _reply_buttons(message_params):
    return [
        e
        for b in message_params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["value"].startswith("reply:")
    ]


def _send_in_modal(fake, client, user, button, text, ts):
    assert client.press(user, button["value"], ts, button=button)[0] == 200
    view = [c for c in fake.calls if c.method == "views.open"][-1].params["view"]
    assert view["callback_id"] == "flywheel_reply" and view["blocks"][0]["block_id"] == "reply"
    body = submission(user, view, {"reply": text})
    code, out = client.post(urlencode({"payload": json.dumps(body)}).encode(), "application/x-www-form-urlencoded")
    assert (code, out) == (200, b"")
    return view


def test_a_reply_round_trip_on_slack(env):  # noqa: F811
    app, fake, client, clock = env
    app.tick()  # Friday 15:00: the check-ins go out
    _slack_check_in(client, clock, "UALICE", "EvA", "Shipped the onboarding flow")
    clock.set(MONDAY)
    app.tick()
    digest = [c for c in fake.posted("UMARIA") if "📋" in c.params["blocks"][0]["text"]["text"]][-1].params
    whole = " ".join(b["text"]["text"] for b in digest["blocks"] if b["type"] == "section")
    assert "“Shipped the onboarding flow” [1]" in whole
    buttons = _reply_buttons(digest)
    assert [b["text"]["text"] for b in buttons][:2] == ["Reply to 1", "Reply to 2"]
    view = _send_in_modal(
        fake, client, "UMARIA", buttons[0], "Thanks for shipping onboarding — <!channel> & all", "1.1"
    )
    assert view["title"]["text"] == "Private reply"
    got = fake.posted("UALICE")[-1].params
    text = got["blocks"][0]["text"]["text"]
    # in the thread of the message that asked for her wins
    asked = next(
        ts for c, ts in fake.delivered if c.params.get("channel") == "UALICE" and "What went well" in str(c.params)
    )
    assert got["thread_ts"] == asked
    assert "Maria replied about your answer “wins”" in text
    assert "Thanks for shipping onboarding — &lt;!channel&gt; &amp; all" in text  # shown literally, pings nobody
    answer = _reply_buttons(got)
    assert [b["text"]["text"] for b in answer] == ["Answer"]
    _send_in_modal(fake, client, "UALICE", answer[0], "Glad it helped!", "1.2")
    assert "Alice answered your reply" in texts(fake, "UMARIA")[-1] and "Glad it helped!" in texts(fake, "UMARIA")[-1]
    # A forged form for someone else's number reaches nothing.
    forged = submission(
        "UBO", {"callback_id": "flywheel_reply", "private_metadata": "1", "blocks": view["blocks"]}, {"reply": "hi"}
    )
    client.post(urlencode({"payload": json.dumps(forged)}).encode(), "application/x-www-form-urlencoded")
    assert "nothing numbered 1" in texts(fake, "UBO")[-1]
    with transaction(app.sessions) as s:
        rows = list(s.exec(select(AnswerReply)))
    assert [r.text for r in rows] == ["Thanks for shipping onboarding — <!channel> & all", "Glad it helped!"]
    for other in ("UBO", "UCHEN"):
        assert not any("Glad it helped" in t or "shipping onboarding" in t for t in texts(fake, other))


def test_a_reply_round_trip_on_feishu(tmp_path):
    from tests.platforms.test_feishu import Env, buttons

    env = Env(tmp_path)  # noqa: F811 - the Feishu set-up, not the Slack fixture of the same name
    try:
        env.app.tick()  # Friday 15:00 Shanghai: the check-ins go out
        for text in ("4", "上线了新的支付流程", "none", "完成接口", "none"):
            env.clock.set(env.clock.now() + timedelta(minutes=1))
            env.over_long_connection(env.message("ou_bo", text))
        asked = next(m for c, m in env.fake.delivered if "这周有什么进展顺利" in json.dumps(c.body, ensure_ascii=False))
        env.clock.set(local("Asia/Shanghai", 2026, 11, 30, 9, 0))
        env.app.tick()  # Monday: digests
        sent = env.fake.sent("ou_maria")
        digest = next(c for c in sent if "📋" in c.body["content"]).card
        assert "“上线了新的支付流程” [1]" in json.dumps(digest, ensure_ascii=False)
        reply_card = next(c.card for c in sent if any(b["value"]["v"].startswith("reply:") for b in buttons(c.card)))
        assert not any(b["value"]["v"].startswith("reply:") for b in buttons(digest))  # a card of their own
        press = next(b for b in buttons(reply_card) if b["value"]["v"] == "reply:1")
        assert press["text"]["content"] == "回复第 1 项"  # the manager reads Chinese
        opened = env.over_long_connection(env.card_action("ou_maria", press["value"]))
        form = opened["card"]["data"]["elements"][1]
        send = form["elements"][-1]
        assert form["tag"] == "form" and send["value"] == {"reply": 1}
        done = env.over_long_connection(
            env.card_action("ou_maria", send["value"], form_value={"text": "谢谢你把支付流程顺利上线 <at id=all></at>"})
        )
        assert done["toast"]["type"] == "success"
        message = env.fake.sent("ou_bo")[-2]  # the message; its Answer button on the card after it
        text = message.body["content"]
        assert message.path.split("/")[-2] == asked  # a reply to the message that asked for the wins
        assert "王玛丽回复了你的" in text and "<at id=all>" not in text  # shown literally, mentions nobody
        answer = next(
            b for c in env.fake.sent("ou_bo")[-2:] for b in buttons(c.card) if b["value"]["v"].startswith("reply:")
        )
        assert answer["text"]["content"] == "回应"
        form = env.over_long_connection(env.card_action("ou_bo", answer["value"]))["card"]["data"]["elements"][1]
        empty = env.over_long_connection(
            env.card_action("ou_bo", form["elements"][-1]["value"], form_value={"text": " "})
        )
        assert empty["toast"]["type"] == "error"
        env.over_long_connection(
            env.card_action("ou_bo", form["elements"][-1]["value"], form_value={"text": "不客气！"})
        )
        back = " ".join(env.fake.texts("ou_maria")[-2:])
        assert "张博回应了你关于" in back and "不客气！" in back
        with transaction(env.app.sessions) as s:
            assert [r.text for r in s.exec(select(AnswerReply))] == [
                "谢谢你把支付流程顺利上线 <at id=all></at>",
                "不客气！",
            ]
        for other in ("ou_alice", "ou_chen"):
            assert not any("不客气" in t or "支付流程顺利" in t for t in env.fake.texts(other))
    finally:
        env.close()
