"""The unit tests the fast tier (`make test-fast`, `-m "not slow"`) leaves out, each with its
reason: together they took 108 s of the unit tests' 146 s on 2026-12-03 (a 2-CPU machine beside
a benchmark). `make test` runs them all."""

from __future__ import annotations

import pytest

SLOW: dict[str, str] = {
    # 60 commands, each `telebill <command> --help` in a process of its own (1.2 s of Python
    # start-up each: 70 s); the in-process CLI tests stay in the fast tier
    "test_cli.py::test_every_command_has_help": "a process per command",
    # Prometheus's promtool evaluating the alert rules over simulated hours (18 s)
    "test_deploy_monitoring.py::test_the_alert_rules_fire_when_they_should_and_not_before": (
        "promtool"
    ),
    # The hunts (Hypothesis searching for inputs that break a bound; the cases they found so
    # far stay in the fast tier as their own tests): templates from a grammar, each rendered
    # in a helper process (11 s), and events, dead letters and provider answers (8 s, their
    # time bounds the likeliest to fail on a loaded machine)
    "test_hunt_templates.py::test_any_template_the_grammar_writes_renders_within_bounds_or_is_refused": (  # noqa: E501
        "a hunt"
    ),
    "test_hunt_events.py::test_any_record_on_a_channel_topic_is_decided_within_bounds": "a hunt",
    "test_hunt_events.py::test_anything_on_the_dead_letter_queue_is_recorded_within_bounds": (
        "a hunt"
    ),
    "test_hunt_events.py::test_whatever_a_provider_answers_is_kept_redacted_in_linear_time": (
        "a hunt"
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.nodeid.rpartition("tests/unit/")[2].split("[")[0]
        if name in SLOW:
            item.add_marker(pytest.mark.slow(reason=SLOW[name]))
