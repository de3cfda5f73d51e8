# -*- test-case-name: tests.test_hooknames -*-
"""
Hooks that are almost hooks: C{on_message}, C{onmessage} or C{onMesage} on a
component are never called, and nothing would say so. One warning per class
at start-up names the method and the hook it probably meant.
"""

from __future__ import annotations

import difflib
from typing import Any

from twisted.logger import Logger

log = Logger(namespace="ratchetpy")

#: The hooks a component may define, as L{ratchetpy.interfaces} names them.
HOOKS = ("onOpen", "onMessage", "onClose", "onError", "getSubProtocols")

_FOLDED = {hook.lower(): hook for hook in HOOKS}
_warned: set[type] = set()


def _fold(name: str) -> str:
    return name.replace("_", "").lower()


def meantHook(name: str) -> str | None:
    """
    The hook C{name} probably means, if it is not one itself but looks like
    one (other case or underscores: C{on_message}, C{onmessage}; a typo:
    C{onMesage}, C{onClsoe}); else C{None}.
    """
    if name in HOOKS or name.startswith("__"):
        return None
    folded = _fold(name)
    if folded in _FOLDED:
        return _FOLDED[folded]
    if not folded.startswith(("on", "get")):
        return None
    close = difflib.get_close_matches(folded, _FOLDED, n=1, cutoff=0.85)
    return _FOLDED[close[0]] if close else None


def checkHookNames(component: Any) -> list[tuple[str, str]]:
    """
    Warn, once per class, about each method of C{component}, or of the
    components its decorators wrap, that looks like a hook but is none (see
    L{meantHook}).

    @return: the (method, hook) pairs found, warned about or not.
    """
    found = []
    seen: set[int] = set()
    while component is not None and id(component) not in seen:
        seen.add(id(component))
        found += _check(type(component))
        component = vars(component).get("component") if hasattr(component, "__dict__") else None
    return found


def _check(cls: type) -> list[tuple[str, str]]:
    found = []
    for name in sorted(dir(cls)):
        meant = meantHook(name)
        if meant is not None and callable(getattr(cls, name, None)):
            found.append((name, meant))
    if found and cls not in _warned:
        _warned.add(cls)
        for name, meant in found:
            log.warn(
                "{component}.{method} is not a hook and is never called: did you mean {hook}?",
                component=cls.__name__,
                method=name,
                hook=meant,
            )
    return found
