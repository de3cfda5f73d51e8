# -*- test-case-name: tests.server.test_batch -*-
"""
One write per connection per read.

While L{IoProtocol} dispatches what one read brought (L{dispatching}), what
its messages cause to be sent to any connection (the replies to it, a
broadcast to others) is held, per connection, in L{pending}; once the
dispatch is done, each connection writes what it was sent in one piece
(L{ratchetpy._twisted.writeNow}): straight to its socket when nothing is
queued for it, through Twisted's buffered write otherwise. An echo then costs
one C{send} and no writability registration, and a broadcast one C{send}
per receiver per read however many messages the read carried.

Held bytes are bounded: a connection that is sent L{FLUSH_AT} bytes or more
during one read writes them at once, so that its transport's buffer fills,
and the send limit and slow-consumer policy of L{ratchetpy.server.flow} apply,
as they do without batching. Writes outside a read (timers, a pub/sub
message, a Deferred that fires later) are not held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

if TYPE_CHECKING:
    from .flow import FlowControl

log = Logger(namespace="ratchetpy")

#: Bytes sent to one connection during a read that are written at once
#: rather than at the end of the read: Twisted's transport buffer size, past
#: which its producer is paused.
FLUSH_AT = 64 * 1024

#: While a read is dispatched: the connections sent something, each with
#: C{[bytes held, chunk, chunk, ...]}, in the order they were first sent to;
#: C{None} otherwise.
pending: dict[FlowControl, list[Any]] | None = None


def dispatching(dispatch: Callable[..., object], *args: object) -> None:
    """
    Call C{dispatch(*args)}, holding what it sends, then write it: one write
    per connection. Within a dispatch already (a protocol fed from inside
    another's read), just call it.
    """
    global pending
    if pending is not None:
        dispatch(*args)
        return
    pending = {}
    try:
        dispatch(*args)
    finally:
        held, pending = pending, None
        for conn, chunks in held.items():
            # One connection's failing write must not cost the others theirs,
            # nor the connection that was read.
            try:
                conn._flush(chunks)
            except Exception:
                log.failure("writing to connection {resourceId} failed", resourceId=conn.resourceId)


def hold(conn: FlowControl, data: bytes) -> bool:
    """
    Hold C{data} for C{conn} until the end of the read, if a read is being
    dispatched; C{False} if none is (write it now).
    """
    held = pending
    if held is None:
        return False
    chunks = held.get(conn)
    if chunks is None:
        chunks = held[conn] = [len(data), data]
    else:
        chunks[0] += len(data)
        chunks.append(data)
    if chunks[0] >= FLUSH_AT:
        del held[conn]
        conn._flush(chunks)
    return True


def flush(conn: FlowControl) -> None:
    """
    Write what is held for C{conn} now (it is about to close: what it was
    sent goes first).
    """
    if pending is not None:
        chunks = pending.pop(conn, None)
        if chunks is not None:
            conn._flush(chunks)


def discard(conn: FlowControl) -> None:
    """
    Forget what is held for C{conn} (it is aborted or lost: Twisted would
    drop what is in its buffer too).
    """
    if pending is not None:
        pending.pop(conn, None)


__all__ = ["FLUSH_AT", "dispatching", "hold", "flush", "discard"]
