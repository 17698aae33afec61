"""Benchmarks (issue 7): fan-out, inbound latency, digests and memory, each measured side by side with a floor
(the bare SDK, or the raw SQL) in the same run, on SQLite and on PostgreSQL. `make bench`; see docs/benchmarks.md."""
