"""
CallableAuth, and plain functions as authenticators: an API key compared in
constant time, async functions, and work sent to a thread.
"""

from __future__ import annotations

import hmac

from twisted.internet.threads import deferToThread

from ratchetpy.auth import CallableAuth, Unauthorized, User
from tests.auth.support import WhoAmI, refusal, serveAuthenticated, whoAmI
from tests.credentials import remember
from tests.helpers import inThread

API_KEY = remember(b"a-long-random-api-key-for-the-tests")


def apiKey(request):
    """
    The docs' example: an X-Api-Key header, compared with hmac.compare_digest.
    """
    given = request.headers.get("x-api-key")
    if given is None:
        return None
    if not hmac.compare_digest(given.encode(), API_KEY):
        raise Unauthorized("wrong API key")
    return User("billing-service", {"kind": "service"})


def test_apiKey(listen, logged):
    """
    The right key opens as the service; a wrong one gets 401 with the declared challenge; neither key is logged.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), CallableAuth(apiKey, challenge='ApiKey realm="internal"'))
    user, _ = inThread(whoAmI, url, additional_headers={"X-Api-Key": API_KEY.decode()})
    assert user == {"id": "billing-service", "info": {"kind": "service"}, "exp": None}
    status, headers, body = inThread(refusal, url, additional_headers={"X-Api-Key": "guess-123456"})
    assert (status, headers["www-authenticate"], "wrong API key" in body) == (401, 'ApiKey realm="internal"', True)
    text = "\n".join(logged())
    assert "wrong API key" in text
    assert API_KEY.decode() not in text and "guess-123456" not in text


def test_asyncAndThreadedFunctions(listen):
    """
    A function may be async def, or hand blocking work to a thread (deferToThread) and return its Deferred.
    """
    async def fromService(request):
        return User("async-" + request.remoteAddress)

    def blockingLookUp(name):
        return User(name.upper())

    def threaded(request):
        name = request.queryParameters.get("name")
        return None if name is None else deferToThread(blockingLookUp, name)

    _, url = serveAuthenticated(listen, WhoAmI(), threaded, CallableAuth(fromService))
    assert inThread(whoAmI, f"{url}?name=zoe")[0]["id"] == "ZOE"
    assert inThread(whoAmI, url)[0]["id"] == "async-127.0.0.1"


def test_notAUser(listen):
    """
    A function that returns something other than a User or None is a bug: 500.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), lambda request: "42")
    assert inThread(refusal, url)[0] == 500
