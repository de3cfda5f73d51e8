"""
Who is connecting: L{Authenticate}, the one authentication layer, and its
authenticators (L{JWTAuth}, L{CallableAuth}, L{FlaskSessionAuth}); see
C{docs/identity.md}.
"""

from .authenticate import Authenticate, findUnguardedCookieAuth
from .callable import CallableAuth
from .failures import AuthenticationFailed, FailureThrottle, Forbidden, Unauthorized
from .flask import FlaskSessionAuth, FlaskSessionStore
from .jwt import JWTAuth, encodeBearerSubprotocol
from .request import AuthRequest
from .session import ReadOnlySessionError, Session, SessionProvider
from .user import User

__all__ = [
    "Authenticate",
    "JWTAuth",
    "CallableAuth",
    "User",
    "Unauthorized",
    "Forbidden",
    "AuthenticationFailed",
    "AuthRequest",
    "FailureThrottle",
    "encodeBearerSubprotocol",
    "findUnguardedCookieAuth",
    "Session",
    "SessionProvider",
    "ReadOnlySessionError",
    "FlaskSessionAuth",
    "FlaskSessionStore",
]
