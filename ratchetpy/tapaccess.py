# -*- test-case-name: tests.test_tap -*-
"""
What the twistd plugin's access options build: the publish endpoint's
secret (C{--publish-path}, C{--publish-secret-file}), the authenticators
(C{--auth-*}) and the origins let in (C{--allowed-origins}). Each refuses
options that do not go together with a one-line C{UsageError}.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from twisted.python import usage

if TYPE_CHECKING:
    from .tap import Options


def publishSecret(options: Options) -> str | None:
    """
    The publish endpoint's secret, if C{--publish-path} is given.

    @raise usage.UsageError: the options for the endpoint do not go together.
    """
    path, secretFile = options["publish-path"], options["publish-secret-file"]
    if path is None:
        if secretFile is not None:
            raise usage.UsageError("--publish-secret-file needs --publish-path, e.g. --publish-path /publish")
        return None
    if not path.startswith("/") or path.rstrip("/") == "":
        raise usage.UsageError(f"--publish-path must start with / and name something, e.g. /publish, not {path!r}")
    if options["raw"]:
        raise usage.UsageError("--publish-path needs HTTP: it cannot be combined with --raw")
    if secretFile is not None:
        try:
            with open(secretFile, encoding="utf-8") as f:
                secret = f.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise usage.UsageError(f"--publish-secret-file: cannot read {secretFile}: {exc}") from None
    else:
        secret = os.environ.get("RATCHETPY_PUBLISH_SECRET", "").strip()
        if not secret:
            raise usage.UsageError(
                "--publish-path needs a secret: --publish-secret-file FILE or the environment variable "
                "RATCHETPY_PUBLISH_SECRET (at least 16 random bytes)"
            )
    from .pubsub.endpoint import MIN_SECRET

    if len(secret.encode("utf-8")) < MIN_SECRET:
        raise usage.UsageError(
            f"the publish secret is shorter than {MIN_SECRET} bytes: use a long random one, "
            'e.g. python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    return secret


def jwtAuth(options: Options) -> Any:
    """
    The L{ratchetpy.auth.JWTAuth} the C{--auth-jwt-*} options describe, or
    C{None} without C{--auth-jwt-key-file}.

    @raise usage.UsageError: the options do not go together.
    """
    keyFile, algorithm = options["auth-jwt-key-file"], options["auth-jwt-algorithm"]
    if keyFile is None:
        for flag in ("auth-jwt-algorithm", "auth-jwt-audience", "auth-jwt-issuer"):
            if options[flag] is not None:
                raise usage.UsageError(f"--{flag} needs --auth-jwt-key-file FILE")
        return None
    if options["raw"]:
        raise usage.UsageError("--auth-jwt-key-file needs HTTP: it cannot be combined with --raw")
    if not algorithm:
        raise usage.UsageError(
            "--auth-jwt-key-file needs --auth-jwt-algorithm, the algorithm the tokens are signed with (e.g. HS256)"
        )
    algorithms = [name.strip() for name in algorithm.split(",") if name.strip()]
    try:
        with open(keyFile, "rb") as f:
            key = f.read()
    except OSError as exc:
        raise usage.UsageError(f"--auth-jwt-key-file: cannot read {keyFile}: {exc.strerror}") from None
    if all(name.upper().startswith("HS") for name in algorithms):
        # An HMAC secret: the file's trailing newline is not part of it.
        key = key.strip()
        if not key:
            raise usage.UsageError(f"--auth-jwt-key-file: {keyFile} is empty")
    from .auth.jwt import JWTAuth

    try:
        return JWTAuth(
            key, algorithms=algorithms, audience=options["auth-jwt-audience"], issuer=options["auth-jwt-issuer"]
        )
    except (TypeError, ValueError, ImportError) as exc:
        raise usage.UsageError(f"--auth-jwt-algorithm: {exc}") from None


def djangoAuth(options: Options) -> Any:
    """
    The L{ratchetpy.auth.DjangoSessionAuth} of C{--auth-django-settings},
    or C{None} without it. Django is set up with that settings module (as
    C{DJANGO_SETTINGS_MODULE}, which the option overrides).

    @raise usage.UsageError: with C{--raw}, or Django cannot be set up.
    """
    module = options["auth-django-settings"]
    if module is None:
        return None
    if options["raw"]:
        raise usage.UsageError("--auth-django-settings needs HTTP: it cannot be combined with --raw")
    os.environ["DJANGO_SETTINGS_MODULE"] = module
    from .auth.django import DjangoSessionAuth

    try:
        return DjangoSessionAuth()
    except ImportError as exc:
        raise usage.UsageError(f"--auth-django-settings {module}: {exc}") from None
    except Exception as exc:
        # django.core.exceptions.ImproperlyConfigured: settings that Django cannot use.
        raise usage.UsageError(f"--auth-django-settings {module}: {type(exc).__name__}: {exc}") from None


def allowedOrigins(options: Options) -> list[str] | None:
    """
    The origins of C{--allowed-origins}, for an L{ratchetpy.OriginCheck} in
    front of the component; C{[]} (the server's own host name only) with a
    cookie authenticator (C{--auth-django-settings}) and no
    C{--allowed-origins}, as L{ratchetpy.App.route} does; else C{None}: no
    check.

    @raise usage.UsageError: with C{--raw}.
    """
    given = options["allowed-origins"]
    if given is None:
        return [] if options.djangoAuth is not None else None
    if options["raw"]:
        raise usage.UsageError("--allowed-origins needs HTTP: it cannot be combined with --raw")
    return [origin.strip() for origin in given.split(",") if origin.strip()]


def originsFor(component: Any, options: Options) -> list[str] | None:
    """
    The origins of the L{ratchetpy.OriginCheck} in front of C{component}: by
    default, as C{App.route}'s, pages of the server's own host name (any
    port) and clients that send no C{Origin}, so that no other site's page
    can connect as its visitor; C{--allowed-origins} adds more (C{*}: every
    site). None raw, nor for an App, whose routes have their own.
    """
    from .stack import ComponentKind, componentKind

    given = getattr(options, "allowedOrigins", None)
    if given is not None or options["raw"] or componentKind(component) is ComponentKind.APP:
        return given
    return []


def authenticators(options: Options) -> list[Any] | None:
    """
    The authenticators of the C{--auth-*} options, in the order they are
    asked (a JWT, then a ticket, then a Django session: credentials a client
    chose to send before the cookie a browser sends anyway); C{None} for
    none. Built once the default broker is set, which tickets are kept in.
    """
    found = [a for a in [getattr(options, "jwtAuth", None)] if a is not None]
    if options["auth-tickets"]:
        from .auth.ticket import TicketAuth, Tickets
        from .pubsub import defaultBroker

        found.append(TicketAuth(Tickets(defaultBroker())))
    django = getattr(options, "djangoAuth", None)
    if django is not None:
        found.append(django)
    return found or None


__all__ = ["publishSecret", "jwtAuth", "djangoAuth", "allowedOrigins", "originsFor", "authenticators"]
