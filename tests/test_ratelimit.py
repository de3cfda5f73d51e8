"""
LogBudget with a fake clock: a burst of lines per kind and window, the
rest counted and the count reported with the first line of the next window.
"""

from __future__ import annotations

import gc
import weakref

from twisted.logger import Logger, LogLevel, formatEvent

from ratchetpy import _ratelimit
from ratchetpy._ratelimit import MAX_KINDS, LogBudget, RateLimitedLogger, resetAllBudgets


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def makeLog(burst=3, window=10.0):
    events: list[dict] = []
    clock = FakeClock()
    limited = LogBudget(Logger(namespace="test", observer=events.append), burst, window, clock)
    return limited, events, clock


def texts(events) -> list[str]:
    return [formatEvent(event) for event in events]


def test_burstThenSuppressed():
    """
    Within one window, the first C{burst} lines of a kind are logged with
    their fields and the rest are not.
    """
    limited, events, clock = makeLog(burst=3)
    for i in range(10):
        limited.info("refusal", "refused {n}", n=i)
        clock.now += 0.1
    assert texts(events) == ["refused 0", "refused 1", "refused 2"]
    assert all(event["log_level"] == LogLevel.info for event in events)


def test_suppressedCountReportedInNextWindow():
    """
    The first line of a kind after its window ends is preceded by one line
    saying how many were not logged, and a fresh burst is allowed.
    """
    limited, events, clock = makeLog(burst=2, window=10.0)
    for i in range(7):
        limited.info("refusal", "refused {n}", n=i)
    assert len(events) == 2
    clock.now += 9.99
    limited.info("refusal", "refused {n}", n="late")
    assert len(events) == 2, "still the same window"
    clock.now += 0.01
    limited.info("refusal", "refused {n}", n="next")
    limited.info("refusal", "refused {n}", n="next2")
    limited.info("refusal", "refused {n}", n="next3")
    assert texts(events)[2:] == [
        "6 more lines like the next were not logged in 10 seconds",
        "refused next",
        "refused next2",
    ]


def test_noSummaryWithoutSuppression():
    """
    A new window after a quiet one starts without a summary line.
    """
    limited, events, clock = makeLog(burst=5)
    limited.info("k", "one")
    clock.now += 60
    limited.info("k", "two")
    assert texts(events) == ["one", "two"]


def test_kindsAreLimitedSeparately():
    """
    One kind over its limit does not silence another.
    """
    limited, events, _ = makeLog(burst=1)
    for _ in range(5):
        limited.info("http-404", "not found")
        limited.info("http-403", "forbidden")
    assert texts(events) == ["not found", "forbidden"]


def test_warnLevelAndAllow():
    """
    warn logs at warning level under the same limit; allow counts without
    logging and says whether a line may be logged.
    """
    limited, events, _ = makeLog(burst=2)
    assert limited.allow("k") is True
    limited.warn("k", "careful {x}", x=1)
    limited.warn("k", "careful {x}", x=2)
    assert texts(events) == ["careful 1"]
    assert events[0]["log_level"] == LogLevel.warn
    assert limited.allow("k") is False


def test_manyKindsShareOneLimit():
    """
    Past MAX_KINDS different kinds, new kinds share one limit, so varying
    kinds cannot grow memory or bypass the limit.
    """
    limited, events, _ = makeLog(burst=1)
    for i in range(MAX_KINDS):
        limited.info(f"kind-{i}", "line")
    assert len(events) == MAX_KINDS
    for i in range(100):
        limited.info(f"new-kind-{i}", "overflow {i}", i=i)
    assert texts(events)[MAX_KINDS:] == ["overflow 0"]
    assert len(limited._windows) == MAX_KINDS + 1


def test_rateLimitedLoggerWrapsALogger():
    """
    RateLimitedLogger limits info, warn and error per format string and
    passes other levels through unlimited.
    """
    events: list[dict] = []
    clock = FakeClock()
    wrapped = RateLimitedLogger(Logger(namespace="lib", observer=events.append), LogBudget(Logger(), 1, 10, clock))
    for _ in range(3):
        wrapped.warn("dropped {peer}", peer="a")
        wrapped.error("failed")
        wrapped.debug("detail")
    assert texts(events) == ["dropped a", "failed", "detail", "detail", "detail"]


def test_resetAllBudgetsGivesEveryBudgetAFreshStart():
    """
    resetAllBudgets lets every budget log a full burst again, those of
    ratchetpy's modules included, without reporting what was not logged.
    """
    limited, events, _ = makeLog(burst=1)
    limited.info("k", "first")
    limited.info("k", "suppressed")
    from ratchetpy.server import blacklist

    blacklist._refusals.allow("some-kind")
    resetAllBudgets()
    assert not blacklist._refusals._windows
    limited.info("k", "again")
    assert texts(events) == ["first", "again"]


def test_budgetsAreRegisteredWeakly():
    """
    The registry does not keep a budget alive once its owner drops it.
    """
    budget = LogBudget(Logger())
    assert budget in _ratelimit._budgets
    gone = weakref.ref(budget)
    del budget
    gc.collect()
    assert gone() is None
