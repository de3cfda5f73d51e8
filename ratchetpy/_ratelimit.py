# -*- test-case-name: tests.test_ratelimit -*-
"""
Log lines about what clients do wrong, bounded so that a flood of bad clients
cannot fill the disk.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger

#: At most this many lines of one kind per window...
BURST = 20
#: ...of this many seconds; the rest are counted and summarised.
WINDOW = 10.0
#: Kinds tracked separately; beyond this many, new kinds share one limit (a
#: library may put varying text in its format strings).
MAX_KINDS = 256


class _Window:
    __slots__ = ("start", "logged", "suppressed")

    def __init__(self, start: float) -> None:
        self.start = start
        self.logged = 0
        self.suppressed = 0


#: Every L{LogBudget} alive, so that L{resetAllBudgets} can reach them all;
#: weak, so that a budget goes when its owner does.
_budgets: weakref.WeakSet[LogBudget] = weakref.WeakSet()


def allBudgets() -> list[LogBudget]:
    """
    Every L{LogBudget} alive in the process.
    """
    return list(_budgets)


def resetAllBudgets() -> None:
    """
    Give every L{LogBudget} of the process a fresh start, as if nothing had
    been logged through it yet: for tests that look for a line that earlier
    tests may have used the budget of. Counts of lines not logged are
    forgotten, not reported.
    """
    for budget in list(_budgets):
        budget.reset()


class LogBudget:
    """
    Emits at most C{burst} lines of each kind per C{window} seconds. Lines over
    the limit are counted, and the count is logged with the first line of the
    kind after the window ends ("... 5,312 more like it were not logged").

    Every budget is registered (weakly) for L{resetAllBudgets}.
    """

    def __init__(
        self,
        logger: Logger,
        burst: int = BURST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self.burst = burst
        self.window = window
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        #: Lines of each kind since the budget was made, logged or not, and
        #: those not logged in all (for metrics; never reset).
        self.totals: dict[str, int] = {}
        self.suppressedTotal = 0
        _budgets.add(self)

    def reset(self) -> None:
        """
        Forget every window: each kind may log a full burst again.
        """
        self._windows.clear()

    def info(self, kind: str, format: str, **fields: Any) -> None:
        """
        Log C{format} with C{fields} at info level, unless C{kind} lines are
        over the limit.
        """
        if self.allow(kind):
            self._logger.info(format, **fields)

    def warn(self, kind: str, format: str, **fields: Any) -> None:
        """
        As L{info}, at warning level.
        """
        if self.allow(kind):
            self._logger.warn(format, **fields)

    def allow(self, kind: str) -> bool:
        """
        Count a line of C{kind}; whether it is within the limit and should be
        logged.
        """
        now = self._clock()
        window = self._windows.get(kind)
        if window is None and len(self._windows) >= MAX_KINDS:
            kind = "(other)"
            window = self._windows.get(kind)
        if window is None or now - window.start >= self.window:
            if window is not None and window.suppressed:
                self._logger.info(
                    "{suppressed} more lines like the next were not logged in {seconds:g} seconds",
                    suppressed=window.suppressed,
                    seconds=self.window,
                )
            window = self._windows[kind] = _Window(now)
        self.totals[kind] = self.totals.get(kind, 0) + 1
        if window.logged < self.burst:
            window.logged += 1
            return True
        window.suppressed += 1
        self.suppressedTotal += 1
        return False


class RateLimitedLogger:
    """
    Wraps a logger (Twisted's or Autobahn's txaio one) so that its C{info},
    C{warn} and C{error} lines are rate-limited, per format string, by a
    L{LogBudget}; other levels (C{debug}, C{trace}) pass straight
    through. For libraries that log per connection at warning level, such as
    Autobahn on every failed or dropped WebSocket.
    """

    def __init__(self, logger: Any, budget: LogBudget) -> None:
        self._wrapped = logger
        self._budget = budget
        # Autobahn calls these on every read and write: no __getattr__ for them.
        self.debug = logger.debug
        self.trace = getattr(logger, "trace", logger.debug)

    def info(self, format: str, **fields: Any) -> None:
        if self._budget.allow(format):
            self._wrapped.info(format, **fields)

    def warn(self, format: str, **fields: Any) -> None:
        if self._budget.allow(format):
            self._wrapped.warn(format, **fields)

    def error(self, format: str, **fields: Any) -> None:
        if self._budget.allow(format):
            self._wrapped.error(format, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)
