"""The logging setup: libraries never write below their level whatever level they set on their own logger, and
secrets are blanked out in every line written, tracebacks included."""

from __future__ import annotations

import io
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.logs import LIBRARIES, Redactor, setup_logging


@pytest.fixture
def log():
    """setup_logging at DEBUG into a buffer; the root logger and the library loggers put back afterwards."""
    root = logging.getLogger()
    saved = (
        root.level,
        list(root.handlers),
        {n: (logging.getLogger(n).level, list(logging.getLogger(n).filters)) for n in LIBRARIES},
    )
    buffer = io.StringIO()
    handler = setup_logging("DEBUG", secrets=["s3cret-signing-value", "hunter22"], stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(saved[0])
    for name, (level, filters) in saved[2].items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.filters[:] = filters


def test_libraries_write_nothing_below_warning_even_when_they_ask_for_debug(log):
    logging.getLogger("slack_sdk.web.base_client").setLevel(logging.DEBUG)  # as a library might
    logging.getLogger("Lark").setLevel(logging.DEBUG)  # lark.ws.Client(log_level=DEBUG) does exactly this
    logging.getLogger("slack_sdk.web.base_client").debug("Sending a request - body_params: {'text': 'my answer'}")
    logging.getLogger("Lark").info("receive message, payload: my answer")
    logging.getLogger("urllib3.connectionpool").debug("POST /api/chat.postMessage")
    logging.getLogger("websockets.client").debug("> GET /ws?ticket=abc")
    logging.getLogger("some.new.library").info("anything")
    logging.getLogger("waitress").info("Serving on http://0.0.0.0:3000")
    logging.getLogger("slack_sdk.socket_mode").warning("The current session is no longer active")
    logging.getLogger("bot.app").debug("tick for member %s", 7)
    lines = log.getvalue().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "INFO waitress: Serving on http://0.0.0.0:3000",
        "WARNING slack_sdk.socket_mode: The current session is no longer active",
        "DEBUG bot.app: tick for member 7",
    ]


def test_a_library_handler_of_its_own_is_guarded_too(log):
    own = io.StringIO()
    lark = logging.getLogger("Lark")
    handler = logging.StreamHandler(own)  # lark-oapi adds one writing to stdout when it is imported
    lark.addHandler(handler)
    try:
        lark.setLevel(logging.DEBUG)
        lark.debug("receive message, payload: my answer")
        lark.error("connect failed, url ws://x/?access_key=abcdef123456&ticket=tk-99887766")
    finally:
        lark.removeHandler(handler)
    assert own.getvalue() == "connect failed, url ws://x/?access_key=***&ticket=***\n"


def test_secrets_are_blanked_out_in_messages_and_tracebacks(log):
    ours = logging.getLogger("bot.test")
    ours.info("token %s and app %s", "xoxb-1234-5678-abcdEFGH", "xapp-1-A0-99-ffff")
    ours.info("headers {'Authorization': 'Bearer t-g1044abcdef'}")
    ours.info('{"app_id": "cli_1", "app_secret": "abc123secretvalue", "tenant_access_token": "t-xyz987"}')
    ours.info("signing with s3cret-signing-value, password=hunter22")
    try:
        raise RuntimeError("the server said: invalid_auth for xoxb-9999-secret")
    except RuntimeError:
        ours.exception("sending failed")
    text = log.getvalue()
    for secret in (
        "1234-5678-abcdEFGH",
        "A0-99-ffff",
        "t-g1044abcdef",
        "abc123secretvalue",
        "t-xyz987",
        "s3cret-signing-value",
        "hunter22",
        "9999-secret",
    ):
        assert secret not in text
    assert "token xoxb-*** and app xapp-***" in text
    assert '"app_id": "cli_1"' in text  # what is not a secret stays readable
    assert "RuntimeError: the server said: invalid_auth for xoxb-***" in text


@settings(max_examples=200, deadline=None)
@given(
    before=st.text(max_size=40),
    after=st.text(max_size=40),
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=6, max_size=40),
)
def test_a_configured_secret_never_survives(before, after, secret):
    assert secret not in Redactor([secret])(before + secret + after)
