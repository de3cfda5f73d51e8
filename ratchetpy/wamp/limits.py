"""
The WAMP router's limits and their defaults (arguments of
L{ratchetpy.wamp.WampServer}).
"""

from __future__ import annotations

#: Subscriptions one session may hold.
MAX_SUBSCRIPTIONS = 1000
#: Registrations one session may hold.
MAX_REGISTRATIONS = 1000
#: Calls one session may have waiting for their results.
MAX_PENDING_CALLS = 1000
#: Invocations one callee may have pending at once.
MAX_PENDING_INVOCATIONS = 1000
#: Seconds a call may take when the caller set no (shorter) timeout; 0: none.
CALL_TIMEOUT = 60.0
#: Seconds a connection gets to join a realm (HELLO, and authentication)
#: after it opened or left one.
JOIN_TIMEOUT = 10.0
#: Seconds a session gets to answer the router's GOODBYE before its
#: connection is closed.
GOODBYE_TIMEOUT = 5.0
