"""Hostile input, property-based: signed requests with generated bodies reach the parsers; the answer is always
2xx or 4xx, never 5xx, and the endpoint keeps working."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.platforms.test_slack_http import env  # noqa: F401

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
TEXT = st.text(max_size=200)


def event_bodies():
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "x"]),
            "event_id": TEXT,
            "team_id": TEXT,
            "event": st.one_of(
                JSONISH,
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["message", "app_home_opened", "reaction_added"]),
                        "channel_type": st.sampled_from(["im", "channel", ""]),
                        "user": TEXT,
                        "text": TEXT,
                        "subtype": st.one_of(st.none(), TEXT),
                        "tab": st.sampled_from(["home", "messages"]),
                    }
                ),
            ),
        }
    ).map(lambda d: (json.dumps(d).encode(), "application/json"))


def command_bodies():
    return st.fixed_dictionaries(
        {
            "command": st.sampled_from(
                ["/kudos", "/retro", "/checkin", "/pause", "/note", "/support", "/flywheel", "/review", "/zz", ""]
            ),
            "text": TEXT,
            "user_id": st.sampled_from(["UALICE", "UBO", "UNOBODY", ""]),
            "channel_id": st.sampled_from(["C1", "D1", "G1", ""]),
            "trigger_id": TEXT,
        }
    ).map(lambda d: (urlencode(d).encode(), "application/x-www-form-urlencoded"))


def interaction_bodies():
    action = st.fixed_dictionaries(
        {"action_id": TEXT, "value": st.one_of(TEXT, st.just("form:1"), st.just("form:x")), "action_ts": TEXT}
    )
    payload = st.fixed_dictionaries(
        {
            "type": st.sampled_from(["block_actions", "view_submission", "shortcut"]),
            "user": st.fixed_dictionaries({"id": st.sampled_from(["UALICE", "UBO", "U?"])}),
            "actions": st.lists(action, max_size=2),
            "trigger_id": TEXT,
            "view": st.one_of(
                JSONISH,
                st.fixed_dictionaries(
                    {
                        "callback_id": st.just("flywheel_form"),
                        "private_metadata": st.sampled_from(["1", "2", "x", ""]),
                        "id": TEXT,
                        "state": st.fixed_dictionaries({"values": st.dictionaries(TEXT, JSONISH, max_size=3)}),
                    }
                ),
            ),
        }
    )
    return st.one_of(payload.map(json.dumps), TEXT).map(
        lambda p: (urlencode({"payload": p}).encode(), "application/x-www-form-urlencoded")
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request=st.one_of(
        event_bodies(),
        command_bodies(),
        interaction_bodies(),
        st.binary(max_size=300).map(lambda b: (b, "application/json")),
        st.binary(max_size=300).map(lambda b: (b, "application/x-www-form-urlencoded")),
    )
)
def test_signed_garbage_never_gets_a_5xx(env, request):  # noqa: F811
    app, fake, client, clock = env
    body, content_type = request
    code, _ = client.post(body, content_type)
    assert 200 <= code < 500, (code, body[:200])


def test_the_endpoint_still_works_after_the_fuzzing(env):  # noqa: F811
    app, fake, client, clock = env
    assert client.command("UALICE", "/flywheel", "")[0] == 200
    assert fake.posted("UALICE")
