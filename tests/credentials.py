"""
The credentials the tests use (tokens, tickets, session cookies, API keys,
publish secrets), and the check, at the end of the run, that none of them
reached a log line: of this process (every event any test logged) or of a
twistd the tests ran.
"""

from __future__ import annotations

from typing import Any

#: Every credential a test used, by L{remember}.
USED: set[str] = set()
#: The text of every log event of the run (with tracebacks).
LOGGED: list[str] = []
#: Every twistd subprocess of the run (L{tests.helpers.Twistd}).
SERVERS: list[Any] = []

#: Shorter values are not credentials worth the name (and would match by chance).
MIN_LENGTH = 12


def remember(credential: str | bytes) -> str | bytes:
    """
    Note that a test used C{credential}; return it.
    """
    text = credential.decode("utf-8", "replace") if isinstance(credential, bytes) else credential
    if len(text) >= MIN_LENGTH:
        USED.add(text)
    return credential


def observe(event: dict[str, Any]) -> None:
    """
    A log observer that keeps the text of C{event}.
    """
    from twisted.logger import formatEvent

    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        text += "\n" + failure.getTraceback()
    LOGGED.append(text)


def leaks() -> list[str]:
    """
    A description of each credential found in a log, one per place.
    """
    found = []
    places = [("this process's log", "\n".join(LOGGED))]
    places += [(" ".join(server.argv[4:7]) + " ...", server.output) for server in SERVERS]
    for where, text in places:
        for credential in USED:
            if credential in text:
                line = next(line for line in text.splitlines() if credential in line)
                found.append(f"{credential[:6]}... in {where}: {line[:200]}")
    return found
