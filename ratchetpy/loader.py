# -*- test-case-name: tests.test_tap,tests.test_tapapp -*-
"""
Finding a component from a C{MODULE:NAME} string.
"""

from __future__ import annotations

import importlib
import traceback
from typing import Any

from .stack import NOT_A_COMPONENT, componentKind


class ComponentError(Exception):
    """
    A C{MODULE:NAME} that does not lead to a component; the message says why
    and what to do.

    @ivar spec: the C{MODULE:NAME} string.
    @ivar reason: why it leads to no component, and what to do.
    @ivar traceback: where the user's code failed (importing the module,
        or calling the class or factory), as text; C{""} when no code of
        theirs ran into an error.
    """

    def __init__(self, spec: str, reason: str, traceback: str = "") -> None:
        super().__init__(f"{spec!r}: {reason}")
        self.spec = spec
        self.reason = reason
        self.traceback = traceback


def userTraceback(exc: BaseException) -> str:
    """
    The traceback of C{exc} from the user's code on: without the loader's
    own frame and importlib's.
    """
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    frames = [
        frame
        for frame in traceback.extract_tb(tb)
        if not frame.filename.startswith("<frozen importlib") and frame.filename != importlib.__file__
    ]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines).rstrip("\n")


def _suggestNames(module: Any) -> str:
    """
    What to write instead of a name C{module} lacks: the components it defines.
    """
    names = [
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and componentKind(value) is not None
        and (not isinstance(value, type) or value.__module__ == module.__name__)
    ]
    if names:
        return "did you mean " + " or ".join(f"{module.__name__}:{attr}" for attr in sorted(names)) + "?"
    return "check the spelling (names are case-sensitive)"


def _isWampComponent(target: object) -> bool:
    from .interfaces import IWampComponent

    return not isinstance(target, type) and IWampComponent.providedBy(target)


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
        raise ComponentError(spec, "expected MODULE:NAME, e.g. examples.chat:Chat")
    try:
        module = importlib.import_module(moduleName)
    except ModuleNotFoundError as exc:
        if exc.name and (moduleName == exc.name or moduleName.startswith(exc.name + ".")):
            raise ComponentError(
                spec, f"no module named {exc.name!r}; run from the directory that contains it, or install it"
            ) from None
        raise ComponentError(spec, f"importing {moduleName} failed: {exc}", userTraceback(exc)) from None
    except Exception as exc:
        raise ComponentError(
            spec, f"importing {moduleName} failed: {type(exc).__name__}: {exc}", userTraceback(exc)
        ) from None
    target: Any = module
    for part in name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ComponentError(spec, f"{moduleName} has no {name!r}; {_suggestNames(module)}") from None
    # A class, or a factory: a callable that is no component itself.
    if isinstance(target, type) or (callable(target) and componentKind(target) is None):
        try:
            target = target()
        except Exception as exc:
            raise ComponentError(
                spec, f"calling {name}() failed: {type(exc).__name__}: {exc}", userTraceback(exc)
            ) from None
    if _isWampComponent(target):
        # A WAMP application is served by a router of its own.
        from .wamp import WampServer

        target = WampServer(target)
    if componentKind(target) is None:
        raise ComponentError(spec, f"{target!r} is not a component; {NOT_A_COMPONENT}")
    return target
