"""
WAMP components the twistd tests serve (importable as tests.wamp.apps:NAME).
"""

from __future__ import annotations

import os

from ratchetpy.wamp import WampComponent, procedure


class Service(WampComponent):
    """
    A procedure that names the process it runs in.
    """

    @procedure("com.service.pid")
    def pid(self) -> int:
        return os.getpid()
