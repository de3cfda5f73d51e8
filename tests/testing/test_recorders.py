"""
L{ratchetpy.testing.Recorder} and L{ratchetpy.testing.HttpRecorder}: what
reaches a component, in order.
"""

from __future__ import annotations

from ratchetpy import WsServer
from ratchetpy.http import closeWithResponse
from ratchetpy.testing import Harness, HttpRecorder, Recorder


def test_recorderRecordsAndBehaves():
    """
    Hooks, messages and connections are recorded in order; C{behaviour}
    runs by hook name and C{echo} sends each message back.
    """
    recorder = Recorder(echo=True, onMessage=lambda conn, msg: conn.send("seen"))
    client = Harness(recorder).connect()
    client.send("a")
    assert client.receiveAll() == ["seen", "a"]
    client.close()
    assert recorder.hooks() == ["onOpen", "onMessage", "onClose"]
    assert recorder.messages() == ["a"]
    assert recorder.calls == [("onOpen",), ("onMessage", "a"), ("onClose",)]
    assert len(recorder.connections()) == 1


def test_httpRecorderRecordsTheRequest():
    """
    Behind the HTTP layer, the recorder gets the request with onOpen.
    """
    recorder = HttpRecorder(onOpen=lambda conn, request: closeWithResponse(conn, 403, "not here"))
    harness = Harness(WsServer(Recorder(), http=recorder))
    assert harness.request("/page?x=1", headers={"X-Test": "yes"}).status == 403
    request = recorder.request()
    assert (request.method, request.path, request.query) == ("GET", "/page", "x=1")
    assert request.headers.get("x-test") == "yes"
