"""
The recorder's bounded labels and its histogram.
"""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred

from ratchetpy import MessageComponent, WsServer
from ratchetpy.metrics.recorder import Recording, Timings, closeCodeLabel


def test_closeCodeLabels() -> None:
    """
    Standard codes are their own label; what peers may send beyond them falls into a few ranges.
    """
    assert [closeCodeLabel(code) for code in (1000, 1006, 1011, 3001, 4999, 2000, 5000, None)] == [
        "1000", "1006", "1011", "3000-3999", "4000-4999", "other", "other", "none",
    ]
    assert len({closeCodeLabel(code) for code in range(0, 70000)}) <= 17


def test_timingsAreCumulative() -> None:
    timings = Timings((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 2.0):
        timings.observe(seconds)
    assert timings.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]
    assert timings.sum == 2.65


class Slow(MessageComponent):
    def __init__(self) -> None:
        self.pending: Deferred[None] = Deferred()

    def onMessage(self, conn: object, msg: object) -> Deferred[None]:
        return self.pending


def test_asyncHookTimedUntilSettled() -> None:
    """
    A hook's Deferred is timed until it fires; ratchetpy's own layers are not timed at all.
    """
    now = [10.0]
    recording = Recording(clock=lambda: now[0])
    component = Slow()
    result = recording.callHook(component, "onMessage", object(), ("x",))
    assert result is component.pending
    timings = recording.hookTimings["onMessage"]
    assert timings.calls == 1 and sum(timings.counts) == 0
    now[0] = 10.3
    component.pending.callback(None)
    assert sum(timings.counts) == 1 and timings.sum == pytest.approx(0.3)
    assert not recording.isUserComponent(WsServer(MessageComponent()))
    assert recording.isUserComponent(component)
