"""
The session meta API: wamp.session.count/list/get and the on_join/on_leave
events, as a real client sees them.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError

from tests.helpers import waitUntil

from .clients import connect, leave


def test_countListGet(router):
    """
    count and list name the joined sessions; get gives one's details;
    get of an unknown session is no_such_session.
    """
    server = router()
    a, b = connect(server.port), connect(server.port, serializer="msgpack")
    call = lambda *args, **kw: pytest_twisted.blockon(a.call(*args, **kw))  # noqa: E731
    assert call("wamp.session.count") == 2
    assert sorted(call("wamp.session.list")) == sorted([a.session_id, b.session_id])
    assert call("wamp.session.count", ["user"]) == 0
    details = call("wamp.session.get", b.session_id)
    assert details["session"] == b.session_id
    assert details["authrole"] == "anonymous"
    assert details["transport"]["protocol"] == "wamp.2.msgpack"
    with pytest.raises(ApplicationError) as error:
        call("wamp.session.get", 12345)
    assert error.value.error == "wamp.error.no_such_session"
    leave(a)
    leave(b)


def test_joinAndLeaveEvents(router):
    """
    on_join carries the new session's details; on_leave its id, authid and
    authrole.
    """
    server = router()
    watcher = connect(server.port)
    joins: list = []
    leaves: list = []
    pytest_twisted.blockon(watcher.subscribe(lambda details: joins.append(details), "wamp.session.on_join"))
    pytest_twisted.blockon(watcher.subscribe(lambda *args: leaves.append(args), "wamp.session.on_leave"))
    other = connect(server.port)
    waitUntil(lambda: joins)
    assert joins[0]["session"] == other.session_id
    sessionId = other.session_id
    leave(other)
    waitUntil(lambda: leaves)
    assert leaves[0] == (sessionId, other.details.authid, "anonymous")
    leave(watcher)
