"""
docs/identity.md as written: the tutorial's commands run (a key, twistd with
--auth-jwt-key-file, tokens from examples/mint_token.py, the client script),
and its Python blocks are the examples' code and do what the page says.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import textwrap

from websockets.sync.client import connect

from examples import named_chat
from ratchetpy import HttpServer
from ratchetpy.auth import Authenticate
from tests.auth.support import WhoAmI, bearer, refusal, serveAuthenticated, whoAmI
from tests.helpers import ROOT, inThread
from tests.test_tap import LOOPBACK

PAGE = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
# Fenced blocks, also those indented in list items.
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [textwrap.dedent(code) for _, lang, code in FENCE.findall(PAGE) if lang == language]


def command(start: str) -> list[str]:
    """
    The one shell command of the page that starts with C{start}, split.
    """
    found = [line for block in blocks("sh") for line in block.splitlines() if line.startswith(start)]
    assert len(found) == 1, found
    return shlex.split(found[0])


def pythonFile(name: str) -> str:
    found = [code for code in blocks("python") if code.startswith(f"# {name}\n")]
    assert len(found) == 1, name
    return found[0]


def test_tutorial(twistd, tmp_path):
    """
    The tutorial's steps, run as written (on a free port): a key, the server, two tokens, Ann listening with the
    page's client and Bob connecting: Ann sees Bob join and speak, by name; a client without a token gets 401.
    """
    key = command("python -c")
    assert key[-2:] == [">", "jwt.key"]
    (tmp_path / "jwt.key").write_text(subprocess.run(key[:-2], capture_output=True, text=True, check=True).stdout)

    argv = command("twistd -n ratchetpy --component examples.named_chat:")
    args = [str(tmp_path / "jwt.key") if arg == "jwt.key" else arg for arg in argv[3:]]
    process = twistd(*args, "--port", LOOPBACK)
    port = process.waitForPort()

    def mint(sub, name):
        argv = command("python examples/mint_token.py")
        argv = [str(tmp_path / "jwt.key") if arg == "jwt.key" else arg for arg in argv]
        argv[argv.index("--sub") + 1], argv[argv.index("--name") + 1] = sub, name
        return subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    ann, bob = mint("1", "Ann"), mint("2", "Bob")
    client = tmp_path / "named_client.py"
    client.write_text(pythonFile("named_client.py").replace("127.0.0.1:8080", f"127.0.0.1:{port}"))
    url = f"ws://127.0.0.1:{port}/"

    with connect(url, proxy=None, **bearer(ann)) as alice:
        bobs = subprocess.Popen([sys.executable, str(client), bob], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            heard = [inThread(alice.recv, timeout=20), inThread(alice.recv, timeout=20)]
        finally:
            bobs.kill()
            bobs.wait()
    assert heard == ["* Bob joined", "Bob: hello"]
    status, headers, body = inThread(refusal, url)
    assert (status, headers["www-authenticate"], "no credentials" in body) == (401, 'Bearer realm="ratchetpy"', True)
    process.stop()
    assert ann not in process.output and bob not in process.output


def test_nameOfIsTheExamples():
    """
    The page's nameOf and private are examples/named_chat.py's (tests/test_namedchat.py runs them).
    """
    for method in ("def nameOf(", "async def private("):
        (shown,) = [code for code in blocks("python") if method in code]
        assert textwrap.indent(shown, "    ") in open(named_chat.__file__, encoding="utf-8").read()


def test_serverBlockBuildsTheStack(tmp_path, monkeypatch):
    """
    The first block builds IoServer(HttpServer(Authenticate(WsServer(NamedChat()), JWTAuth))) (run without run()).
    """
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jwt.key").write_text("a-secret-of-at-least-thirty-two-bytes!!\n")
    namespace: dict[str, object] = {}
    exec(compile(pythonFile("named_server.py").replace("server.run()", ""), "named_server.py", "exec"), namespace)
    http = namespace["server"].component  # type: ignore[attr-defined]
    assert isinstance(http, HttpServer) and isinstance(http.component, Authenticate)
    assert isinstance(http.component.component.component, named_chat.NamedChat)


def test_apiKeyBlock(listen, tmp_path, monkeypatch):
    """
    The API key block: JWTAuth first, then the key in X-Api-Key, compared as the page shows.
    """
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jwt.key").write_text("a-secret-of-at-least-thirty-two-bytes!!\n")
    (tmp_path / "api.key").write_text("the-api-key-of-the-billing-service\n")
    namespace: dict[str, object] = {}
    exec(compile(pythonFile("api_key.py"), "api_key.py", "exec"), namespace)
    _, url = serveAuthenticated(listen, WhoAmI(), *namespace["auth"])  # type: ignore[misc]
    user, _ = inThread(whoAmI, url, additional_headers={"X-Api-Key": "the-api-key-of-the-billing-service"})
    assert user["id"] == "billing-service"
    status, headers, _ = inThread(refusal, url, additional_headers={"X-Api-Key": "nope"})
    assert (status, headers["www-authenticate"]) == (401, 'ApiKey realm="internal"')


def closeCodeRows() -> dict[int, str]:
    section = PAGE.split("## Close codes", 1)[1].split("\n## ", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d{4}) \| (.*?) \|", section, re.M)}


def test_closeCodeTable():
    """
    The close-code table lists the codes ratchetpy's modules send, with the meanings the code gives them.
    """
    from ratchetpy.auth import CREDENTIALS_EXPIRED
    from ratchetpy.pubsub.users import DISCONNECTED, MAX_CONNECTIONS_PER_USER, TOO_MANY_CONNECTIONS
    from ratchetpy.websocket import codes

    rows = closeCodeRows()
    for code in (codes.NORMAL_CLOSURE, codes.GOING_AWAY, codes.POLICY_VIOLATION, codes.MESSAGE_TOO_BIG,
                 codes.INTERNAL_ERROR, DISCONNECTED, CREDENTIALS_EXPIRED, TOO_MANY_CONNECTIONS, 1002, 1007):
        assert code in rows, code
    assert "expired" in rows[CREDENTIALS_EXPIRED] and "disconnect" in rows[DISCONNECTED]
    assert f"({MAX_CONNECTIONS_PER_USER})" in rows[TOO_MANY_CONNECTIONS]


def test_renewingChatBlock(listen):
    """
    The page's RenewingChat renews from a token in a message, and answers a forged one with the reason.
    """
    from ratchetpy.auth import JWTAuth, User
    from tests.auth.support import KEY, mint

    code = next(block for block in blocks("python") if "class RenewingChat(" in block)
    namespace: dict = {}
    exec(compile(code, "identity.md", "exec"), namespace)
    auth = JWTAuth(KEY, algorithms=["HS256"])
    layer, url = serveAuthenticated(listen, namespace["RenewingChat"](auth), lambda request: User("42", expiresAt=2e9))

    def renew() -> list[str]:
        with connect(url, open_timeout=10, proxy=None) as ws:
            ws.send("renew " + mint("42", ttl=7200))
            ws.send("renew " + mint("42", key=b"z" * 32))
            return [ws.recv(timeout=10)]

    assert inThread(renew) == ["renewal refused: bad token signature"]
