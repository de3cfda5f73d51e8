"""
Fixtures of the pub/sub tests.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from ratchetpy.pubsub.redis import RedisBroker


@pytest.fixture
def brokers(redisServer):
    """
    C{brokers()} makes a started RedisBroker on the test's Redis, connected
    (one per server, as one per process); all are stopped after the test.
    """
    made: list[RedisBroker] = []

    def make(**options: Any) -> RedisBroker:
        broker = RedisBroker(redisServer.url, **options)
        broker.start()
        made.append(broker)
        pytest_twisted.blockon(broker.whenConnected())
        return broker

    yield make
    for broker in made:
        pytest_twisted.blockon(broker.stop())
