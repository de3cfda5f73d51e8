"""
Ratchet's push-integration tutorial over WAMP v2: a web application (or any
script) publishes a blog post through ratchetpy.push, and every browser
subscribed to the post's category with autobahn-js shows it.

    twistd -n ratchetpy --component examples.wamp_push:Pusher --broker redis://127.0.0.1:6379/0
    then open http://127.0.0.1:8080/ (category "blog"; http://127.0.0.1:8080/#kittens follows "kittens")
    and publish a post from a script or a web application:
    python examples/post_blog.py "Hello, world" --url redis://127.0.0.1:6379/0 --channel wamp-push

Ratchet's version receives the posts over ZeroMQ; here they come through the
broker every ratchetpy server shares (--broker), so any number of servers can
run this example and every browser gets the post once.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.logger import Logger

from examples.wamp_pubsub import PAGES
from ratchetpy import StaticFiles
from ratchetpy.interfaces import IWampConnection
from ratchetpy.wamp import Topic, WampComponent

#: The ratchetpy channel (ratchetpy.push, examples/post_blog.py --channel) the posts arrive on.
CHANNEL = "wamp-push"
#: The topic of a post without a "category".
CATEGORY = "blog"


class Pusher(WampComponent):
    log = Logger()
    # A browser opening the server's address gets the page.
    httpComponent = StaticFiles(PAGES, index="push.html")

    def __init__(self) -> None:
        # The topics browsers subscribed to, by name (Ratchet's $subscribedTopics).
        self.subscribedTopics: dict[str, Topic] = {}
        self.liveTopics = 64
        self.listener: Any = None

    def onOpen(self, conn: IWampConnection) -> None:
        # Posts pushed to CHANNEL (ratchetpy.push.publish) through the servers' broker, from the first reader on:
        # before that, nobody could have subscribed to them (Ratchet's ZeroMQ pull socket).
        if self.listener is None:
            self.listener = self.wamp.listen(CHANNEL, self.onBlogEntry)

    def onSubscribe(self, conn: IWampConnection, topic: Topic) -> None:
        self.subscribedTopics[str(topic)] = topic
        # A topic whose last subscriber left is gone (TopicManager's semantics); sessions that close do not
        # unsubscribe first, so forget such topics now and then: the table stays about as big as the live ones.
        if len(self.subscribedTopics) > 2 * self.liveTopics:
            self.subscribedTopics = {name: t for name, t in self.subscribedTopics.items() if len(t)}
            self.liveTopics = max(64, len(self.subscribedTopics))

    def onUnSubscribe(self, conn: IWampConnection, topic: Topic) -> None:
        if len(topic) == 0:
            self.subscribedTopics.pop(str(topic), None)

    def onBlogEntry(self, entry: str | bytes) -> None:
        try:
            entryData = json.loads(entry)
        except ValueError:
            self.log.warn("A post that is not JSON was pushed to {channel}: ignored", channel=CHANNEL)
            return
        if not isinstance(entryData, dict):
            return
        topic = self.subscribedTopics.get(str(entryData.get("category") or CATEGORY))
        # If nobody subscribed to this category, there is nobody to tell.
        if topic is None or len(topic) == 0:
            return
        topic.broadcast(entryData)

    def onCall(self, conn: IWampConnection, id: int, topic: str, params: list[Any], **kwargs: Any) -> None:
        # Readers only read: Ratchet's tutorial turns calls down and closes the connection.
        conn.callError(id, "com.example.error.not_allowed", "You are not allowed to make calls")
        conn.close()

    def onPublish(
        self, conn: IWampConnection, topic: Topic, event: Any, exclude: list[int], eligible: list[int] | None,
        **kwargs: Any,
    ) -> None:
        # Posts come from the web application, not from browsers (the router has delivered this one already).
        conn.close()
