"""
Components for twistd (C{--component tests.http.countingpages:CountingChat})
that log the connection of every plain HTTP request, so that a test can see
how many TCP connections a browser used: the chat example, and the files of
the directory C{$COUNTED_PAGES}.
"""

import os

from twisted.logger import Logger

from examples.chat import Chat
from ratchetpy import ComponentDecorator, StaticFiles

log = Logger(namespace="countingpages")


class CountingPages(ComponentDecorator):
    """
    Logs C{http request PATH on connection ID} for each request it passes on.
    """

    def onOpen(self, conn, request):
        log.info("http request {path} on connection {id}", path=request.path, id=conn.resourceId)
        return super().onOpen(conn, request)


class CountingChat(Chat):
    httpComponent = CountingPages(Chat.httpComponent)


class CountingSite(Chat):
    def __init__(self):
        super().__init__()
        self.httpComponent = CountingPages(StaticFiles(os.environ["COUNTED_PAGES"]))
