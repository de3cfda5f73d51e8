"""
twistd's --auth-jwt-* options, and docs/identity.md's tutorial as it runs:
a key file, tokens from examples/mint_token.py, the named chat.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from twisted.python import usage
from websockets.sync.client import connect

from examples.named_chat import NamedChat
from ratchetpy.auth import Authenticate, JWTAuth
from ratchetpy.tap import Options, buildServer
from tests.auth.support import bearer, refusal
from tests.helpers import ROOT, inThread
from tests.test_tap import LOOPBACK


def parsed(*args: str) -> Options:
    options = Options()
    options.parseOptions(["--component", "examples.named_chat:NamedChat", *args])
    return options


@pytest.fixture
def keyFile(tmp_path):
    path = tmp_path / "jwt.key"
    path.write_text("a-secret-of-at-least-thirty-two-bytes!!\n")
    return path


def test_keyFilePutsJWTAuthInFront(keyFile):
    """
    --auth-jwt-key-file with --auth-jwt-algorithm builds HttpServer(Authenticate(WsServer(...), JWTAuth)), with the
    audience and issuer given, and the key without the file's newline.
    """
    options = parsed(
        "--auth-jwt-key-file", str(keyFile), "--auth-jwt-algorithm", "HS256",
        "--auth-jwt-audience", "chat", "--auth-jwt-issuer", "https://id.example",
    )
    layer = buildServer(NamedChat(), options).component.component
    assert isinstance(layer, Authenticate)
    (jwtAuth,) = layer.authenticators
    assert isinstance(jwtAuth, JWTAuth)
    assert (jwtAuth.algorithms, jwtAuth.audience, jwtAuth.issuer) == (["HS256"], "chat", "https://id.example")
    assert jwtAuth._key == b"a-secret-of-at-least-thirty-two-bytes!!"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--auth-jwt-key-file", "KEY"], "needs --auth-jwt-algorithm"),
        (["--auth-jwt-algorithm", "HS256"], "needs --auth-jwt-key-file"),
        (["--auth-jwt-key-file", "KEY", "--auth-jwt-algorithm", "HS999"], "unknown JWT algorithm"),
        (["--auth-jwt-key-file", "/nonexistent/key", "--auth-jwt-algorithm", "HS256"], "cannot read"),
        (["--auth-jwt-key-file", "KEY", "--auth-jwt-algorithm", "HS256", "--raw"], "cannot be combined with --raw"),
    ],
)
def test_usageErrors(keyFile, args, message):
    """
    Options that do not go together: one line saying what is missing.
    """
    args = [str(keyFile) if arg == "KEY" else arg for arg in args]
    with pytest.raises(usage.UsageError, match=message):
        parsed(*args)


def mintToken(keyFile, sub, name):
    result = subprocess.run(
        [sys.executable, "examples/mint_token.py", "--key-file", str(keyFile), "--sub", sub, "--name", name],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
    )
    return result.stdout.strip()


def test_tutorialNamedChat(twistd, keyFile):
    """
    The tutorial: twistd with the key file serves the named chat; Ann and Bob connect with minted tokens and see
    each other's names; a client without a token gets 401.
    """
    process = twistd(
        "--component", "examples.named_chat:NamedChat", "--port", LOOPBACK,
        "--auth-jwt-key-file", str(keyFile), "--auth-jwt-algorithm", "HS256",
    )
    port = process.waitForPort()
    url = f"ws://127.0.0.1:{port}/"
    ann, bob = mintToken(keyFile, "1", "Ann"), mintToken(keyFile, "2", "Bob")

    def chat():
        with connect(url, proxy=None, **bearer(ann)) as alice:
            with connect(url, proxy=None, **bearer(bob)) as bobby:
                assert alice.recv(timeout=10) == "* Bob joined"
                bobby.send("hi")
                return alice.recv(timeout=10)

    assert inThread(chat) == "Bob: hi"
    status, headers, _ = inThread(refusal, url)
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="ratchetpy"')
    process.stop()
    assert ann not in process.output and bob not in process.output
