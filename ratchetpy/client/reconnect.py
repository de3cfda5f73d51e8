# -*- test-case-name: tests.client.test_reconnect -*-
"""
L{Reconnect}: how long a client waits before it tries again, exponential
backoff with jitter, and when it gives up.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Reconnect:
    """
    When a L{ratchetpy.client.Client} tries again, after a failed attempt or
    a lost connection.

    The n-th retry in a row waits C{min(maxDelay, initialDelay * factor **
    (n - 1))} seconds, less a random part of up to C{jitter} of it (so that
    a thousand clients of a server that restarts do not all come back in
    the same instant). A connection that worked starts the count afresh
    when it ends; one on which a hook of the component failed counts as a
    failed attempt instead.

    A handshake refused with a 4xx status (401, 403, 404...) is not retried:
    the client gives up at once, but for 408 and 429, which are retried like
    network failures and 5xx statuses.

    @ivar initialDelay: seconds before the first retry.
    @ivar maxDelay: the longest wait between two attempts, in seconds.
    @ivar factor: how much longer each wait is than the one before.
    @ivar jitter: the part of each wait that is random, from 0 (none) to 1.
    @ivar maxAttempts: failed attempts in a row after which the client gives
        up; C{None}: it never does (but for a refusal).
    """

    initialDelay: float = 0.5
    maxDelay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    maxAttempts: int | None = None

    def __post_init__(self) -> None:
        for name in ("initialDelay", "maxDelay"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"Reconnect {name} must be a number of seconds, 0 or more, not {value!r}")
        if self.maxDelay < self.initialDelay:
            raise ValueError(
                f"Reconnect maxDelay ({self.maxDelay}) must be at least initialDelay ({self.initialDelay})"
            )
        if not isinstance(self.factor, int | float) or self.factor < 1:
            raise ValueError(f"Reconnect factor must be a number, 1 or more, not {self.factor!r}")
        if not isinstance(self.jitter, int | float) or not 0 <= self.jitter <= 1:
            raise ValueError(f"Reconnect jitter must be a number from 0 to 1, not {self.jitter!r}")
        if self.maxAttempts is not None and (type(self.maxAttempts) is not int or self.maxAttempts < 1):
            raise ValueError(f"Reconnect maxAttempts must be a positive int or None, not {self.maxAttempts!r}")

    def delay(self, retry: int, random: Callable[[], float] = random.random) -> float:
        """
        Seconds to wait before retry number C{retry} (from 1) in a row.
        """
        base = self.initialDelay * self.factor ** min(retry - 1, 64)
        base = min(self.maxDelay, base)
        return base * (1 - self.jitter * random())

    def givesUpAfter(self, failures: int) -> bool:
        """
        Whether C{failures} failed attempts in a row are enough.
        """
        return self.maxAttempts is not None and failures >= self.maxAttempts


__all__ = ["Reconnect"]
