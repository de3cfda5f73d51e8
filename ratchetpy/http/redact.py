# -*- test-case-name: tests.auth.test_jwt -*-
"""
Keeping credentials that travel in requests out of log lines: query
parameters that carry tokens, and bearer subprotocols.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

#: What every bearer-token subprotocol starts with (Phoenix's
#: C{base64url.bearer.phx.}, Kubernetes' C{base64url.bearer.authorization.k8s.io.}):
#: never agreed as a connection's subprotocol, never logged.
BEARER_SUBPROTOCOL_PREFIX = "base64url.bearer."

#: Query parameters whose values are redacted from every log line: the usual
#: names of tokens, and the C{queryParameter} of every L{ratchetpy.auth.JWTAuth}.
SENSITIVE_QUERY_PARAMETERS: set[str] = {"token", "access_token", "jwt", "ticket"}

REDACTED = "[redacted]"


def isCredentialSubprotocol(name: str) -> bool:
    """
    Whether the offered subprotocol C{name} carries a credential.
    """
    return name.startswith(BEARER_SUBPROTOCOL_PREFIX)


def redactQuery(query: str) -> str:
    """
    C{query} (without its C{"?"}) with the value of every parameter of
    L{SENSITIVE_QUERY_PARAMETERS} replaced by C{[redacted]}.
    """
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        try:
            decoded = parse_qsl(name + "=", keep_blank_values=True)[0][0] if name else name
        except (IndexError, ValueError):
            decoded = name
        if equals and decoded in SENSITIVE_QUERY_PARAMETERS:
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "&".join(parts)


def redactTarget(target: str) -> str:
    """
    A request target (C{"/chat?token=..."}) as it may be logged: see
    L{redactQuery}.
    """
    path, question, query = target.partition("?")
    if not question:
        return target
    return f"{path}?{redactQuery(query)}"


def redactSubprotocols(offered: list[str]) -> list[str]:
    """
    The offered subprotocols as they may be logged: bearer ones left out.
    """
    return [name for name in offered if not isCredentialSubprotocol(name)]


__all__ = [
    "BEARER_SUBPROTOCOL_PREFIX",
    "SENSITIVE_QUERY_PARAMETERS",
    "isCredentialSubprotocol",
    "redactQuery",
    "redactTarget",
    "redactSubprotocols",
]
