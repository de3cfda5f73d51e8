# -*- test-case-name: tests.server.test_logs -*-
"""
Logging for scripts: C{IoServer.run()} and C{App.run()} log to standard
error when nothing has set logging up (twistd does; so may the application,
with Twisted's logger or the standard library's C{logging}).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    PredicateResult,
    formatEvent,
    globalLogBeginner,
    textFileLogObserver,
)
from zope.interface import provider

from .._twisted import loggingHasBegun

_LEVELS = {
    LogLevel.debug: logging.DEBUG,
    LogLevel.info: logging.INFO,
    LogLevel.warn: logging.WARNING,
    LogLevel.error: logging.ERROR,
    LogLevel.critical: logging.CRITICAL,
}


@provider(ILogObserver)
def toStandardLibrary(event: dict[str, Any]) -> None:
    """
    A log observer that hands C{event} to the standard library's logger
    named after its namespace (C{ratchetpy}, C{examples.chat.Chat}; Twisted's
    legacy C{log.msg} lines to C{twisted}), with its traceback if it has one.
    """
    namespace = event.get("log_namespace") or "twisted"
    logger = logging.getLogger("twisted" if namespace == "log_legacy" else namespace)
    level = _LEVELS.get(event.get("log_level", LogLevel.info), logging.INFO)
    if not logger.isEnabledFor(level):
        return
    failure = event.get("log_failure")
    excInfo = (failure.type, failure.value, failure.getTracebackObject()) if failure is not None else None
    logger.log(level, "%s", formatEvent(event), exc_info=excInfo)


def startLoggingUnlessConfigured(stream: Any = None) -> bool:
    """
    Begin Twisted's logging if nothing has: to the standard library's
    C{logging} if the application configured it (its root logger has
    handlers), else to C{stream} (standard error) as text, from C{info} up,
    except Twisted's own chatter ("IoServer starting on 8080", "Main loop
    terminated": its loggers and the legacy C{log.msg}) below C{warn}.

    @return: whether this began it.
    """
    if loggingHasBegun():
        return False
    if logging.getLogger().handlers:
        observers = [toStandardLibrary]
    else:
        levels = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
        for namespace in ("twisted", "log_legacy"):
            levels.setLogLevelForNamespace(namespace, LogLevel.warn)
        stream = sys.stderr if stream is None else stream
        observers = [withoutPortChatter(FilteringLogObserver(textFileLogObserver(stream), [levels]))]
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
    return True


#: What Twisted's ports log when they start and stop listening ("IoServer
#: starting on 8080", "(TCP Port 8080 Closed)"): ratchetpy's own listening
#: line says where, and better (the interface, TLS).
_PORT_CHATTER = re.compile(r"\A(?:\S+ starting on \S+|\((?:TCP |UNIX |SSL )?Port \S+ Closed\))\Z")


def isPortChatter(event: dict[str, Any]) -> bool:
    """
    Whether C{event} is one of Twisted's port lines (L{_PORT_CHATTER}).
    """
    if event.get("log_namespace") != "log_legacy":
        return False
    return bool(_PORT_CHATTER.match(formatEvent(event)))


def withoutPortChatter(observer: Any) -> Any:
    """
    C{observer}, not given Twisted's port lines.
    """

    @provider(ILogFilterPredicate)
    def predicate(event: dict[str, Any]) -> PredicateResult:
        # PredicateResult's constants are Any to mypy.
        result: PredicateResult = PredicateResult.no if isPortChatter(event) else PredicateResult.maybe
        return result

    return FilteringLogObserver(observer, [predicate])


# JSON logs, for log pipelines

#: Set in the environment of the workers of C{--workers}: their log lines
#: are JSON objects too, which the supervisor passes on with their worker.
JSON_ENVIRONMENT = "RATCHETPY_JSON_LOGS"

#: The fields every JSON line has, and the connection fields a line about a
#: connection has, in this order.
_CONNECTION_FIELDS = ("resourceId", "remoteAddress", "route")
_LEVEL_NAMES = {level: level.name for level in LogLevel.iterconstants()}


def connectionFields(conn: Any) -> dict[str, Any]:
    """
    The fields that say which connection a log line is about, for the
    JSON log (L{jsonLogObserver}; the text log shows what the format says):
    C{resourceId}, C{remoteAddress} (the client, as a trusted proxy named
    it) and C{route}, the path of the request the connection was opened
    with (without the query, which may carry tokens), where there is one.
    """
    fields: dict[str, Any] = {"resourceId": conn.resourceId, "remoteAddress": conn.remoteAddress}
    request = getattr(conn, "httpRequest", None)
    path = getattr(request, "path", None)
    if path is not None:
        fields["route"] = path
    return fields


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def eventAsJSONLine(event: dict[str, Any]) -> str | None:
    """
    C{event} as one line of JSON: C{time} (ISO 8601, UTC), C{level},
    C{namespace}, C{message} (the text the human log shows), the connection
    fields (L{connectionFields}) where the line is about one, C{traceback}
    where it has one, and the event's other plain fields (strings, numbers)
    under C{fields}. C{None} for an event with nothing to say.
    """
    message = formatEvent(event)
    failure = event.get("log_failure")
    if not message and failure is None:
        return None
    when = event.get("log_time") or time.time()
    level = event.get("log_level", LogLevel.info)
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds"),
        "level": _LEVEL_NAMES.get(level, str(level)),
        "namespace": event.get("log_namespace") or "",
        "message": message,
    }
    for name in _CONNECTION_FIELDS:
        if name in event and _plain(event[name]):
            record[name] = event[name]
    if "remoteAddress" not in record and isinstance(event.get("peer"), str):
        record["remoteAddress"] = event["peer"]
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    elif isinstance(event.get("traceback"), str):
        # Passed on from a worker's JSON line.
        record["traceback"] = event["traceback"]
    extra = {
        name: value
        for name, value in event.items()
        if not name.startswith("log_") and name not in record and name not in ("format", "message") and _plain(value)
    }
    if extra:
        record["fields"] = extra
    return json.dumps(record, ensure_ascii=False, default=str)


def jsonLogObserver(stream: Any = None) -> FileLogObserver:
    """
    A log observer that writes every event as one JSON object per line
    (L{eventAsJSONLine}) to C{stream} (standard output): for twistd, C{twistd
    --logger ratchetpy.server.logs.jsonLogObserver -n ratchetpy ...}.
    """
    if stream is None:
        stream = sys.stdout

    def line(event: dict[str, Any]) -> str | None:
        text = eventAsJSONLine(event)
        return None if text is None else text + "\n"

    return FileLogObserver(stream, line)
