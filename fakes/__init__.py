"""Fake Slack and Feishu servers on loopback, shared by the tests (tests/) and the benchmarks (bench/).

A top-level package of its own so that neither of those imports the other; it is not part of the installed
product (pyproject's package list leaves it out) and is imported from the repository root, where pytest and
`python -m bench` both run."""
