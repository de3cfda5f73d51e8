"""
JWTAuth over loopback: tokens minted by PyJWT in an Authorization header, a
bearer subprotocol, or (opt-in) a query parameter; what refused clients get;
and that no token ever reaches the log.
"""

from __future__ import annotations

import pytest

from ratchetpy import HttpServer, WsServer
from ratchetpy.auth import Authenticate, JWTAuth, encodeBearerSubprotocol
from ratchetpy.http.redact import redactTarget
from ratchetpy.http.request import Headers, HttpRequest
from tests.auth.support import KEY, OTHER_KEY, WhoAmI, bearer, mint, refusal, serveAuthenticated, whoAmI
from tests.helpers import inThread


def jwtAuth(**options):
    return JWTAuth(KEY, algorithms=["HS256"], **options)


def test_bearerHeaderSetsTheUserBeforeOnOpen(listen):
    """
    A good token in Authorization: Bearer opens the connection with conn.user from its claims: sub, info, exp.
    """
    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, jwtAuth())
    token = mint("42", info={"name": "Ann"}, channels=["news"])
    user, _ = inThread(whoAmI, url, **bearer(token))
    assert user["id"] == "42"
    assert user["info"] == {"name": "Ann"}
    assert isinstance(user["exp"], float) and user["exp"] > 0
    conn = component.events[0][1]
    assert conn.user is conn.io.user  # every view of the connection sees the one user
    assert conn.user.claims["channels"] == ["news"]


def test_bearerSubprotocolIsNeverAgreed(listen):
    """
    A browser's way: the token as a base64url.bearer. subprotocol beside the real one; "chat" is agreed, the token
    subprotocol never, and a client offering only the token gets no subprotocol at all.
    """
    _, url = serveAuthenticated(listen, WhoAmI(subProtocols=("chat",)), jwtAuth())
    carrier = encodeBearerSubprotocol(mint("7"))
    user, agreed = inThread(whoAmI, url, subprotocols=[carrier, "chat"])
    assert (user["id"], agreed) == ("7", "chat")
    user, agreed = inThread(whoAmI, url, subprotocols=[carrier])
    assert (user["id"], agreed) == ("7", None)


def test_phoenixPrefix(listen):
    """
    A prefix of one's own (Phoenix's base64url.bearer.phx.) carries the token too.
    """
    prefix = "base64url.bearer.phx."
    _, url = serveAuthenticated(listen, WhoAmI(subProtocols=("phoenix",)), jwtAuth(subprotocolPrefix=prefix))
    user, agreed = inThread(whoAmI, url, subprotocols=["phoenix", encodeBearerSubprotocol(mint("9"), prefix)])
    assert (user["id"], agreed) == ("9", "phoenix")


@pytest.mark.parametrize(
    "token, reason",
    [
        (mint("42", ttl=-60), "token expired"),
        (mint("42", key=OTHER_KEY), "bad token signature"),
        (mint(None), "lacks the 'sub' claim"),
        ("not.a.token", "malformed token"),
        (mint("42", aud="another-service"), "token for another audience"),
    ],
    ids=["expired", "forged", "no-sub", "malformed", "unexpected-aud"],
)
def test_badTokensGet401WithAChallenge(listen, token, reason):
    """
    A token that does not verify gets 401 with WWW-Authenticate: Bearer and the reason, before any upgrade; the
    component never hears of the connection.
    """
    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, jwtAuth())
    status, headers, body = inThread(refusal, url, **bearer(token))
    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="ratchetpy"'
    assert reason in body
    assert component.events == []


def test_noCredentials401(listen):
    """
    No token at all: 401 "no credentials" with the challenge.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), jwtAuth())
    status, headers, body = inThread(refusal, url)
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="ratchetpy"')
    assert "no credentials" in body


def test_audienceAndIssuer(listen):
    """
    With audience and issuer configured, only tokens naming both pass.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), jwtAuth(audience="chat", issuer="https://id.example"))
    good = mint("1", aud="chat", iss="https://id.example")
    assert inThread(whoAmI, url, **bearer(good))[0]["id"] == "1"
    status, _, body = inThread(refusal, url, **bearer(mint("1", aud="billing", iss="https://id.example")))
    assert (status, "another audience" in body) == (401, True)
    status, _, body = inThread(refusal, url, **bearer(mint("1", aud="chat", iss="https://evil.example")))
    assert (status, "another issuer" in body) == (401, True)


def test_queryParameterOnlyIfAsked(listen):
    """
    A token in the query is ignored unless queryParameter names it.
    """
    token = mint("5")
    _, plain = serveAuthenticated(listen, WhoAmI(), jwtAuth())
    assert inThread(refusal, f"{plain}?access={token}")[0] == 401
    _, url = serveAuthenticated(listen, WhoAmI(), jwtAuth(queryParameter="access"))
    assert inThread(whoAmI, f"{url}?access={token}")[0]["id"] == "5"


def test_tokensNeverReachTheLog(listen, logged):
    """
    Refused and accepted tokens, in the header, the subprotocol and the query: none of them (nor their base64url
    subprotocol form) is in any log line, though the refusals are logged; a strict subprotocol refusal lists the
    offered subprotocols without the bearer one.
    """
    component = WhoAmI(subProtocols=("chat",))
    _, url = serveAuthenticated(listen, component, jwtAuth(queryParameter="access"))
    forged = mint("42", key=OTHER_KEY)
    good = mint("43")
    carrier = encodeBearerSubprotocol(forged)
    inThread(refusal, url, **bearer(forged))
    inThread(refusal, url, subprotocols=[carrier, "chat"])
    inThread(refusal, f"{url}?access={forged}")
    inThread(whoAmI, url, subprotocols=[encodeBearerSubprotocol(good), "chat"])
    # A WsServer that refuses unknown subprotocols logs the ones offered.
    server = listen(HttpServer(Authenticate(WsServer(WhoAmI(), strictSubProtocols=True), jwtAuth())))
    status, _, _ = inThread(
        refusal, f"ws://127.0.0.1:{server.portNumber}/", subprotocols=[encodeBearerSubprotocol(good), "mqtt"]
    )
    assert status == 400
    text = "\n".join(logged())
    assert text.count("answered 401") == 3, text
    assert "subprotocols mqtt" in text, text
    for secret in (forged, good, carrier, encodeBearerSubprotocol(good), forged.split(".")[2], good.split(".")[2]):
        assert secret not in text


def test_requestsInLogsHideTokenParameters():
    """
    A request's repr and redactTarget hide the values of token query parameters, and of a JWTAuth's queryParameter.
    """
    jwtAuth(queryParameter="auth_jwt")
    request = HttpRequest("GET", "/chat?room=1&auth_jwt=SECRET&token=SECRET2", "1.1", Headers())
    assert "SECRET" not in repr(request)
    assert "room=1" in repr(request)
    assert redactTarget("/chat?access_token=SECRET") == "/chat?access_token=[redacted]"


def test_algorithmsMustBeNamed():
    """
    No algorithms: a TypeError that says what to pass; 'none' and unknown names are refused; a single name is fine.
    """
    with pytest.raises(TypeError, match=r"algorithms=\['HS256'\]"):
        JWTAuth(KEY)
    with pytest.raises(ValueError, match="none"):
        JWTAuth(KEY, algorithms=["none"])
    with pytest.raises(ValueError, match="HS999"):
        JWTAuth(KEY, algorithms=["HS999"])
    with pytest.raises(ValueError, match="base64url.bearer."):
        JWTAuth(KEY, algorithms=["HS256"], subprotocolPrefix="token.")
    assert JWTAuth(KEY, algorithms="HS256").algorithms == ["HS256"]
