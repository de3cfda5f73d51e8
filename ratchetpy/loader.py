# -*- test-case-name: tests.test_tap -*-
"""
Finding a component from a C{MODULE:NAME} string.
"""

from __future__ import annotations

import importlib
from typing import Any

from .interfaces import IMessageComponent

_HOOKS = ("onOpen", "onMessage", "onClose", "onError")


class ComponentError(Exception):
    """
    A C{MODULE:NAME} that does not lead to a component; the message says why
    and what to do.
    """


def isComponent(candidate: object) -> bool:
    """
    Whether C{candidate} declares L{IMessageComponent} or has its four hooks.
    """
    return IMessageComponent.providedBy(candidate) or all(
        callable(getattr(candidate, hook, None)) for hook in _HOOKS
    )


def _isApp(candidate: object) -> bool:
    from .app import App

    return isinstance(candidate, App)


def _suggestNames(module: Any) -> str:
    """
    What to write instead of a name C{module} lacks: the components it defines.
    """
    names = [
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and (isComponent(value) or _isApp(value))
        and (not isinstance(value, type) or value.__module__ == module.__name__)
    ]
    if names:
        return "did you mean " + " or ".join(f"--component {module.__name__}:{attr}" for attr in sorted(names)) + "?"
    return "check the spelling (names are case-sensitive)"


def loadComponent(spec: str) -> Any:
    """
    Load the component C{spec} names: C{"MODULE:NAME"}, where NAME (dotted
    for nested attributes) is a component class (instantiated with no
    arguments), a factory callable returning a component, an instance, or an
    L{ratchetpy.App}.

    @raise ComponentError: with a message for the user.
    """
    moduleName, sep, name = spec.partition(":")
    if not sep or not moduleName or not name:
        raise ComponentError(f"--component {spec!r}: expected MODULE:NAME, e.g. examples.chat:Chat")
    try:
        module = importlib.import_module(moduleName)
    except ModuleNotFoundError as exc:
        if exc.name and (moduleName == exc.name or moduleName.startswith(exc.name + ".")):
            raise ComponentError(
                f"--component {spec}: no module named {exc.name!r}; run from the directory that "
                "contains it, or install it"
            ) from None
        raise ComponentError(f"--component {spec}: importing {moduleName} failed: {exc}") from None
    except Exception as exc:
        raise ComponentError(
            f"--component {spec}: importing {moduleName} failed: {type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ComponentError(
                f"--component {spec}: {moduleName} has no {name!r}; {_suggestNames(module)}"
            ) from None
    if isinstance(target, type) or (callable(target) and not isComponent(target)):
        try:
            target = target()
        except Exception as exc:
            raise ComponentError(
                f"--component {spec}: calling {name}() failed: {type(exc).__name__}: {exc}"
            ) from None
    if not isComponent(target) and not _isApp(target):
        raise ComponentError(
            f"--component {spec}: {target!r} is not a component; subclass ratchetpy.MessageComponent "
            "(or implement onOpen, onMessage, onClose and onError)"
        )
    return target
