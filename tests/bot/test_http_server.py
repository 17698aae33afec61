"""The HTTP server's stop: no new connections once stopping; a request being handled is answered; then it closes."""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest

from bot.web import HttpServer
from tests.e2e.process import free_port


def test_a_request_being_handled_when_the_stop_comes_is_answered_and_new_connections_are_refused():
    entered, release = threading.Event(), threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            assert release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
        return [b"done"]

    port = free_port()
    server = HttpServer(app, host="127.0.0.1", port=port, threads=2)
    serving = threading.Thread(target=server.serve_until_stopped)
    serving.start()
    answers: list[bytes] = []
    client = threading.Thread(
        target=lambda: answers.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/slow", timeout=10).read())
    )
    client.start()
    assert entered.wait(10)
    server.stop()
    serving.join(5)
    assert not serving.is_alive()
    finishing = threading.Thread(target=server.finish, args=(10,))
    finishing.start()
    finishing.join(0.3)
    assert finishing.is_alive()  # still waiting for the request in hand
    with pytest.raises(OSError):  # the port is closed: a load balancer goes elsewhere
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    release.set()
    finishing.join(10)
    client.join(10)
    assert not finishing.is_alive() and answers == [b"done"]
