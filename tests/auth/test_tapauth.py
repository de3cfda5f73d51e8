"""
twistd's --auth-jwt-* options (the tutorial that runs them is tested in
tests/auth/test_identitydoc.py).
"""

from __future__ import annotations

import pytest
from twisted.python import usage

from examples.named_chat import NamedChat
from ratchetpy import OriginCheck
from ratchetpy.auth import Authenticate, JWTAuth
from ratchetpy.tap import Options, buildServer


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
    --auth-jwt-key-file with --auth-jwt-algorithm builds HttpServer(OriginCheck(Authenticate(WsServer(...),
    JWTAuth))) (twistd's default origin check in front), with the audience and issuer given, and the key without the
    file's newline.
    """
    options = parsed(
        "--auth-jwt-key-file", str(keyFile), "--auth-jwt-algorithm", "HS256",
        "--auth-jwt-audience", "chat", "--auth-jwt-issuer", "https://id.example",
    )
    origin = buildServer(NamedChat(), options).component.component
    assert isinstance(origin, OriginCheck)
    layer = origin.component
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


def test_ticketsFromTwistd(twistd, redisServer, keyFile):
    """
    --auth-tickets with a Redis broker accepts a ticket minted by a web application with redis-py, once, after the
    JWT authenticator; the ticket is not in the server's output.
    """
    import redis

    from ratchetpy.auth import mintTicket
    from tests.auth.support import refusal, whoAmI
    from tests.credentials import remember
    from tests.helpers import inThread
    from tests.test_tap import LOOPBACK

    process = twistd(
        "--component", "tests.auth.support:WhoAmI", "--port", LOOPBACK, "--broker", redisServer.url, "--auth-tickets",
        "--auth-jwt-key-file", str(keyFile), "--auth-jwt-algorithm", "HS256",
    )
    url = f"ws://127.0.0.1:{process.waitForPort()}/"
    process.readUntil("connected to Redis")
    ticket = remember(mintTicket(redis.Redis.from_url(redisServer.url), "8", {"name": "Di"}))
    assert inThread(whoAmI, f"{url}?ticket={ticket}")[0] == {"id": "8", "info": {"name": "Di"}, "exp": None}
    status, headers, _ = inThread(refusal, f"{url}?ticket={ticket}")
    assert (status, headers["www-authenticate"]) == (401, 'Ticket realm="ratchetpy"')
    process.stop()
    assert ticket not in process.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--auth-tickets"], "needs --broker redis://"),
        (["--auth-tickets", "--raw", "--broker", "redis://127.0.0.1"], "cannot be combined with --raw"),
    ],
)
def test_ticketUsageErrors(args, message):
    """
    --auth-tickets needs Redis and HTTP.
    """
    with pytest.raises(usage.UsageError, match=message):
        parsed(*args)
