# -*- test-case-name: tests.auth.test_authenticate -*-
"""
How authenticators refuse (L{Unauthorized}, L{Forbidden}), and the throttle
on failed authentications per address (L{FailureThrottle}).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

from ..options import AUTH_FAILURE_WINDOW, MAX_AUTH_FAILURES, MAX_TRACKED_ADDRESSES


class AuthenticationFailed(Exception):
    """
    The base of L{Unauthorized} and L{Forbidden}.

    @ivar status: the HTTP status the client gets.
    @ivar reason: one line for the client and the log. It must not contain
        the credentials.
    """

    status = 401

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthorized(AuthenticationFailed):
    """
    Credentials of the authenticator's kind are missing, malformed, expired
    or forged: the client gets 401 with C{WWW-Authenticate}.
    """

    status = 401


class Forbidden(AuthenticationFailed):
    """
    The credentials are good, but this user may not connect here: the client
    gets 403.
    """

    status = 403


class FailureThrottle:
    """
    Counts failed authentications per address in a sliding window: past
    C{maxFailures} within C{window} seconds, the address is refused (429)
    until its oldest failure is older than the window.

    Memory is bounded: at most C{maxAddresses} addresses are remembered, each
    with at most C{maxFailures} times; the address that failed least recently
    is forgotten first.

    @param maxFailures: C{0}: no limit (nothing is tracked).
    """

    def __init__(
        self,
        maxFailures: int = MAX_AUTH_FAILURES,
        window: float = AUTH_FAILURE_WINDOW,
        maxAddresses: int = MAX_TRACKED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maxFailures = maxFailures
        self.window = window
        self.maxAddresses = maxAddresses
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """
        The number of addresses remembered.
        """
        return len(self._failures)

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def retryAfter(self, address: str) -> int | None:
        """
        If C{address} is over the limit, the whole seconds until it may try
        again; else C{None}.
        """
        if not self.maxFailures:
            return None
        now = self._clock()
        times = self._recent(address, now)
        if times is None or len(times) < self.maxFailures:
            return None
        return max(1, int(times[0] + self.window - now + 0.999))

    def failed(self, address: str) -> None:
        """
        Count one failed authentication from C{address}.
        """
        if not self.maxFailures:
            return
        now = self._clock()
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.maxFailures)
            while len(self._failures) > self.maxAddresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        times.append(now)
