# -*- test-case-name: tests.auth.test_jwt -*-
"""
L{JWTAuth}: JSON Web Tokens (on PyJWT), from an C{Authorization: Bearer}
header, a bearer subprotocol, or (if asked for) a query parameter.

The claims are those of Centrifugo's connection tokens, so a backend that
mints those works unchanged: C{sub} (the user id), C{exp}, C{info} (public
data about the user), C{channels}.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from zope.interface import implementer

from ..http.redact import BEARER_SUBPROTOCOL_PREFIX, SENSITIVE_QUERY_PARAMETERS
from ..interfaces import IAuthenticator
from .failures import Unauthorized
from .user import User

_REQUIRED = object()


def _jwt() -> Any:
    try:
        import jwt
    except ImportError:  # pragma: no cover - PyJWT is in the auth extra
        raise ImportError("JWTAuth needs PyJWT: pip install 'ratchetpy[auth]'") from None
    return jwt


def encodeBearerSubprotocol(token: str, prefix: str = BEARER_SUBPROTOCOL_PREFIX) -> str:
    """
    The subprotocol a client offers to carry C{token}: C{prefix} and the
    token in unpadded base64url (a subprotocol may not contain every
    character a token can).
    """
    return prefix + base64.urlsafe_b64encode(token.encode("utf-8")).decode("ascii").rstrip("=")


def _reason(error: Exception) -> str:
    """
    A fixed description of a PyJWT error: its own message may quote the token.
    """
    jwt = _jwt()
    if isinstance(error, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "token not valid yet"
    if isinstance(error, jwt.InvalidAudienceError):
        return "token for another audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "token from another issuer"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"token lacks the {error.claim!r} claim"
    if isinstance(error, jwt.InvalidSignatureError):
        return "bad token signature"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return "token signed with an algorithm not allowed"
    if isinstance(error, jwt.DecodeError):
        return "malformed token"
    return "invalid token"


@implementer(IAuthenticator)
class JWTAuth:
    """
    Recognises a JWT signed with C{key}, carried by (in this order):
        - an C{Authorization: Bearer TOKEN} header (clients that can set
          headers);
        - a subprotocol C{base64url.bearer.BASE64URL(TOKEN)} the client offers
          beside its real one (browsers, which cannot set headers; Phoenix's
          way). It is never agreed as the subprotocol and never logged;
        - the query parameter C{queryParameter}, only if given (the URL ends
          up in proxies' logs; ratchetpy redacts it from its own).

    A request with none of them is not this authenticator's (the next one is
    asked); one with a token that does not verify gets 401.

    @param key: the HMAC secret, or the public key (PEM) for RS/ES/EdDSA.
    @param algorithms: the algorithms tokens may be signed with, e.g.
        C{["HS256"]}: required, never taken from the token itself.
    @param audience: if given, the C{aud} a token must name (a token with an
        C{aud} is refused without it).
    @param issuer: if given, the C{iss} a token must have.
    @param leeway: seconds (or a L{timedelta<datetime.timedelta>}) of clock skew allowed on
        C{exp} and C{nbf}.
    @param require: claims a token must have; C{exp} and C{sub} by default
        (PyJWT checks C{exp} only if it is present).
    @param queryParameter: the query parameter tokens may come in; C{None}
        (the default): not from the query.
    @param subprotocolPrefix: what the bearer subprotocol starts with;
        it must start with C{base64url.bearer.} (Phoenix's is
        C{base64url.bearer.phx.}); C{None}: not from subprotocols.
    @param infoClaim: the claim whose object becomes C{conn.user.info}.
    @param realm: the realm of the C{WWW-Authenticate} challenge.
    @raise TypeError: C{algorithms} is not given.
    @raise ValueError: C{subprotocolPrefix} does not start with
        C{base64url.bearer.}, or C{algorithms} allows C{none} or names one
        PyJWT does not know.
    """

    usesCookies = False

    def __init__(
        self,
        key: Any,
        *,
        algorithms: Sequence[str] | Any = _REQUIRED,
        audience: str | Iterable[str] | None = None,
        issuer: str | Sequence[str] | None = None,
        leeway: float | timedelta = 0,
        require: Iterable[str] = ("exp", "sub"),
        queryParameter: str | None = None,
        subprotocolPrefix: str | None = BEARER_SUBPROTOCOL_PREFIX,
        infoClaim: str = "info",
        realm: str = "ratchetpy",
    ) -> None:
        _jwt()
        if algorithms is _REQUIRED or not algorithms:
            raise TypeError(
                "JWTAuth needs algorithms=[...], the algorithms your tokens are signed with "
                "(e.g. algorithms=['HS256']): they are never taken from the token itself"
            )
        if isinstance(algorithms, str):
            algorithms = [algorithms]
        algorithms = list(algorithms)
        if any(name.lower() == "none" for name in algorithms):
            raise ValueError("JWTAuth refuses the 'none' algorithm: unsigned tokens prove nothing")
        known = set(_jwt().algorithms.get_default_algorithms())
        unknown = [name for name in algorithms if name not in known]
        if unknown:
            raise ValueError(f"unknown JWT algorithm(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if subprotocolPrefix is not None and not subprotocolPrefix.startswith(BEARER_SUBPROTOCOL_PREFIX):
            raise ValueError(
                f"subprotocolPrefix must start with {BEARER_SUBPROTOCOL_PREFIX!r} (so that WsServer never agrees "
                f"it and logs leave it out), not {subprotocolPrefix!r}"
            )
        self._key = key
        self.algorithms = algorithms
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self.require = list(require)
        self.queryParameter = queryParameter
        self.subprotocolPrefix = subprotocolPrefix
        self.infoClaim = infoClaim
        self.challenge = f'Bearer realm="{realm}"'
        if queryParameter is not None:
            SENSITIVE_QUERY_PARAMETERS.add(queryParameter)

    def tokenOf(self, request: Any) -> str | None:
        """
        The token C{request} carries, if any.

        @raise Unauthorized: a bearer subprotocol that is not base64url.
        """
        token = request.authorization("Bearer")
        if token:
            return token  # type: ignore[no-any-return]
        prefix = self.subprotocolPrefix
        if prefix is not None:
            for name in request.subProtocols:
                if name.startswith(prefix) and len(name) > len(prefix):
                    encoded = name[len(prefix) :]
                    try:
                        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
                    except (binascii.Error, ValueError):
                        raise Unauthorized("malformed bearer subprotocol") from None
        if self.queryParameter is not None:
            return request.queryParameters.get(self.queryParameter) or None
        return None

    def claimsOf(self, token: str) -> dict[str, Any]:
        """
        The claims of C{token}, verified.

        @raise Unauthorized: it does not verify; the reason quotes nothing of it.
        """
        jwt = _jwt()
        try:
            return jwt.decode(  # type: ignore[no-any-return]
                token,
                self._key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": self.require},
            )
        except jwt.InvalidTokenError as error:
            raise Unauthorized(_reason(error)) from None

    def authenticate(self, request: Any) -> User | None:
        token = self.tokenOf(request)
        if token is None:
            return None
        return self.userOf(token)

    def userOf(self, token: str) -> User:
        """
        The user C{token} says, verified: what L{authenticate} gives for a
        request carrying it; also for renewing a connection's credentials
        from a token sent in a message (L{ratchetpy.auth.renewUser}).

        @raise Unauthorized: it does not verify.
        """
        claims = self.claimsOf(token)
        subject = claims.get("sub")
        if not isinstance(subject, str):
            raise Unauthorized("the token's 'sub' claim must be a string (the user id)")
        info = claims.get(self.infoClaim)
        if info is None:
            info = {}
        elif not isinstance(info, dict):
            raise Unauthorized(f"the token's {self.infoClaim!r} claim must be an object")
        expiresAt = claims.get("exp")
        return User(subject, info, float(expiresAt) if isinstance(expiresAt, (int, float)) else None, claims=claims)

    def __repr__(self) -> str:
        return f"JWTAuth(algorithms={self.algorithms!r})"
