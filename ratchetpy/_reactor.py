"""
The one place a library module finds the installed reactor, for the top of a
stack that was given none (L{ratchetpy.IoServer}, and through it every layer
below, which take the reactor from their connections).

Looked up when first needed, never at import or construction, so that a
program can still install another reactor (C{asyncioreactor.install()})
after building its stack.
"""

from __future__ import annotations

from typing import Any


def installedReactor() -> Any:
    """
    The reactor Twisted has installed (installing the default one if none
    is yet).
    """
    from twisted.internet import reactor

    return reactor
