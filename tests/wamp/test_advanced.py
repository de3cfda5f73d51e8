"""
The Advanced Profile features the router announces, with real
Autobahn-Python clients: publisher exclusion and identification, black- and
whitelisting, pattern-based subscriptions and registrations, shared
registrations, call timeout and canceling, progressive results, caller
identification; and one event encoded once per serializer.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallOptions, PublishOptions, RegisterOptions, SubscribeOptions
from twisted.internet.defer import Deferred

from tests.helpers import inThread, sleep, waitUntil

from .clients import connect, leave
from .test_protocol import exchange


def collect(client, topic, **options):
    got: list = []

    def handler(*args, details=None, **kwargs):
        got.append((args, kwargs, details))

    pytest_twisted.blockon(client.subscribe(handler, topic, options=SubscribeOptions(details_arg="details", **options)))
    return got


def publish(client, topic, *args, **options):
    return pytest_twisted.blockon(client.publish(topic, *args, options=PublishOptions(acknowledge=True, **options)))


def test_exclusionAndLists(router):
    """
    exclude_me=False includes the publisher; exclude, eligible and their
    authid/authrole forms filter the receivers.
    """
    server = router()
    a, b, c = (connect(server.port) for _ in range(3))
    got = {name: collect(client, "com.t") for name, client in (("a", a), ("b", b), ("c", c))}
    publish(a, "com.t", 1, exclude_me=False)
    waitUntil(lambda: all(got.values()))
    publish(a, "com.t", 2, exclude=[b.session_id])
    publish(a, "com.t", 3, eligible=[b.session_id])
    publish(a, "com.t", 4, exclude_authrole=["anonymous"])
    publish(a, "com.t", 5, eligible_authid=[c.details.authid])
    publish(a, "com.t", 6, eligible=[])
    publish(a, "com.t", 7, exclude_me=False)  # a marker: all three get it
    waitUntil(lambda: all(any(g[0] == (7,) for g in v) for v in got.values()))
    values = {name: [g[0][0] for g in v] for name, v in got.items()}
    assert values == {"a": [1, 7], "b": [1, 3, 7], "c": [1, 2, 5, 7]}
    for client in (a, b, c):
        leave(client)


def test_publisherDisclosure(router):
    """
    disclose_me (sent raw: Autobahn-Python 26 no longer offers it) puts the
    publisher's session id and authid in the event's details.
    """
    server = router()
    b = connect(server.port)
    got = collect(b, "com.t")
    answers, _ = inThread(
        exchange,
        server.port,
        [16, 1, {"disclose_me": True, "acknowledge": True}, "com.t", ["x"]],
        [16, 2, {"acknowledge": True}, "com.t", ["y"]],
        expect=2,
    )
    assert [a[0] for a in answers] == [17, 17]
    waitUntil(lambda: len(got) == 2)
    assert isinstance(got[0][2].publisher, int) and got[0][2].publisher != b.session_id
    assert got[1][2].publisher is None
    leave(b)


def test_patternSubscriptions(router):
    """
    prefix and wildcard subscriptions get the events that match, with the
    event's topic in the details.
    """
    server = router()
    a, b = connect(server.port), connect(server.port)
    prefixed = collect(b, "com.news.", match="prefix")
    wild = collect(b, "com..sport", match="wildcard")
    publish(a, "com.news.sport", 1)
    publish(a, "com.weather.sport", 2)
    publish(a, "com.news.tech", 3)
    publish(a, "org.news.x", 4)
    waitUntil(lambda: len(prefixed) == 2 and len(wild) == 2)
    sleep(0.1)
    assert [(g[0][0], g[2].topic) for g in prefixed] == [(1, "com.news.sport"), (3, "com.news.tech")]
    assert [(g[0][0], g[2].topic) for g in wild] == [(1, "com.news.sport"), (2, "com.weather.sport")]
    leave(a)
    leave(b)


def test_encodedOnce(router, monkeypatch):
    """
    One publication to many subscribers is encoded once per serializer.
    """
    from ratchetpy.wamp.codec import Codec

    server = router()
    publisher = connect(server.port)
    subscribers = [connect(server.port, serializer=s) for s in ("json", "json", "json", "msgpack", "msgpack")]
    got = [collect(s, "com.t") for s in subscribers]
    encoded: list[str] = []
    original = Codec.encode

    def counting(self, msg):
        if type(msg).__name__ == "Event":
            encoded.append(self.subProtocol)
        return original(self, msg)

    monkeypatch.setattr(Codec, "encode", counting)
    publish(publisher, "com.t", "x")
    waitUntil(lambda: all(got))
    assert sorted(encoded) == ["wamp.2.json", "wamp.2.msgpack"]
    for client in [publisher, *subscribers]:
        leave(client)


def test_patternRegistrations(router):
    """
    exact beats the longest prefix, which beats a wildcard; the callee learns
    the procedure called.
    """
    server = router()
    callee, caller = connect(server.port), connect(server.port)

    def named(name):
        def fn(*args, details=None):
            return [name, details.procedure]

        return fn

    for uri, match, name in (
        ("com.a.b.c", "exact", "exact"),
        ("com.a.", "prefix", "short"),
        ("com.a.b.", "prefix", "long"),
        ("com..b.c", "wildcard", "wild"),
    ):
        pytest_twisted.blockon(
            callee.register(named(name), uri, options=RegisterOptions(match=match, details_arg="details"))
        )
    call = lambda uri: pytest_twisted.blockon(caller.call(uri))  # noqa: E731
    assert call("com.a.b.c") == ["exact", "com.a.b.c"]  # Autobahn fills it in
    assert call("com.a.b.x") == ["long", "com.a.b.x"]
    assert call("com.a.x") == ["short", "com.a.x"]
    assert call("com.z.b.c") == ["wild", "com.z.b.c"]
    leave(callee)
    leave(caller)


@pytest.mark.parametrize("invoke", ["roundrobin", "random"])
def test_sharedRegistration(router, invoke):
    """
    Several callees share a procedure; roundrobin takes turns, random reaches
    both over many calls; a mismatched policy is refused.
    """
    server = router()
    one, two, caller = connect(server.port), connect(server.port), connect(server.port)
    for name, client in (("one", one), ("two", two)):
        pytest_twisted.blockon(
            client.register(lambda _n=name: _n, "com.shared", options=RegisterOptions(invoke=invoke))
        )
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(caller.register(lambda: 0, "com.shared", options=RegisterOptions(invoke="single")))
    assert error.value.error == "wamp.error.procedure_already_exists"
    results = [pytest_twisted.blockon(caller.call("com.shared")) for _ in range(20)]
    if invoke == "roundrobin":
        assert results[:4] == ["one", "two", "one", "two"]
    assert set(results) == {"one", "two"}
    for client in (one, two, caller):
        leave(client)


def test_callTimeout(router):
    """
    A call past its timeout (the caller's, or the router's default) fails with
    wamp.error.timeout; the callee (Autobahn announces call_canceling) is
    interrupted.
    """
    server = router(callTimeout=0.3)
    callee, caller = connect(server.port), connect(server.port)
    interrupted: list = []

    def slow():
        d = Deferred(lambda d: interrupted.append(True))
        return d

    pytest_twisted.blockon(callee.register(slow, "com.slow"))
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(caller.call("com.slow"))
    assert error.value.error == "wamp.error.timeout"
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(caller.call("com.slow", options=CallOptions(timeout=50)))
    assert error.value.error == "wamp.error.timeout"
    waitUntil(lambda: len(interrupted) == 2)
    leave(callee)
    leave(caller)


def test_cancel(router):
    """
    A caller cancels; the callee is interrupted and the caller gets an error.
    """
    server = router()
    callee, caller = connect(server.port), connect(server.port)
    interrupted: list = []
    pytest_twisted.blockon(callee.register(lambda: Deferred(lambda d: interrupted.append(True)), "com.slow"))
    call = caller.call("com.slow")
    waitUntil(lambda: server.defaultRealm.dealer.exact["com.slow"].callees[0].invocations)
    call.cancel()
    waitUntil(lambda: interrupted)
    with pytest.raises(Exception):  # noqa: B017 - Autobahn fails it with CancelledError or ApplicationError
        pytest_twisted.blockon(call)
    waitUntil(lambda: not server.defaultRealm.dealer.exact["com.slow"].callees[0].invocations)
    leave(callee)
    leave(caller)


def test_progressiveResults(router):
    """
    A callee's progressive results reach a caller that asked for them, then
    the final result.
    """
    server = router()
    callee, caller = connect(server.port), connect(server.port)

    def counting(n, details=None):
        for i in range(n):
            details.progress(i)
        return "done"

    pytest_twisted.blockon(callee.register(counting, "com.count", options=RegisterOptions(details_arg="details")))
    progress: list = []
    result = pytest_twisted.blockon(caller.call("com.count", 3, options=CallOptions(on_progress=progress.append)))
    assert result == "done"
    assert progress == [0, 1, 2]
    leave(callee)
    leave(caller)


def test_callerDisclosure(router):
    """
    A caller that discloses itself (raw CALL option disclose_me) is named in
    the invocation's details; one that does not is not.
    """
    server = router()
    callee = connect(server.port)
    pytest_twisted.blockon(
        callee.register(lambda details=None: details.caller, "com.who", options=RegisterOptions(details_arg="details"))
    )
    answers, _ = inThread(
        exchange, server.port, [48, 1, {"disclose_me": True}, "com.who"], [48, 2, {}, "com.who"], expect=2
    )
    assert answers[0][0] == 50 and isinstance(answers[0][3][0], int)
    assert answers[1][0] == 50 and answers[1][3] == [None]
    leave(callee)
