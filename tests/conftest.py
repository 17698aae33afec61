import logging

import pytest

from tests.helpers import make_harness, utc


@pytest.fixture
def harness(tmp_path):
    h = make_harness(tmp_path, start=utc(2026, 11, 23, 9, 0))
    yield h
    h.app.close()


@pytest.fixture(autouse=True)
def _quiet_logs(caplog):
    caplog.set_level(logging.INFO)
