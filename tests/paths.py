"""
End-to-end WebSocket tests on both of the engine's paths: every test of a
module that imports L{clientOffers} and L{pytest_generate_tests} from here
and uses the C{listen} fixture runs twice, with its websockets clients
offering permessage-deflate (agreed by default: every frame goes through
Autobahn's engine) and offering nothing (plain frames take the lean path of
L{ratchetpy.websocket._autobahn}).

A module lists the tests that are about compression itself, and run only
with it, in C{DEFLATE_ONLY}.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from websockets.sync.client import connect

import tests.helpers

PATHS = ["deflate", "plain"]


@pytest.fixture(autouse=True)
def clientOffers(request: Any, monkeypatch: Any) -> str:
    """
    What the test's websockets clients offer: C{"deflate"} (their default)
    or C{"plain"} (C{compression=None} unless the test says otherwise).
    """
    offers = getattr(request, "param", "deflate")
    if offers == "plain":
        plain = functools.partial(connect, compression=None)
        monkeypatch.setattr(request.module, "connect", plain, raising=False)
        monkeypatch.setattr(tests.helpers, "connect", plain)
    return offers


def pytest_generate_tests(metafunc: Any) -> None:
    if "listen" not in metafunc.fixturenames:
        return
    if metafunc.function.__name__ in getattr(metafunc.module, "DEFLATE_ONLY", ()):
        return
    metafunc.parametrize("clientOffers", PATHS, indirect=True)
