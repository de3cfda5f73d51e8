"""
Mint a connection token (a JWT with Centrifugo's claims: sub, exp, info) for
a server run with --auth-jwt-key-file FILE --auth-jwt-algorithm HS256:

    python examples/mint_token.py --key-file jwt.key --sub 42 --name Ann [--ttl 3600]

prints the token. A client sends it as "Authorization: Bearer TOKEN", or,
from a browser (which cannot set headers), as the subprotocol
"base64url.bearer." + base64url(TOKEN) beside its own.
"""

import argparse
import time
from collections.abc import Iterable, Sequence
from typing import Any

import jwt


def mintToken(
    key: str | bytes,
    sub: object,
    name: str | None = None,
    ttl: int = 3600,
    algorithm: str = "HS256",
    channels: Iterable[str] = (),
) -> str:
    """
    A token for user C{sub}, valid for C{ttl} seconds.
    """
    claims: dict[str, Any] = {"sub": str(sub), "exp": int(time.time()) + ttl}
    if name:
        claims["info"] = {"name": name}
    if channels:
        claims["channels"] = list(channels)
    return jwt.encode(claims, key, algorithm=algorithm)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Mint a JWT for a ratchetpy server.")
    parser.add_argument("--key-file", required=True, help="the HMAC secret, as the server reads it")
    parser.add_argument("--sub", required=True, help="the user id")
    parser.add_argument("--name", help="a display name (info.name)")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid (default 3600)")
    parser.add_argument("--algorithm", default="HS256")
    args = parser.parse_args(argv)
    with open(args.key_file, "rb") as f:
        key = f.read().strip()
    print(mintToken(key, args.sub, args.name, args.ttl, args.algorithm))


if __name__ == "__main__":
    main()
