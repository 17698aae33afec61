"""The fake Slack Web API in a process of its own (`python -m bench.fake_server`), for the inbound benchmark:
in the load generator's process, serving the fan-out's posts took the interpreter away from the client threads
timing the acks, and their measured latency grew with work that is not the bot's. `bench.stats` reports counts."""

from __future__ import annotations

import json
import sys

from fakes.slack_api import Call, FakeSlack, Scripted


def main() -> int:
    fake = FakeSlack()

    def stats(call: Call) -> Scripted | None:
        if call.method != "bench.stats":
            return None
        return Scripted(
            200,
            {
                "ok": True,
                "posted": len(fake.delivered),
                "channels": len({c.params.get("channel") for c, _ in fake.delivered}),
            },
        )

    fake.rule = stats
    fake.start()
    sys.stdout.write(json.dumps({"ready": True, "url": fake.url, "port": 0}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() == "quit":
            break
    fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
