"""The stop deadline: the first signal starts the orderly stop and arms the watchdog, which
ends the process when the time is up; a second signal ends it at once."""

from __future__ import annotations

import threading

from telebill.shutdown import Deadline


class Exits:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.called = threading.Event()

    def __call__(self, reason: str) -> None:
        self.reasons.append(reason)
        self.called.set()


def test_the_first_signal_stops_in_order_and_the_watchdog_ends_it_when_time_is_up() -> None:
    exits = Exits()
    deadline = Deadline("worker", 0.2, exits)
    assert deadline.signalled("SIGTERM") is True
    assert exits.reasons == []  # the orderly stop runs meanwhile
    assert exits.called.wait(10)
    assert exits.reasons == [
        "worker: not stopped 0.2 s after the signal, exits now "
        "(what it had in flight is retried elsewhere)"
    ]


def test_a_second_signal_ends_it_at_once() -> None:
    exits = Exits()
    deadline = Deadline("email consumer", 60, exits)
    assert deadline.signalled("SIGTERM") is True
    assert deadline.signalled("SIGINT") is False
    assert exits.reasons == ["email consumer: SIGINT again, stopped at once"]
    deadline.cancel()


def test_a_process_that_stopped_in_time_is_not_ended() -> None:
    exits = Exits()
    deadline = Deadline("api", 0.1, exits)
    deadline.signalled("SIGTERM")
    deadline.cancel()  # it stopped by itself; the watchdog's thread has ended
    assert exits.reasons == []
