"""Prometheus metrics, per bot instance (its own registry, so tests and several apps in one process don't mix)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sent = Counter(
            "flywheel_messages_sent",
            "Messages delivered, by kind (deliver = a prompt).",
            ["kind"],
            registry=self.registry,
        )
        self.answers = Counter(
            "flywheel_answers_received", "Answers stored, by flow.", ["flow"], registry=self.registry
        )
        self.send_failures = Counter(
            "flywheel_send_failures", "Messages that failed for good, by reason.", ["reason"], registry=self.registry
        )
        self.retries = Counter(
            "flywheel_send_retries",
            "Sends scheduled for another attempt, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "flywheel_inbound_events",
            "Inbound events by platform and outcome.",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "flywheel_ack_seconds",
            "Time from receiving a platform request to answering it.",
            ["platform"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "flywheel_outbox_depth", "Messages waiting to be sent (pending or being sent).", registry=self.registry
        )

    def render(self, outbox_depth: Callable[[], int]) -> bytes:
        self.outbox_depth.set(outbox_depth())
        return generate_latest(self.registry)
