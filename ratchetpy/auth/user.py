# -*- test-case-name: tests.auth.test_authenticate -*-
"""
L{User}: who a connection belongs to, as an authenticator recognised them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zope.interface import implementer

from ..interfaces import IUser


@implementer(IUser)
@dataclass(frozen=True)
class User:
    """
    An L{IUser}: C{conn.user} after a successful authentication.

    @ivar id: the user's id, a C{str} (a JWT's C{sub}).
    @ivar info: a C{dict} of what the application may show to other users
        (a display name); never credentials.
    @ivar expiresAt: when the credentials expire, in seconds since the epoch
        (a JWT's C{exp}), or C{None}. A WebSocket connection is closed
        (4001) a grace period after it, unless renewed
        (L{ratchetpy.auth.renewUser}).
    @ivar claims: everything the credentials said, verified (a JWT's claims:
        C{channels}, C{meta}, ...); never shown to other users.
    """

    id: str
    info: dict[str, Any] = field(default_factory=dict, hash=False)
    expiresAt: float | None = None
    claims: dict[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str):
            raise TypeError(f"User.id must be a str, not {type(self.id).__name__}")
        if not isinstance(self.info, dict):
            raise TypeError(f"User.info must be a dict, not {type(self.info).__name__}")
        if self.expiresAt is not None:
            object.__setattr__(self, "expiresAt", float(self.expiresAt))
