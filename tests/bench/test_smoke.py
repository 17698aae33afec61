"""Each benchmark, small (a few hundred members, seconds of load), so that bench/ cannot rot. These check what
the benchmarks measure — everyone prompted exactly once, latencies recorded, ratios computed — never how fast."""

from __future__ import annotations

import math

from bench import digest, fanout, inbound, memory, plan


def test_fanout_prompts_everyone_once_and_measures_the_floor(tmp_path):
    result = fanout.unlimited(f"sqlite:///{tmp_path / 'f.db'}", "sqlite", 150)
    f = result.figures
    assert f["members_prompted_once"] == f["runs_prompted"] == f["deliver_transitions"] == f["outbox_sent"] == 150
    assert f["flywheel_prompts_per_s"] > 0 and f["floor_prompts_per_s"] > 0 and f["ratio"] > 0
    assert set(result.targets) == {"throughput >= 0.5 x floor", "all prompted in < 60 s"}


def test_fanout_on_postgres(postgres_url):
    f = fanout.unlimited(postgres_url, "postgres", 100).figures
    assert f["members_prompted_once"] == f["outbox_sent"] == 100


def test_fanout_under_slack_limits_loses_nothing(tmp_path):
    f = fanout.limited(f"sqlite:///{tmp_path / 'f.db'}", "sqlite", 120, workspace_rate=25).figures
    assert f["members_prompted_once"] == f["outbox_sent"] == 120
    assert f["outbox_failed"] == 0
    assert f["refused_429"] > 0  # the limit was really enforced…
    assert f["imposed_s"] == (120 - 1) // 25 and f["simulated_s"] >= f["imposed_s"]  # …and nobody beat it
    assert f["ratio"] is not None


def test_inbound_records_a_latency_for_every_request(tmp_path):
    result = inbound.run(f"sqlite:///{tmp_path / 'f.db'}", "sqlite", members=100, rate=20, duration=2)
    f = result.figures
    assert f["requests"] == 40 and f["errors"] == 0 and f["floor_errors"] == 0
    assert not math.isnan(f["flywheel_p99_ms"]) and not math.isnan(f["floor_p50_ms"])
    assert f["median_ratio"] is not None and f["fanouts"] >= 1


def test_digest_builds_every_managers_digest(tmp_path):
    f = digest.run(f"sqlite:///{tmp_path / 'f.db'}", "sqlite", members=40, n_managers=4, weeks=8).figures
    assert f["managers"] == 4 and f["tick_digests_queued"] == 4 and f["tick_outbox_messages"] >= 4
    assert f["weekly_runs"] > 0 and f["floor_rows"] > 0 and f["queries_per_digest"] > 0
    assert f["chart_messages"] == 4 and f["png_kb_mean"] > 0  # every team of ten gets its charts, drawn
    assert f["slowest_ms"] >= f["median_ms"] > 0


def test_memory_is_sampled_during_the_fanout(tmp_path):
    f = memory.run(f"sqlite:///{tmp_path / 'f.db'}", "sqlite", members=200, idle_s=0.2).figures
    assert f["prompted"] == 200
    assert 0 < f["idle_rss_mb"] and f["fanout_peak_rss_mb"] >= f["idle_rss_mb"] * 0.5 and f["samples"] >= 1
    assert f["charts_peak_rss_mb"] > 0 and f["charts_100_s"] > 0


def test_plan_step_is_timed_at_the_fanout_and_in_the_steady_state(tmp_path):
    result = plan.run(f"sqlite:///{tmp_path / 'f.db'}", "sqlite", members=120, ticks=3)
    f = result.figures
    assert f["fanout_planned"] == 120 and f["runs"] == 121 and f["after_change_planned"] == 1
    assert f["fanout_plan_s"] > 0 and f["steady_plan_ms_max"] >= f["steady_plan_ms_median"] > 0
    assert all(result.targets.values())
