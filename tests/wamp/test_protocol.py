"""
The session state machine, with a raw client (the websockets library) that
sends what a well-behaved WAMP client never would: every protocol violation
gets ABORT wamp.error.protocol_violation and the connection closed; an
invalid URI in a request gets ERROR wamp.error.invalid_uri.
"""

from __future__ import annotations

import json

import msgpack
import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from twisted.internet import threads
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as wsConnect

from tests.helpers import closeCodeAfter, inThread, waitUntil

from .clients import connect, hello, leave

SUBSCRIBE, PUBLISH, CALL, REGISTER, YIELD, ERROR = 32, 16, 48, 64, 70, 8


def exchange(port: int, *messages: object, joined: bool = True, expect: int = 1) -> tuple[list, int | None]:
    """
    (Blocking.) Join (if C{joined}), send C{messages} (JSON-encoded unless
    str or bytes), read C{expect} answers or until the server closes; return
    the answers (decoded) and the close code.
    """
    answers: list = []
    with wsConnect(f"ws://127.0.0.1:{port}/", subprotocols=["wamp.2.json"], open_timeout=10) as ws:
        if joined:
            ws.send(hello())
            welcome = json.loads(ws.recv(timeout=10))
            assert welcome[0] == 2, welcome
        for msg in messages:
            ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))
        try:
            while len(answers) < expect:
                answers.append(json.loads(ws.recv(timeout=10)))
            if answers and answers[-1][0] == 3:  # ABORT: the close follows
                ws.recv(timeout=10)
        except ConnectionClosed as closed:
            return answers, closed.rcvd.code if closed.rcvd else None
        return answers, None


VIOLATIONS = {
    "subscribe before hello": ([[SUBSCRIBE, 1, {}, "com.a"]], False),
    "goodbye before hello": ([[6, {}, "wamp.close.close_realm"]], False),
    "second hello": ([hello()], True),
    "welcome from a client": ([[2, 1234, {"roles": {"broker": {}}}]], True),
    "event from a client": ([[36, 1, 2, {}]], True),
    "authenticate unasked": ([[5, "sig", {}]], True),
    "request id out of sequence": ([[SUBSCRIBE, 5, {}, "com.a"]], True),
    "request id repeated": ([[SUBSCRIBE, 1, {}, "com.a"], [SUBSCRIBE, 1, {}, "com.b"]], True),
    "not json": (["{oops"], True),
    "not a list": (['{"a": 1}'], True),
    "empty list": (["[]"], True),
    "unknown type": ([[999, 1]], True),
    "wrong arity": ([[SUBSCRIBE, 1]], True),
    "yield for nothing": ([[YIELD, 77, {}]], True),
    "error for a subscribe": ([[ERROR, SUBSCRIBE, 1, {}, "com.err"]], True),
    "error for nothing": ([[ERROR, 68, 9, {}, "com.err"]], True),
    "binary on json": ([msgpack.packb([SUBSCRIBE, 1, {}, "com.a"])], True),
    "hello without roles": ([json.dumps([1, "realm1", {}])], False),
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
def test_violation(router, case):
    """
    Each violation: ABORT wamp.error.protocol_violation, then close 1002.
    """
    server = router()
    messages, joined = VIOLATIONS[case]
    answers, code = inThread(exchange, server.port, *messages, joined=joined, expect=2 if "repeated" in case else 1)
    abort = answers[-1]
    assert abort[0] == 3, answers
    assert abort[2] == "wamp.error.protocol_violation"
    assert code == 1002
    assert server.sessionCount == 0


@pytest.mark.parametrize(
    "request_",
    [
        [SUBSCRIBE, 1, {}, "com..a"],
        [SUBSCRIBE, 1, {}, "com a"],
        [REGISTER, 1, {}, "com.#x"],
        [CALL, 1, {}, "com..x"],
        [PUBLISH, 1, {"acknowledge": True}, "com..x"],
        [REGISTER, 1, {}, "wamp.mine"],
        [PUBLISH, 1, {"acknowledge": True}, "wamp.session.on_join"],
    ],
)
def test_invalidUri(router, request_):
    """
    An invalid (or reserved) URI is an ERROR invalid_uri for that request;
    the session goes on (the next request is answered).
    """
    server = router()
    answers, code = inThread(exchange, server.port, request_, [SUBSCRIBE, 2, {}, "com.fine"], expect=2)
    assert answers[0][:3] == [ERROR, request_[0], 1]
    assert answers[0][4] == "wamp.error.invalid_uri"
    assert answers[1][0] == 33 and answers[1][1] == 2
    assert code is None


def test_invalidUriUnacknowledged(router):
    """
    An unacknowledged PUBLISH with an invalid URI gets no answer (and counts
    as a request).
    """
    server = router()
    answers, code = inThread(exchange, server.port, [PUBLISH, 1, {}, "com..x"], [SUBSCRIBE, 2, {}, "com.a"], expect=1)
    assert answers[0][:2] == [33, 2]


def test_noSubprotocol(router):
    """
    A client that agreed no WAMP subprotocol is closed with 1002.
    """
    server = router()
    assert inThread(closeCodeAfter, f"ws://127.0.0.1:{server.port}/") == 1002


def test_lenientRequestIds(router):
    """
    strictRequestIds=False accepts request ids in any order.
    """
    server = router(strictRequestIds=False)
    answers, code = inThread(exchange, server.port, [SUBSCRIBE, 7, {}, "com.a"], [SUBSCRIBE, 3, {}, "com.b"], expect=2)
    assert [a[:2] for a in answers] == [[33, 7], [33, 3]]


def test_goodbyeThenHelloAgain(router):
    """
    After GOODBYE the same connection may join again; a request's id starts
    at 1 again.
    """
    server = router()
    answers, code = inThread(
        exchange, server.port, [6, {}, "wamp.close.close_realm"], hello(), [SUBSCRIBE, 1, {}, "com.a"], expect=3
    )
    assert answers[0] == [6, {}, "wamp.close.goodbye_and_out"]
    assert answers[1][0] == 2
    assert answers[2][:2] == [33, 1]


def test_limits(router):
    """
    Past maxSubscriptions and maxRegistrations, an ERROR that names the option.
    """
    server = router(maxSubscriptions=1, maxRegistrations=1)
    answers, code = inThread(
        exchange,
        server.port,
        [SUBSCRIBE, 1, {}, "com.a"],
        [SUBSCRIBE, 2, {}, "com.b"],
        [REGISTER, 3, {}, "com.p"],
        [REGISTER, 4, {}, "com.q"],
        expect=4,
    )
    assert answers[0][0] == 33
    assert answers[1][0] == ERROR and "maxSubscriptions" in answers[1][5][0]
    assert answers[2][0] == 65
    assert answers[3][0] == ERROR and "maxRegistrations" in answers[3][5][0]


def test_pendingCallLimit(router):
    """
    Past maxPendingCalls, a call gets an ERROR naming the option.
    """
    server = router(maxPendingCalls=1)
    answers, code = inThread(
        exchange,
        server.port,
        [REGISTER, 1, {}, "com.p"],
        [CALL, 2, {}, "com.p"],
        [CALL, 3, {}, "com.p"],
        expect=3,
    )
    assert answers[0][0] == 65
    assert answers[1][0] == 68  # the invocation to ourselves
    assert answers[2][0] == ERROR and "maxPendingCalls" in answers[2][5][0]


def test_joinTimeout(router):
    """
    A connection that does not join within joinTimeout is ABORTed
    (wamp.error.timeout) and closed.
    """
    server = router(joinTimeout=0.2)
    answers, code = inThread(exchange, server.port, joined=False)
    assert answers[0][0] == 3 and answers[0][2] == "wamp.error.timeout"
    assert "joinTimeout" in answers[0][1]["message"]


def test_calleeWithoutCanceling(router):
    """
    A callee that did not announce call_canceling (autobahn-js) is never
    sent INTERRUPT: a timed-out call fails for its caller, and the callee's
    late YIELD is discarded, not a violation.
    """
    server = router(callTimeout=0.2)

    def calleeSide(port):
        with wsConnect(f"ws://127.0.0.1:{port}/", subprotocols=["wamp.2.json"], open_timeout=10) as ws:
            ws.send(json.dumps([1, "realm1", {"roles": {"callee": {"features": {"progressive_call_results": True}}}}]))
            assert json.loads(ws.recv(timeout=10))[0] == 2
            ws.send(json.dumps([REGISTER, 1, {}, "com.late"]))
            assert json.loads(ws.recv(timeout=10))[0] == 65
            invocation = json.loads(ws.recv(timeout=10))
            assert invocation[0] == 68
            try:
                extra = ws.recv(timeout=0.6)  # the call times out meanwhile
            except TimeoutError:
                extra = None
            ws.send(json.dumps([YIELD, invocation[1], {}, ["late"]]))
            ws.send(json.dumps([REGISTER, 2, {}, "com.still.here"]))
            return extra, json.loads(ws.recv(timeout=10))

    done = threads.deferToThread(calleeSide, server.port)
    waitUntil(lambda: "com.late" in server.defaultRealm.dealer.exact)
    caller = connect(server.port)
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(caller.call("com.late"))
    assert error.value.error == "wamp.error.timeout"
    extra, registered = pytest_twisted.blockon(done)
    assert extra is None  # no INTERRUPT
    assert registered[:2] == [65, 2]
    leave(caller)


def test_clientAbort(router):
    """
    A client's ABORT is not answered: the session ends and the connection
    closes.
    """
    server = router()
    answers, code = inThread(exchange, server.port, [3, {}, "wamp.error.leaving"], expect=1)
    assert answers == []
    assert code == 1000
    assert server.sessionCount == 0
