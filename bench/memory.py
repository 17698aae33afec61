"""Memory: the resident set size (RSS) of the running bot (`bench.server`, set up as `flywheel run` in HTTP mode:
waitress, the outbox pump, the scheduler) with 10,000 members loaded and idle, and its peak during a fan-out of
the weekly check-in to all of them. Sampled from outside the process every 20 ms."""

from __future__ import annotations

import os
import threading
import time

from bench.common import Result, start_fake
from bench.proc import Server

LIMIT_MB = 250


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    import psutil  # not Linux: the `bench` extra has it

    return psutil.Process(pid).memory_info().rss / 2**20


def run(url: str, db: str, *, members: int = 10_000, idle_s: float = 3.0) -> Result:
    result = Result("memory", db)
    fake = start_fake()
    try:
        bot = Server("--mode", "flywheel", "--db", url, "--slack", fake.url, "--members", str(members))
        try:
            time.sleep(idle_s)  # loaded, serving, nothing due yet
            idle = [rss_mb(bot.pid)]
            for _ in range(10):
                time.sleep(0.05)
                idle.append(rss_mb(bot.pid))
            samples: list[float] = []
            done = threading.Event()

            def sample() -> None:
                while not done.is_set():
                    samples.append(rss_mb(bot.pid))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            bot.send("fanout")
            fanout = bot.wait_for("fanout")
            after = rss_mb(bot.pid)
            before_charts = len(samples)
            bot.send("charts")  # Monday's pictures: Pillow is loaded on first use (issue 18)
            drawing = bot.wait_for("charts")
            done.set()
            sampler.join()
            charts_peak = max(samples[before_charts:] + [rss_mb(bot.pid)])
        finally:
            bot.close()
    finally:
        fake.stop()
    prompted = len({c.params.get("channel") for c in fake.posted()})
    peak = max(samples[:before_charts] + [after])
    result.figures.update(
        {
            "members": members,
            "idle_rss_mb": round(max(idle), 1),
            "fanout_peak_rss_mb": round(peak, 1),
            "after_fanout_rss_mb": round(after, 1),
            "fanout_s": fanout["seconds"],
            "charts_peak_rss_mb": round(charts_peak, 1),
            "charts_100_s": drawing["seconds"],
            "prompted": prompted,
            "samples": len(samples),
            "pid_platform": os.uname().sysname,
        }
    )
    result.targets.update(
        {
            f"idle < {LIMIT_MB} MB": max(idle) < LIMIT_MB,
            f"fan-out peak < {LIMIT_MB} MB": peak < LIMIT_MB and prompted == members,
            f"charts peak < {LIMIT_MB} MB": charts_peak < LIMIT_MB,
        }
    )
    return result
