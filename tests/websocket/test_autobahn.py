"""
The shapes of Autobahn's internals that L{ratchetpy.websocket._autobahn}
relies on, on the installed Autobahn: an upgrade that changes one fails
here, by name, before it fails anywhere else.
"""

from __future__ import annotations

import inspect

import autobahn
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ratchetpy.websocket import _autobahn
from tests.helpers import ROOT


def testedRange() -> SpecifierSet:
    """
    The Autobahn versions setup.cfg allows.
    """
    for line in (ROOT / "setup.cfg").read_text().splitlines():
        line = line.strip()
        if line.startswith("autobahn"):
            return SpecifierSet(line.split("]", 1)[1].strip())
    raise AssertionError("setup.cfg does not require autobahn")


def test_installedAutobahnIsInTheTestedRange():
    """
    setup.cfg bounds Autobahn above as well as below, and the installed one
    is within the range.
    """
    specifiers = testedRange()
    assert any(spec.operator == "<" for spec in specifiers), specifiers
    assert Version(autobahn.__version__) in specifiers


def test_theEngineReadsItsOptionsFromCONFIG_ATTRS():
    """
    Autobahn's connectionMade copies each option in CONFIG_ATTRS that the
    protocol lacks from the factory: the configured class holds them all, so
    that nothing is copied per connection.
    """
    source = inspect.getsource(WebSocketProtocol._connectionMade)
    assert "for configAttr in self.CONFIG_ATTRS" in source
    assert "hasattr(self, configAttr)" in source
    factory = _autobahn.EngineFactory()
    factory.setProtocolOptions(maxMessagePayloadSize=123)
    configured = _autobahn.configuredProtocol(_autobahn.EngineProtocol, factory)
    assert configured.CONFIG_ATTRS == ()
    for name in WebSocketServerProtocol.CONFIG_ATTRS:
        assert hasattr(configured, name), name
    assert configured.maxMessagePayloadSize == 123


def test_timersGoThroughTheFactorysBatchedTimer():
    """
    Every timeout of the engine is scheduled with
    C{self.factory._batched_timer.call_later}; ratchetpy's factory puts its
    BucketTimer there.
    """
    source = inspect.getsource(WebSocketProtocol)
    assert source.count("self.factory._batched_timer.call_later(") >= 4
    assert "txaio.make_batched_timer" in inspect.getsource(
        __import__("autobahn.websocket.protocol", fromlist=["x"]).WebSocketServerFactory.__init__
    )
    factory = _autobahn.EngineFactory()
    assert factory._batched_timer is factory.timer


def test_theMethodsOverriddenOrCalledExist():
    """
    The engine methods ratchetpy overrides or calls, with the arguments it
    passes.
    """
    def parameters(function):
        return list(inspect.signature(function).parameters)

    assert parameters(WebSocketServerProtocol._dataReceived) == ["self", "data"]
    assert parameters(WebSocketProtocol.sendData) == ["self", "data", "sync", "chopsize"]
    assert parameters(WebSocketServerProtocol._closeConnection) == ["self", "abort"]
    assert parameters(WebSocketProtocol.sendCloseFrame) == ["self", "code", "reasonUtf8", "isReply"]
    assert parameters(WebSocketProtocol.sendClose) == ["self", "code", "reason"]
    assert parameters(WebSocketProtocol.sendPreparedMessage) == ["self", "preparedMsg"]
    assert parameters(PreparedMessage.__init__) == ["self", "payload", "isBinary", "applyMask", "doNotCompress"]
    # dropConnection unregisters the producer, which ratchetpy keeps registered.
    assert "self.unregisterProducer()" in inspect.getsource(WebSocketProtocol.dropConnection)
    # The Twisted adapter's dataReceived only logs and calls _dataReceived.
    assert "self._dataReceived(data)" in inspect.getsource(WebSocketServerProtocol.dataReceived)


def test_writesAndClosesOnlyThroughTheOverriddenMethods():
    """
    The engine writes to its transport in sendData and in _send (the queue
    of the sync/chopsize modes, which ratchetpy's sendData never fills), and
    closes it only in _closeConnection.
    """
    protocolSource = inspect.getsource(__import__("autobahn.websocket.protocol", fromlist=["x"]))
    assert protocolSource.count("self.transport.write(") == 2
    assert "def _send(self)" in protocolSource
    adapterSource = inspect.getsource(__import__("autobahn.twisted.websocket", fromlist=["x"]))
    assert adapterSource.count("self.transport.abortConnection()") == 1
    assert adapterSource.count("self.transport.loseConnection()") == 1


def test_stateAndSubprotocolAttributes():
    """
    The engine's connection state and agreed subprotocol, as read by
    ratchetpy, are set on every protocol once connected.
    """
    assert WebSocketProtocol.STATE_OPEN == _autobahn.STATE_OPEN
    # A broadcast frame goes out as PreparedMessage framed it, to connections
    # whose _perMessageCompress is None (no permessage-deflate agreed).
    assert PreparedMessage(b"hi", False, False, False).payloadHybi == b"\x81\x02hi"
    assert "self._perMessageCompress = None" in inspect.getsource(WebSocketProtocol)
    engine = __import__("autobahn.websocket.protocol", fromlist=["x"])
    assert "self.websocket_protocol_in_use = " in inspect.getsource(engine.WebSocketServerProtocol)
    assert "_perMessageCompress" in inspect.getsource(WebSocketProtocol.sendPreparedMessage)


def test_theFactoryTakesAReactorKeyword():
    """
    Autobahn's Twisted factory takes C{reactor=}, and without one imports the
    global reactor; ratchetpy always passes one.
    """
    source = inspect.getsource(WebSocketServerFactory.__init__)
    assert 'kwargs.pop("reactor", None)' in source
    factory = _autobahn.EngineFactory()
    assert factory.reactor is not None


def test_theLeanPathsViewOfTheEngine():
    """
    What the lean path relies on (the read loop it stands in for one step
    of, the state it checks, the bookkeeping it repeats), as the installed
    engine has it.
    """
    engine = __import__("autobahn.websocket.protocol", fromlist=["x"])
    consume = inspect.getsource(WebSocketProtocol.consumeData)
    # consumeData runs processData until it says stop or the connection closed.
    assert "while self.processData() and self.state != WebSocketProtocol.STATE_CLOSED:" in consume
    received = inspect.getsource(WebSocketProtocol._dataReceived)
    assert "self.trafficStats.incomingOctetsWireLevel += len(data)" in received
    assert "self.data += data" in received and "self.consumeData()" in received
    assert list(inspect.signature(WebSocketProtocol.processData).parameters) == ["self"]
    # The checks processData makes at a frame's start, the plain frame passing all of them.
    process = inspect.getsource(WebSocketProtocol.processData)
    for check in (
        "if self.current_frame is None:",
        "if frame_rsv != 0:",
        "and self.requireMaskedClientFrames",
        "if frame_opcode not in [0, 1, 2]:",
        "if not self.inside_message and frame_opcode == 0:",
        "if frame_payload_len < 126:",
        "if frame_payload_len > 0x7FFFFFFFFFFFFFFF:",
        "if frame_payload_len < 65536:",
        "self.onFrameBegin()",
    ):
        assert check in process, check
    # What a final data frame of an open connection costs in statistics and keepalive.
    frameData = inspect.getsource(WebSocketProtocol.onFrameData)
    assert "self.trafficStats.incomingOctetsWebSocketLevel += compressedLen" in frameData
    assert "self.trafficStats.incomingOctetsAppLevel += uncompressedLen" in frameData
    frameEnd = inspect.getsource(WebSocketProtocol.onFrameEnd)
    assert "self.trafficStats.incomingWebSocketFrames += 1" in frameEnd
    assert "self.trafficStats.incomingWebSocketMessages += 1" in frameEnd
    assert "if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:" in frameEnd
    assert "self._cancelAutoPingTimeoutCall()" in frameEnd
    frameBegin = inspect.getsource(WebSocketProtocol.onMessageFrameBegin)
    assert "0 < self.maxMessagePayloadSize < self.message_data_total_length" in frameBegin
    assert "0 < self.maxFramePayloadSize < length" in frameBegin
    # A message goes to onMessage, and to 'message' observers (the lean path requires none).
    messageEnd = inspect.getsource(WebSocketProtocol.onMessageEnd)
    assert "self._onMessage(payload, self.message_is_binary)" in messageEnd
    assert 'self.fire("message"' in messageEnd
    assert "if self._listeners is None:" in inspect.getsource(engine.ObservableMixin.fire)
    for name in _autobahn.FRAME_CALLBACKS:
        assert callable(getattr(WebSocketServerProtocol, name)), name
    # What sendMessage and sendFrame count for one unfragmented frame.
    send = inspect.getsource(WebSocketProtocol.sendMessage)
    assert "self.trafficStats.outgoingWebSocketMessages += 1" in send
    assert "self.trafficStats.outgoingOctetsAppLevel += payload_len" in send
    assert "self.trafficStats.outgoingOctetsWebSocketLevel += payload_len" in send
    assert "if 0 < self.maxMessagePayloadSize < payload_len:" in send
    assert "self.trafficStats.outgoingWebSocketFrames += 1" in inspect.getsource(WebSocketProtocol.sendFrame)
    # The options the lean path reads.
    for name in (
        "logFrames",
        "logOctets",
        "trackTimings",
        "applyMask",
        "requireMaskedClientFrames",
        "utf8validateIncoming",
        "autoFragmentSize",
        "maskServerFrames",
        "maxFramePayloadSize",
        "maxMessagePayloadSize",
        "autoPingRestartOnAnyTraffic",
    ):
        assert name in WebSocketServerProtocol.CONFIG_ATTRS, name
    # The per-connection state it checks, made in _connectionMade and when
    # the handshake succeeds.
    made = inspect.getsource(WebSocketProtocol._connectionMade)
    for name in ("self.failedByMe = False", "self.trackedTimings = None", "self.autoPingTimeoutCall = None"):
        assert name in made, name
    opened = inspect.getsource(engine.WebSocketServerProtocol.succeedHandshake)
    assert "self.inside_message = False" in opened and "self.current_frame = None" in opened
