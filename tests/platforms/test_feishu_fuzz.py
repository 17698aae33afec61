"""Hostile input for Feishu, property-based: generated events and card callbacks, encrypted and signed so they reach
the parsers, through `POST /feishu/events` — only 2xx/4xx, never a 5xx — and plain through the long-connection
handler, which never raises. Afterwards both still work. Also: at DEBUG, neither our logs nor lark-oapi's carry
secrets or answers."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.platforms.test_feishu import KEY, TOKEN, Env

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
TEXT = st.text(max_size=200)
USERS = st.sampled_from(["ou_alice", "ou_bo", "ou_nobody", ""])


def message_events():
    message = st.fixed_dictionaries(
        {
            "message_id": TEXT,
            "chat_id": st.sampled_from(["oc_team", "", "oc_p2p_ou_alice"]),
            "chat_type": st.sampled_from(["p2p", "group", "topic", ""]),
            "message_type": st.sampled_from(["text", "post", "image", "sticker", ""]),
            "content": st.one_of(TEXT.map(lambda t: json.dumps({"text": t})), TEXT, JSONISH.map(json.dumps)),
            "mentions": st.one_of(
                JSONISH,
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "key": st.sampled_from(["@_user_1", "@_user_2", "@_all", ""]),
                            "name": TEXT,
                            "id": st.one_of(JSONISH, st.fixed_dictionaries({"open_id": USERS})),
                        }
                    ),
                    max_size=3,
                ),
            ),
        }
    )
    event = st.fixed_dictionaries(
        {
            "sender": st.one_of(
                JSONISH,
                st.fixed_dictionaries(
                    {
                        "sender_id": st.one_of(JSONISH, st.fixed_dictionaries({"open_id": USERS})),
                        "sender_type": st.sampled_from(["user", "app", ""]),
                    }
                ),
            ),
            "message": st.one_of(JSONISH, message),
        }
    )
    return envelope("im.message.receive_v1", event)


def card_actions():
    value = st.one_of(
        JSONISH,
        st.fixed_dictionaries(
            {
                "v": st.one_of(TEXT, st.sampled_from(["4", "skip", "form:1", "form:x", "/support 1 handle"])),
                "flow": st.sampled_from(["weekly_checkin", "retro", ""]),
                "step": st.sampled_from(["mood", "wins", ""]),
                "run": st.one_of(st.integers(), TEXT),
            }
        ),
        st.fixed_dictionaries(
            {"form": st.one_of(st.integers(-5, 5), TEXT), "steps": st.one_of(JSONISH, st.lists(TEXT, max_size=4))}
        ),
    )
    event = st.fixed_dictionaries(
        {
            "operator": st.one_of(JSONISH, st.fixed_dictionaries({"open_id": USERS})),
            "action": st.one_of(
                JSONISH,
                st.fixed_dictionaries({"value": value, "tag": TEXT, "form_value": st.one_of(st.none(), JSONISH)}),
            ),
            "context": JSONISH,
        }
    )
    return envelope("card.action.trigger", event)


def envelope(kind, event):
    return st.fixed_dictionaries(
        {
            "schema": st.sampled_from(["2.0", "2.0", "1.0", ""]),
            "header": st.one_of(
                JSONISH,
                st.fixed_dictionaries(
                    {"event_id": TEXT, "event_type": st.sampled_from([kind, kind, "x.y"]), "token": st.just(TOKEN)}
                ),
            ),
            "event": st.one_of(JSONISH, event),
        }
    )


def payloads():
    return st.one_of(
        message_events(),
        card_actions(),
        JSONISH,
        st.fixed_dictionaries(
            {"type": st.just("url_verification"), "challenge": JSONISH, "token": st.sampled_from([TOKEN, "x"])}
        ),
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads(), raw=st.one_of(st.none(), st.binary(max_size=200)))
def test_signed_and_encrypted_garbage_never_gets_a_5xx(feishu_env, payload, raw):
    body = feishu_env.sealed(raw if raw is not None else json.dumps(payload).encode())
    code, _ = feishu_env.post(b"", body=body)
    assert 200 <= code < 500
    answer = feishu_env.over_long_connection(payload)  # must not raise
    assert answer is None or isinstance(answer, dict)


def test_still_working_after_the_storm_and_nothing_leaks_at_debug(feishu_env, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("Lark").setLevel(logging.DEBUG)  # even if someone turns lark-oapi's logger all the way up
    try:
        feishu_env.app.tick()
        for text in ["4", "SENTINEL-ANSWER-7f3a"]:
            feishu_env.over_long_connection(feishu_env.message("ou_alice", text))
        code, _ = feishu_env.post(feishu_env.message("ou_bo", "SENTINEL-ANSWER-99b1"))
        assert code == 200
    finally:
        logging.getLogger("Lark").setLevel(logging.WARNING)
    assert any(t.startswith("(3/") or "(3/" in t for t in feishu_env.fake.texts("ou_alice"))
    for secret in ("SENTINEL-ANSWER", KEY, TOKEN, "app-secret-sentinel", "t-1"):
        assert secret not in caplog.text


@pytest.fixture
def feishu_env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()
