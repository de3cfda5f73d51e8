"""
The authentication tests use the pub/sub tests' started Redis brokers (tickets in Redis).
"""

from tests.pubsub.conftest import brokers  # noqa: F401 - a fixture
