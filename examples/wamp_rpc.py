"""
Remote procedure calls both ways over WAMP v2: a browser calls procedures that
Python code registered, and Python calls a procedure that the browser
registered (with autobahn-js).

    twistd -n ratchetpy --component examples.wamp_rpc:Rpc
    then open http://127.0.0.1:8080/

The page registers com.example.page.<its session id>.describe, then calls
com.example.add and com.example.hello; to answer hello, Python calls the page's
procedure and puts what it said into the greeting.
"""

from __future__ import annotations

from typing import Any

from examples.wamp_pubsub import PAGES
from ratchetpy import StaticFiles
from ratchetpy.wamp import ApplicationError, WampComponent, procedure


class Rpc(WampComponent):
    # A browser opening the server's address gets the page.
    httpComponent = StaticFiles(PAGES, index="rpc.html")

    @procedure("com.example.add")
    def add(self, a: float, b: float) -> float:
        if not all(isinstance(x, (int, float)) for x in (a, b)):
            raise ApplicationError("com.example.error.not_a_number", "add takes two numbers")
        return a + b

    @procedure("com.example.hello")
    async def hello(self, name: str, session: int) -> str:
        # A procedure the browser registered, called from Python: a Deferred of its result.
        page: Any = await self.wamp.call(f"com.example.page.{int(session)}.describe", options={"timeout": 5000})
        return f"Hello {name}: your page says {page!r}"
