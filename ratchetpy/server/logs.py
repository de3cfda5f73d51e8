# -*- test-case-name: tests.server.test_logs -*-
"""
Logging for scripts: C{IoServer.run()} and C{App.run()} log to standard
error when nothing has set logging up (twistd does; so may the application,
with Twisted's logger or the standard library's C{logging}).
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from twisted.logger import (
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
