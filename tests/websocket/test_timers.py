"""
BucketTimer, the shared timer behind Autobahn's handshake, keepalive and close
timeouts: never early, at most one resolution late, cancellable, and sharing
reactor timers.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from ratchetpy.websocket.timers import BucketTimer


def test_neverEarlyAtMostOneResolutionLate():
    """
    A call due in 1.0 s does not run before 1.0 s (txaio's batched timer,
    which it replaces, rounds deadlines down to whole seconds and could run
    it at once) and has run by 1.0 s plus the resolution.
    """
    for start in (0.0, 0.05, 0.199, 0.999, 12345.67):
        clock = Clock()
        clock.advance(start)
        timer = BucketTimer(clock, resolution=0.2)
        ran: list[float] = []
        timer.call_later(1.0, lambda ran=ran, clock=clock: ran.append(clock.seconds()))
        clock.advance(0.999)
        assert ran == [], start
        clock.advance(0.2)
        assert len(ran) == 1, start
        assert start + 1.0 <= ran[0] <= start + 1.2 + 1e-9


def test_callsInOneBucketShareOneReactorTimer():
    """
    Calls due within the same resolution share one reactor timer, and each
    runs once with its arguments.
    """
    clock = Clock()
    timer = BucketTimer(clock, resolution=0.2)
    ran: list[tuple[int, str]] = []
    for number in range(1000):
        timer.call_later(5.01 + number / 20_000, ran.append, (number, "x"))
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(5.2)
    assert sorted(ran) == [(number, "x") for number in range(1000)]
    assert clock.getDelayedCalls() == []


def test_cancelledCallsDoNotRun():
    """
    A cancelled call does not run; cancelling twice, or after it ran, is
    harmless.
    """
    clock = Clock()
    timer = BucketTimer(clock)
    ran: list[str] = []
    kept = timer.call_later(1.0, ran.append, "kept")
    dropped = timer.call_later(1.0, ran.append, "dropped")
    dropped.cancel()
    dropped.cancel()
    clock.advance(2)
    kept.cancel()
    assert ran == ["kept"]


def test_aFailingCallDoesNotStopTheOthers():
    """
    One call raising is logged and the rest of its bucket still runs.
    """
    clock = Clock()
    timer = BucketTimer(clock)
    ran: list[int] = []
    timer.call_later(1.0, lambda: 1 / 0)
    timer.call_later(1.0, ran.append, 1)
    clock.advance(2)
    assert ran == [1]


def test_aBucketWithEveryCallCancelledGivesItsTimerBack():
    """
    Once every call of a bucket is cancelled (keepalive timeouts answered in
    time), its reactor timer is cancelled too; a new call in that slot gets a
    new one and runs.
    """
    clock = Clock()
    timer = BucketTimer(clock)
    calls = [timer.call_later(30.0, lambda: None) for _ in range(3)]
    assert len(clock.getDelayedCalls()) == 1
    for call in calls:
        call.cancel()
    assert clock.getDelayedCalls() == []
    ran: list[str] = []
    timer.call_later(30.0, ran.append, "again")
    clock.advance(31)
    assert ran == ["again"]
