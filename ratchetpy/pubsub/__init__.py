# -*- test-case-name: tests.pubsub.test_channels -*-
"""
Publish/subscribe channels across connections, processes and machines.

L{ratchetpy.Channels} is what components use; it talks to a broker
(L{ratchetpy.interfaces.IBroker}): L{local.LocalBroker} within one process
(the default) or L{redis.RedisBroker} between processes and machines.

The process default broker is what C{Channels()} uses. twistd's
C{--broker URL} sets it before the component is loaded::

    from ratchetpy.pubsub import setDefaultBroker
    setDefaultBroker("redis://127.0.0.1:6379/0")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..interfaces import IBroker


class BrokerUnavailable(Exception):
    """
    A publish failed: the broker is unreachable or did not answer in time.
    The message reached this process's own subscribers only.
    """


_default: IBroker | None = None
#: Brokers made from URLs (by L{brokerFor}), one per URL.
_byUrl: dict[str, IBroker] = {}


def brokerFor(url: str) -> IBroker:
    """
    The broker for C{url} (see L{ratchetpy.pubsub.url.parseBrokerUrl}), one
    per URL in a process: C{Channels("redis://...")} twice shares one
    connection. C{"memory://"} is this process's L{local.LocalBroker}.

    @raise ValueError: C{url} is not a broker URL.
    """
    from .url import parseBrokerUrl

    if url not in _byUrl:
        _byUrl[url] = parseBrokerUrl(url)
    return _byUrl[url]


def defaultBroker() -> IBroker:
    """
    The process default broker: what L{setDefaultBroker} set, else this
    process's L{local.LocalBroker}.
    """
    global _default
    if _default is None:
        _default = brokerFor("memory://")
    return _default


def setDefaultBroker(broker: IBroker | str) -> IBroker:
    """
    Make C{broker} (a broker, or a URL: C{memory://},
    C{redis://[:password@]host[:port][/db]}) the process default, for the
    L{ratchetpy.Channels} made from now on. It is not started or stopped
    here: twistd's C{--broker} and L{ratchetpy.App} do that; otherwise the
    first L{ratchetpy.Channels} using it starts it, and C{stop()} is yours
    to call.

    @return: the broker.
    @raise ValueError: C{broker} is a string that is not a broker URL.
    """
    global _default
    _default = brokerFor(broker) if isinstance(broker, str) else broker
    return _default
