# -*- test-case-name: tests.wamp.test_uri -*-
"""
WAMP URIs: validity (the spec's loose and strict rules) and the matching
policies of subscriptions and registrations (exact, prefix, wildcard).
"""

from __future__ import annotations

import re

__all__ = ["MATCHES", "checkUri", "wildcardMatches", "isReserved"]

#: The match policies, the default first.
MATCHES = ("exact", "prefix", "wildcard")

_LOOSE = re.compile(r"^([^\s\.#]+\.)*([^\s\.#]+)$")
_STRICT = re.compile(r"^([\da-z_]+\.)*([\da-z_]+)$")
_LOOSE_EMPTY = re.compile(r"^(([^\s\.#]+\.)|\.)*([^\s\.#]+)?$")
_STRICT_EMPTY = re.compile(r"^(([\da-z_]+\.)|\.)*([\da-z_]+)?$")
_LOOSE_LAST_EMPTY = re.compile(r"^([^\s\.#]+\.)*([^\s\.#]*)$")
_STRICT_LAST_EMPTY = re.compile(r"^([\da-z_]+\.)*([\da-z_]*)$")

#: The longest URI accepted, in characters.
MAX_URI_LENGTH = 512


def checkUri(uri: object, match: str = "exact", strict: bool = False) -> str | None:
    """
    Why C{uri} is not a valid URI for the C{match} policy (a prefix may end
    with a dot, a wildcard pattern may have empty components), or C{None} if
    it is valid. C{strict} applies the spec's SHOULD rule (lower-case
    letters, digits and C{_} only).
    """
    if not isinstance(uri, str):
        return f"a URI is a string, not {type(uri).__name__}"
    if len(uri) > MAX_URI_LENGTH:
        return f"URI is {len(uri)} characters long; the longest allowed is {MAX_URI_LENGTH}"
    if match == "prefix":
        pattern = _STRICT_LAST_EMPTY if strict else _LOOSE_LAST_EMPTY
    elif match == "wildcard":
        pattern = _STRICT_EMPTY if strict else _LOOSE_EMPTY
    else:
        pattern = _STRICT if strict else _LOOSE
    if not pattern.match(uri):
        return f"invalid URI {uri[:80]!r}" + (" (strict: lower-case letters, digits and _ only)" if strict else "")
    return None


def isReserved(uri: str) -> bool:
    """
    Whether C{uri} is in the C{wamp.} namespace, which the spec reserves for
    the router.
    """
    return uri.startswith("wamp.")


def wildcardMatches(pattern: tuple[str, ...], uri: str) -> bool:
    """
    Whether C{uri} matches the wildcard C{pattern} (split at dots): as many
    components, each equal where the pattern's is not empty.
    """
    parts = uri.split(".")
    if len(parts) != len(pattern):
        return False
    return all(not want or want == got for want, got in zip(pattern, parts, strict=True))
