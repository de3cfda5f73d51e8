# -*- test-case-name: tests.test_limitsdoc -*-
"""
Every limit and option of the layers, each defined once: its library keyword,
the layer that takes it, its default, what it allows, and its twistd flag.

The layers take their signature defaults from here and check their arguments
with L{Option.check}; the twistd plugin generates its options and their
validation from L{OPTIONS}; C{docs/limits.md} is tested against it.

Messages that advise the user name an option with L{optionName}, so that a
program built from Python is told C{maxConnections} and a twistd user
C{--max-connections}.

This module imports nothing of ratchetpy's, so that every layer can import it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

#: The layers that take options, by their class names.
IO_SERVER = "IoServer"
HTTP_SERVER = "HttpServer"
WS_SERVER = "WsServer"
HTTP_HANDLER = "HttpHandler"
AUTHENTICATE = "Authenticate"

# The defaults, as constants for the layers' signatures (which must show the
# value itself: the docs tests inspect them).

#: Default bytes a connection may fall behind (L{IoServer}).
MAX_SEND_BUFFER = 2**20
#: The slow-consumer policies, the default first.
SLOW_CONSUMER_POLICIES = ("close", "drop")
#: Default slow-consumer policy.
SLOW_CONSUMER_POLICY = SLOW_CONSUMER_POLICIES[0]
#: Default seconds shutdown waits for connections to close.
SHUTDOWN_TIMEOUT = 5.0
#: Defaults for the request head limits (L{HttpServer}).
MAX_HEAD_SIZE = 16 * 1024
MAX_HEADERS = 100
MAX_REQUEST_LINE = 8 * 1024
HEAD_TIMEOUT = 10.0
#: Default connections per client IP address.
MAX_CONNECTIONS_PER_IP = 1024
#: Default seconds a refused client is asked to wait (C{Retry-After}).
RETRY_AFTER = 10
#: Default proxies whose forwarding headers are believed: none.
TRUSTED_PROXIES: tuple[str, ...] = ()
#: The headers a trusted proxy may name the client with, the default first.
FORWARDED_HEADERS = ("X-Forwarded-For", "Forwarded")
#: Default header read from trusted proxies.
FORWARDED_HEADER = FORWARDED_HEADERS[0]
#: Default limit on the size of one WebSocket message (and frame), in bytes.
MAX_MESSAGE_SIZE = 2**20
#: Default seconds between keepalive pings.
KEEPALIVE_INTERVAL = 30.0
#: Default seconds for the WebSocket opening and closing handshakes.
OPEN_HANDSHAKE_TIMEOUT = 5.0
CLOSE_HANDSHAKE_TIMEOUT = 1.0
#: Defaults for the request body limits (L{HttpHandler}).
MAX_BODY_SIZE = 64 * 1024
BODY_TIMEOUT = 10.0
#: Defaults for the failed-authentication throttle (L{Authenticate}): this
#: many failures from one address...
MAX_AUTH_FAILURES = 10
#: ...within this many seconds, and the address is refused with 429.
AUTH_FAILURE_WINDOW = 60.0
#: Addresses the throttle remembers at most (the oldest are forgotten first).
MAX_TRACKED_ADDRESSES = 10_000
#: Default seconds the authenticators have to decide (slower: 503).
AUTH_TIMEOUT = 10.0
#: Default seconds a WebSocket connection stays open after its user's
#: credentials expired, for the application to renew them (then: 4001).
EXPIRY_GRACE = 30.0


@dataclass(frozen=True)
class Option:
    """
    One limit or option of a layer.

    @ivar name: the layer's keyword argument, e.g. C{"maxMessageSize"}.
    @ivar layer: the class that takes it: L{IO_SERVER}, L{HTTP_SERVER},
        L{WS_SERVER}, L{HTTP_HANDLER} or L{AUTHENTICATE}.
    @ivar default: the default; C{None} where the layer computes it (see
        C{computed}).
    @ivar kind: C{int}, C{float} (an C{int} is accepted too), C{str}, or
        C{tuple}: a list of IP addresses and networks (a tuple or list in
        Python, comma-separated on the command line).
    @ivar help: one line saying what it limits, and what happens past it.
    @ivar unit: what the number counts (C{"bytes"}, C{"seconds"}), or C{""}.
    @ivar zero: what C{0} means (C{"no limit"}, C{"off"}); C{None}: C{0} is
        not allowed.
    @ivar minimum: the least value allowed other than C{0}, if more than
        "positive": keepalive times are whole seconds at least.
    @ivar choices: the values allowed, for a C{str} option; the default first.
    @ivar computed: what a default of C{None} stands for: words (C{"90% of
        ulimit -n"}), or the name of the option whose value it is
        (C{"maxMessageSize"}).
    @ivar why: why there is no value for "no limit", which a user may look
        for; the message of L{check} ends with it.
    @ivar onCommandLine: whether the twistd plugin has a flag for it.
    @ivar spelling: the flag, where it is not derived from C{name}.
    """

    name: str
    layer: str
    default: Any
    kind: type
    help: str
    unit: str = ""
    zero: str | None = None
    minimum: float | None = None
    choices: tuple[str, ...] = ()
    computed: str | None = None
    why: str | None = None
    onCommandLine: bool = True
    spelling: str | None = None

    @property
    def flag(self) -> str | None:
        """
        The twistd flag, e.g. C{"--max-message-size"}; C{None} if the twistd
        plugin has none for this option.
        """
        if not self.onCommandLine:
            return None
        return self.spelling or _dashed(self.name)

    def allowed(self, commandLine: bool = False) -> str:
        """
        What values are allowed, as the end of "must be ...": e.g. C{"0 (no
        limit) or a positive number"}.

        @param commandLine: describe choices as typed on a command line
            (C{close, drop}) rather than as Python values (C{'close', 'drop'}).
        """
        if self.kind is tuple:
            sample = "10.0.0.0/8,127.0.0.1" if commandLine else "['10.0.0.0/8', '127.0.0.1']"
            return f"IP addresses and networks (or unix, for UNIX socket peers), e.g. {sample}"
        if self.choices:
            if commandLine:
                return "one of: " + ", ".join(self.choices)
            return "one of " + ", ".join(map(repr, self.choices))
        if self.minimum is not None:
            unit = _singular(self.unit) if self.minimum == 1 else self.unit
            positive = f"at least {self.minimum:g} {unit}".rstrip()
        else:
            positive = f"a positive number of {self.unit}" if self.unit else "a positive number"
        return f"0 ({self.zero}) or {positive}" if self.zero is not None else positive

    def isAllowed(self, value: object) -> bool:
        """
        Whether C{value} is allowed (C{None} is, where the default is).
        """
        if value is None:
            return self.default is None
        if self.kind is tuple:
            return isinstance(value, (tuple, list)) and all(map(_isNetwork, value))
        if self.choices:
            return value in self.choices
        # What is left is a number option (a str option has choices).
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is not float and not isinstance(value, self.kind):
            return False
        if value == 0:
            return self.zero is not None
        return value > 0 and (self.minimum is None or value >= self.minimum)

    def check(self, value: Any, *, commandLine: bool = False) -> Any:
        """
        @param commandLine: name the option by its flag, and describe values
            as typed on a command line.
        @return: C{value}, if it is allowed.
        @raise ValueError: C{value} is not allowed; the message names the
            option (its keyword, or its flag with C{commandLine}) and says
            what is.
        """
        if self.isAllowed(value):
            return value
        name = self.flag if commandLine and self.flag else self.name
        shown = f"{value:g}" if commandLine and isinstance(value, float) else repr(value)
        if commandLine and self.kind is tuple and isinstance(value, (tuple, list)):
            shown = ",".join(map(str, value))
        why = f": {self.why}" if self.why else ""
        raise ValueError(f"{name} must be {self.allowed(commandLine)}, not {shown}{why}")


    def fromCommandLine(self, text: str) -> Any:
        """
        C{text}, as typed after the option's flag, as a value of its kind
        (not checked yet: see L{check}). Sizes in bytes take units
        (L{parseSize}: C{1k}, C{16KiB}, C{4M}).

        @raise ValueError: C{text} is not of the option's kind; the message
            names the flag and the forms it takes.
        """
        if self.kind is tuple:
            return tuple(entry.strip() for entry in text.split(",") if entry.strip())
        if self.kind is str:
            return text
        name = self.flag or self.name
        if self.unit == "bytes":
            try:
                return parseSize(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        try:
            return self.kind(text)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            unit = f" of {self.unit}" if self.unit else ""
            raise ValueError(f"{name} takes {what}{unit}, not {text!r}") from None


#: The units of sizes, in bytes: binary, as nginx's C{1k} and C{1m} are.
_SIZE_UNITS = {"": 1, "k": 1024, "kib": 1024, "m": 1024**2, "mib": 1024**2, "g": 1024**3, "gib": 1024**3}
_SIZE = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*\Z", re.IGNORECASE)


def parseSize(text: str) -> int:
    """
    A size in bytes as typed: plain bytes (C{65536}), or with a binary unit,
    C{k}/C{KiB} (1024), C{M}/C{MiB}, C{G}/C{GiB}, any case (C{1k}, C{16KiB},
    C{4M}, C{1.5m}).

    @raise ValueError: C{text} is none of those forms.
    """
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS:
        hint = ""
        if unit in ("kb", "mb", "gb"):
            hint = f" ({unit.upper()} is ambiguous: write {unit[0]} or {unit[0].upper()}iB for 1024s, or the bytes)"
        raise ValueError(
            f"a size is bytes, or a number with k/KiB, M/MiB or G/GiB (e.g. 65536, 64k, 16KiB, 4M), not {text!r}{hint}"
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def _isNetwork(entry: object) -> bool:
    """
    Whether C{entry} is an IP address or network as text, or C{"unix"}.
    """
    if not isinstance(entry, str):
        return False
    # A proxy on a UNIX socket (see ratchetpy.server.addresses.UNIX_PEERS).
    if entry.strip() == "unix":
        return True
    try:
        ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return False
    return True


def _dashed(name: str) -> str:
    """
    C{"maxMessageSize"} as a flag: C{"--max-message-size"}.
    """
    return "--" + "".join("-" + c.lower() if c.isupper() else c for c in name)


def _singular(unit: str) -> str:
    return unit[:-1] if unit.endswith("s") else unit


#: Every option, each layer's in the order its signature has them.
OPTIONS: tuple[Option, ...] = (
    Option(
        "shutdownTimeout",
        IO_SERVER,
        SHUTDOWN_TIMEOUT,
        float,
        "Seconds to wait for connections to close on shutdown.",
        unit="seconds",
        zero="cut at once",
    ),
    Option(
        "maxSendBuffer",
        IO_SERVER,
        MAX_SEND_BUFFER,
        int,
        "Bytes a client may fall behind before the policy applies.",
        unit="bytes",
        why="without a bound one client that stops reading can exhaust the server's memory",
    ),
    Option(
        "slowConsumerPolicy",
        IO_SERVER,
        SLOW_CONSUMER_POLICY,
        str,
        "What to do with a client that falls behind: close or drop.",
        choices=SLOW_CONSUMER_POLICIES,
    ),
    Option(
        "maxHeadSize",
        HTTP_SERVER,
        MAX_HEAD_SIZE,
        int,
        "Largest HTTP request head, in bytes (larger: 431).",
        unit="bytes",
    ),
    Option("maxHeaders", HTTP_SERVER, MAX_HEADERS, int, "Most header lines in a request head (more: 431)."),
    Option(
        "maxRequestLine",
        HTTP_SERVER,
        MAX_REQUEST_LINE,
        int,
        "Longest HTTP request line, in bytes (longer: 414).",
        unit="bytes",
    ),
    Option(
        "headTimeout",
        HTTP_SERVER,
        HEAD_TIMEOUT,
        float,
        "Seconds from connecting to a complete request head (slower: 408).",
        unit="seconds",
    ),
    Option(
        "maxConnections",
        HTTP_SERVER,
        None,
        int,
        "Most connections at once (more: 503).",
        zero="no limit",
        computed="90% of ulimit -n",
    ),
    Option(
        "maxConnectionsPerIp",
        HTTP_SERVER,
        MAX_CONNECTIONS_PER_IP,
        int,
        "Most connections from one IP (more: 503).",
        zero="no limit",
    ),
    Option(
        "trustedProxies",
        HTTP_SERVER,
        TRUSTED_PROXIES,
        tuple,
        "Proxies (IPs, networks) whose forwarding header names the client.",
    ),
    Option(
        "forwardedHeader",
        HTTP_SERVER,
        FORWARDED_HEADER,
        str,
        "The header trusted proxies name the client with: X-Forwarded-For or Forwarded.",
        choices=FORWARDED_HEADERS,
    ),
    Option(
        "retryAfter",
        HTTP_SERVER,
        RETRY_AFTER,
        int,
        "Seconds a client refused with 503 is asked to wait (Retry-After).",
        unit="seconds",
        onCommandLine=False,
    ),
    Option(
        "maxMessageSize",
        WS_SERVER,
        MAX_MESSAGE_SIZE,
        int,
        "Largest WebSocket message accepted, in bytes (larger: 1009).",
        unit="bytes",
        why="without a limit one client can exhaust memory",
    ),
    Option(
        "maxFrameSize",
        WS_SERVER,
        None,
        int,
        "Largest WebSocket frame accepted, in bytes (larger: 1009).",
        unit="bytes",
        computed="maxMessageSize",
    ),
    Option(
        "keepAlive",
        WS_SERVER,
        KEEPALIVE_INTERVAL,
        float,
        "Seconds between WebSocket keepalive pings.",
        unit="seconds",
        zero="off",
        # Autobahn's timers have whole-second granularity: shorter times
        # drop peers that do answer.
        minimum=1,
        spelling="--keepalive",
    ),
    Option(
        "keepAliveTimeout",
        WS_SERVER,
        None,
        float,
        "Seconds a peer has to answer a ping (slower: dropped).",
        unit="seconds",
        minimum=1,
        computed="keepAlive",
        spelling="--keepalive-timeout",
    ),
    Option(
        "openHandshakeTimeout",
        WS_SERVER,
        OPEN_HANDSHAKE_TIMEOUT,
        float,
        "Seconds a client has to complete the WebSocket handshake once its request head is in.",
        unit="seconds",
        zero="no timeout",
        onCommandLine=False,
    ),
    Option(
        "closeHandshakeTimeout",
        WS_SERVER,
        CLOSE_HANDSHAKE_TIMEOUT,
        float,
        "Seconds the peer has to answer a close frame before the connection is dropped.",
        unit="seconds",
        zero="no timeout",
        onCommandLine=False,
    ),
    Option(
        "maxBodySize",
        HTTP_HANDLER,
        MAX_BODY_SIZE,
        int,
        "Largest HTTP request body accepted, in bytes (larger: 413).",
        unit="bytes",
        zero="no body",
        onCommandLine=False,
    ),
    Option(
        "bodyTimeout",
        HTTP_HANDLER,
        BODY_TIMEOUT,
        float,
        "Seconds from the request head to a complete body (slower: 408).",
        unit="seconds",
        onCommandLine=False,
    ),
    Option(
        "maxAuthFailures",
        AUTHENTICATE,
        MAX_AUTH_FAILURES,
        int,
        "Failed authentications from one IP within authFailureWindow (more: 429).",
        zero="no limit",
        onCommandLine=False,
    ),
    Option(
        "authFailureWindow",
        AUTHENTICATE,
        AUTH_FAILURE_WINDOW,
        float,
        "Seconds over which failed authentications are counted per IP.",
        unit="seconds",
        onCommandLine=False,
    ),
    Option(
        "maxTrackedAddresses",
        AUTHENTICATE,
        MAX_TRACKED_ADDRESSES,
        int,
        "IP addresses whose failed authentications are remembered (the oldest are forgotten).",
        onCommandLine=False,
    ),
    Option(
        "authTimeout",
        AUTHENTICATE,
        AUTH_TIMEOUT,
        float,
        "Seconds the authenticators have to decide on a request (slower: 503).",
        unit="seconds",
        onCommandLine=False,
    ),
    Option(
        "expiryGrace",
        AUTHENTICATE,
        EXPIRY_GRACE,
        float,
        "Seconds a WebSocket stays open after its user's credentials expired, unless renewed (then: close 4001).",
        unit="seconds",
        zero="closed when they expire",
        onCommandLine=False,
    ),
)

_BY_LAYER: dict[tuple[str, str], Option] = {(o.layer, o.name): o for o in OPTIONS}
_BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}
# Each keyword names one option, whatever its layer: App and the twistd plugin
# rely on it to pass keywords on by name.
assert len(_BY_NAME) == len(OPTIONS), "two layers share an option name"


def option(name: str, layer: str | None = None) -> Option:
    """
    The option with keyword C{name} (of C{layer}, if given).

    @raise KeyError: there is no such option.
    """
    found = _BY_NAME.get(name) if layer is None else _BY_LAYER.get((layer, name))
    if found is None:
        raise KeyError(f"no option {name!r}" + (f" of {layer}" if layer else ""))
    return found


def optionsOf(*layers: str) -> tuple[Option, ...]:
    """
    The options of C{layers}, in registry order.
    """
    return tuple(o for o in OPTIONS if o.layer in layers)


def checkKeywords(keywords: dict[str, Any], layers: tuple[str, ...], what: str, extra: tuple[str, ...] = ()) -> None:
    """
    Check that C{keywords} are options of C{layers} (or in C{extra}), and
    their values allowed.

    @param what: the callable they were passed to, for the message, e.g.
        C{"App()"}.
    @raise TypeError: a keyword is no option of C{layers}; the message names
        the valid ones.
    @raise ValueError: a value is not allowed (see L{Option.check}).
    """
    valid = {o.name: o for o in optionsOf(*layers)}
    unknown = sorted(set(keywords) - set(valid) - set(extra))
    if unknown:
        names = ", ".join([*valid, *extra])
        raise TypeError(f"{what} got unexpected keyword argument(s) {', '.join(unknown)}; valid: {names}")
    for name, value in keywords.items():
        if name in valid:
            valid[name].check(value)


def checkOptions(layer: str, **values: Any) -> None:
    """
    Check the value of each option of C{layer} in C{values}, as its
    constructor does.

    @raise ValueError: a value is not allowed (see L{Option.check}).
    @raise KeyError: a name is no option of C{layer}.
    """
    for name, value in values.items():
        option(name, layer).check(value)


# Whether the names users see are twistd flags: set once, by the twistd plugin.
_commandLineNames = False


def useCommandLineNames(enabled: bool = True) -> None:
    """
    Name options by their twistd flags from now on (C{--max-connections},
    not C{maxConnections}); the twistd plugin calls this before it builds
    anything.

    @param enabled: C{False} to go back to the library's keywords (for tests).
    """
    global _commandLineNames
    _commandLineNames = enabled


def optionName(name: str) -> str:
    """
    The name the user knows the option with keyword C{name} by: the keyword
    itself (C{"maxConnections"}), or, once L{useCommandLineNames} has been
    called, its twistd flag (C{"--max-connections"}) if it has one.

    @raise KeyError: there is no such option (a misspelt name would
        otherwise give the user advice that leads nowhere).
    """
    found = option(name)
    if _commandLineNames and found.flag is not None:
        return found.flag
    return name


__all__ = [
    "Option",
    "OPTIONS",
    "option",
    "optionsOf",
    "checkKeywords",
    "checkOptions",
    "optionName",
    "useCommandLineNames",
    "IO_SERVER",
    "HTTP_SERVER",
    "WS_SERVER",
    "HTTP_HANDLER",
    "AUTHENTICATE",
]
