"""
Methods that look like hooks but are not: one warning per class at start-up, under twistd and from Python.
"""

from __future__ import annotations

import pytest

from ratchetpy import HttpServer, IoServer, IpBlackList, MessageComponent, WsServer
from ratchetpy.hooknames import checkHookNames, meantHook


@pytest.mark.parametrize(
    "name, meant",
    [
        ("on_message", "onMessage"), ("onmessage", "onMessage"), ("onMesage", "onMessage"), ("on_open", "onOpen"),
        ("onopen", "onOpen"), ("onClsoe", "onClose"), ("on_error", "onError"), ("get_sub_protocols", "getSubProtocols"),
        ("onMessage", None), ("onConnect", None), ("online", None), ("broadcast", None), ("onMessageSent", None),
    ],
)
def test_meantHook(name, meant):
    """
    Other case, underscores and one-letter typos of a hook are caught; real hooks and other names are not.
    """
    assert meantHook(name) == meant


def test_oneWarningPerClass(logged):
    """
    Each near-hook of a component is one warning naming the method and the hook, once however many servers serve
    the class; decorated components are looked into; a component without near-hooks gets none.
    """

    class Sloppy(MessageComponent):
        def on_message(self, conn, msg):
            pass

        def onClsoe(self, conn):
            pass

    class Fine(MessageComponent):
        def onMessage(self, conn, msg):
            pass

        def online(self):
            pass

    HttpServer(WsServer(Sloppy()))
    WsServer(Sloppy())
    IoServer(IpBlackList(Sloppy()))
    IoServer(HttpServer(WsServer(Fine())))
    warnings = [line for line in logged() if "is not a hook" in line]
    assert warnings == [
        "Sloppy.onClsoe is not a hook and is never called: did you mean onClose?",
        "Sloppy.on_message is not a hook and is never called: did you mean onMessage?",
    ]
    assert checkHookNames(Fine()) == []


def test_twistdWarns(twistd, tmp_path):
    """
    Under twistd, the warning is in the start-up log, and the server still serves.
    """
    (tmp_path / "sloppy.py").write_text(
        "from ratchetpy import MessageComponent\n\n\nclass Sloppy(MessageComponent):\n"
        "    def onmessage(self, conn, msg):\n        conn.send(msg)\n"
    )
    from tests.test_tap import LOOPBACK

    process = twistd("--component", "sloppy:Sloppy", "--port", LOOPBACK, cwd=tmp_path)
    process.readUntil(r"Sloppy\.onmessage is not a hook and is never called: did you mean onMessage\?")
    process.waitForPort()
