"""
Who is connecting: L{Authenticate}, the one authentication layer, and its
authenticators (L{JWTAuth}, L{CallableAuth}, L{FlaskSessionAuth},
L{DjangoSessionAuth}); see C{docs/identity.md}.
"""

from .authenticate import CREDENTIALS_EXPIRED, Authenticate, findUnguardedCookieAuth, renewUser
from .callable import CallableAuth
from .django import DjangoSession, DjangoSessionAuth, DjangoSessionStore
from .failures import AuthenticationFailed, FailureThrottle, Forbidden, Unauthorized
from .flask import FlaskSessionAuth, FlaskSessionStore
from .jwt import JWTAuth, encodeBearerSubprotocol
from .request import AuthRequest
from .session import ReadOnlySessionError, Session, SessionProvider
from .ticket import TicketAuth, Tickets, mintTicket
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
    "renewUser",
    "CREDENTIALS_EXPIRED",
    "Tickets",
    "TicketAuth",
    "mintTicket",
    "FlaskSessionAuth",
    "FlaskSessionStore",
    "DjangoSessionAuth",
    "DjangoSessionStore",
    "DjangoSession",
]
