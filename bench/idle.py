#!/usr/bin/env python3
"""
Many idle WebSocket connections to one server process: how many, how fast, how much memory.

    pip install .                                   # the INSTALLED ratchetpy is measured
    python bench/idle.py                            # 100,000 connections to ratchetpy, then to bare Autobahn
    python bench/idle.py --conns 10000 --server ratchetpy

Starts the server (ratchetpy through its twistd plugin with examples.echo:Echo, and/or bare
Autobahn from bench/servers/autobahn_server.py), pinned to --server-cpu, with its
open-file limit raised; records its RSS (VmRSS); opens --conns real WebSocket connections
from --procs client processes pinned to --client-cpu, each connection bound to one of
--sources loopback source addresses (127.0.0.2, 127.0.0.3, ...) so that the client side does
not run out of ephemeral ports; holds them --hold seconds (answering the server's keepalive
pings); records the server's RSS and open descriptors again; checks that a sample of the
connections still echoes; then ends every process it started. Prints one table, side by side
when both servers run.

Each connection does a complete RFC 6455 opening handshake (websockets' sans-I/O client, which
also answers pings and masks frames) and its Sec-WebSocket-Accept is checked against the
Sec-WebSocket-Key sent. Run as root, or with a hard `ulimit -n` above the connection count:
the script raises RLIMIT_NOFILE for itself, the servers and the clients (up to
/proc/sys/fs/nr_open). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import json
import math
import os
import random
import resource
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The peer servers in bench/servers (copied from the team's ../shared/bench), or $RATCHETPY_SHARED/bench.
SHARED_BENCH = Path(os.environ["RATCHETPY_SHARED"]) / "bench" if os.environ.get("RATCHETPY_SHARED") else REPO / "bench"
AUTOBAHN_SERVER = SHARED_BENCH / "servers" / "autobahn_server.py"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Linux's IP_BIND_ADDRESS_NO_PORT: bind() only the source address and let connect() pick the
# port per destination, so that every source address has the whole ephemeral range.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
SERVERS = ("ratchetpy", "autobahn")
# Descriptors kept free beyond the connections: listening socket, epoll, pipes, logs, Twisted's
# reserved EMFILE descriptor, the client processes' own.
FD_MARGIN = 1000


# ---- the machine ---------------------------------------------------------------------

def readInt(path: str, default: int) -> int:
    try:
        return int(Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def ephemeralPorts() -> int:
    """How many ephemeral ports one (source address, destination) pair can use."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return high - low + 1
    except (OSError, ValueError):
        return 28232  # Linux's default range, 32768-60999


def raiseFileLimit(want: int) -> int:
    """
    Raise this process's RLIMIT_NOFILE (inherited by every process it starts) to C{want}, or as
    close as the kernel (fs.nr_open) and, without root, the hard limit allow. Returns the soft
    limit in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(want, readInt("/proc/sys/fs/nr_open", 1048576))
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        # Not root: only the soft limit can go up, to the hard one.
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def fileLimitProblem() -> str:
    """Why RLIMIT_NOFILE could not be raised, and what to do about it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        bounding = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                            if line.startswith("CapBnd:")), 16)
        effective = int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                             if line.startswith("CapEff:")), 16)
    except (OSError, StopIteration, ValueError):
        bounding = effective = -1
    CAP_SYS_RESOURCE = 1 << 24
    if effective != -1 and not effective & CAP_SYS_RESOURCE:
        where = "not even in its bounding set, so no process here can get it" if not bounding & CAP_SYS_RESOURCE \
            else "not in its effective set"
        return (f"the hard limit is {hard:,} and raising it needs CAP_SYS_RESOURCE, which this process lacks "
                f"({where}). Raise the hard limit where the process is started (docker --ulimit nofile=, "
                "systemd LimitNOFILE=, /etc/security/limits.conf).")
    return f"the hard limit is {hard:,}; raise it (`ulimit -Hn`, as root) or fs.nr_open."


def rssBytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def openFds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def cpuSeconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinTo(cpu: str | None):
    """A preexec_fn pinning the child to C{cpu} (a core number), if given and present."""
    if cpu is None or cpu == "":
        return None
    cores = {int(c) for c in str(cpu).split(",")}
    if not cores <= os.sched_getaffinity(0):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cores)

    return pin


# ---- the servers ---------------------------------------------------------------------

class Server:
    """
    One server process, started fresh: its command line, PID, log and RSS.
    """

    def __init__(self, name: str, conns: int, cpu: str | None, logDir: Path, extra: list[str],
                 mode: str = "echo") -> None:
        """
        @param name: C{"ratchetpy"}, C{"autobahn"} (framing per connection) or
            C{"autobahn-prepared"} (C{prepareMessage}, chat only).
        @param mode: C{"echo"} (examples.echo:Echo) or C{"chat"} (examples.chat:Chat: every
            message to every other client).
        """
        self.name = name
        self.port = freePort()
        python = sys.executable
        if name == "ratchetpy":
            twistd = str(Path(python).with_name("twistd"))
            component = {"echo": "examples.echo:Echo", "chat": "examples.chat:Chat"}[mode]
            # Run from the repository root so that examples.* import; the per-IP limit is
            # off (every source address holds tens of thousands of connections) and the total
            # is set above --conns: by default it is 90% of the process's `ulimit -n`.
            self.argv = [twistd, "-n", "--pidfile=", "ratchetpy", "--component", component,
                         "--port", f"tcp:{self.port}:interface=127.0.0.1",
                         "--max-connections", str(conns + 1000), "--max-connections-per-ip", "0",
                         "--shutdown-timeout", "0", *extra]
            self.cwd = REPO
            self.ready = "listening on"
        else:
            self.argv = [python, str(AUTOBAHN_SERVER), str(self.port), mode]
            if name == "autobahn-prepared":
                self.argv.append("--prepared")
            self.cwd = SHARED_BENCH
            self.ready = "LISTENING"
        self.logPath = logDir / f"{name}-{mode}-server.log"
        self.lines = 0
        self._listening = threading.Event()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=pinTo(cpu), text=True, errors="replace")
        self.pid = self.proc.pid
        threading.Thread(target=self._readLog, daemon=True).start()

    def _readLog(self) -> None:
        with open(self.logPath, "w") as log:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                self.lines += 1
                log.write(line)
                if self.ready in line:
                    log.flush()
                    self._listening.set()

    def waitListening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self._listening.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.logPath.read_text()[-2000:] if self.logPath.exists() else ""
                sys.exit(f"bench/idle.py: {self.name} server did not start listening ({shlex.join(self.argv)}):\n"
                         + tail)

    def limits(self) -> str:
        try:
            for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
                if line.startswith("Max open files"):
                    return line.split()[3]
        except OSError:
            pass
        return "?"

    def stop(self, timeout: float = 60) -> float:
        """SIGTERM, then SIGKILL after C{timeout} seconds; returns how long it took."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - t0


# ---- the client processes ------------------------------------------------------------

def acceptFor(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


async def clientWorker(cfg: dict) -> None:
    """
    One client process: open cfg["conns"] connections, report, then answer commands on stdin
    ("check": echo through a sample of them; "exit").
    """
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.http11 import Response
    from websockets.protocol import State
    from websockets.uri import parse_uri

    gc.disable()  # short-lived; a full collection over 100,000 connections would only stall it
    loop = asyncio.get_running_loop()
    uri = parse_uri(cfg["url"])
    host, port = "127.0.0.1", uri.port
    errors: Counter[str] = Counter()
    opened: list[IdleClient] = []
    lost = [0]

    class IdleClient(asyncio.Protocol):
        __slots__ = ("ws", "transport", "handshake", "echo")

        def __init__(self) -> None:
            self.ws = ClientProtocol(uri)
            self.handshake: asyncio.Future[None] = loop.create_future()
            self.echo: asyncio.Future[bytes] | None = None

        def connection_made(self, transport) -> None:
            self.transport = transport
            self.ws.send_request(self.ws.connect())
            self.flush()

        def data_received(self, data: bytes) -> None:
            ws = self.ws
            ws.receive_data(data)
            for event in ws.events_received():
                if isinstance(event, Response):
                    self.checkHandshake(event)
                elif isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.BINARY):
                    if self.echo is not None and not self.echo.done():
                        self.echo.set_result(bytes(event.data))
            self.flush()  # the pongs websockets queued for the server's keepalive pings

        def checkHandshake(self, response) -> None:
            done = self.handshake
            if done.done():
                return
            if self.ws.handshake_exc is not None:
                done.set_exception(RuntimeError(f"handshake refused: {response.status_code} "
                                                f"{self.ws.handshake_exc}"))
            elif response.headers.get("Sec-WebSocket-Accept") != acceptFor(self.ws.key):
                done.set_exception(RuntimeError("wrong Sec-WebSocket-Accept"))
            elif self.ws.state is not State.OPEN:
                done.set_exception(RuntimeError(f"not open after 101: {self.ws.state}"))
            else:
                done.set_result(None)

        def flush(self) -> None:
            for chunk in self.ws.data_to_send():
                if chunk:
                    self.transport.write(chunk)
                elif self.transport.can_write_eof():
                    self.transport.write_eof()

        def connection_lost(self, exc) -> None:
            if not self.handshake.done():
                self.handshake.set_exception(ConnectionError("closed during the handshake"))
            elif self.handshake.exception() is None:
                lost[0] += 1
            if self.echo is not None and not self.echo.done():
                self.echo.set_exception(ConnectionError("closed"))

    sources = cfg["sources"]
    total = cfg["conns"]
    timeout = cfg["timeout"]
    next_ = iter(range(total))
    first = time.monotonic()
    report = {"ev": "progress", "opened": 0, "failed": 0}

    def say(obj: dict) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    async def opener() -> None:
        for i in next_:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client = None
            try:
                sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                sock.bind((sources[(i * cfg["procs"] + cfg["index"]) % len(sources)], 0))
                sock.setblocking(False)
                await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
                _, client = await loop.create_connection(IdleClient, sock=sock)
                await asyncio.wait_for(client.handshake, timeout)
            except Exception as exc:
                errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
                report["failed"] += 1
                if client is not None:
                    client.transport.abort()
                else:
                    sock.close()
                continue
            opened.append(client)
            report["opened"] = len(opened)
            if len(opened) % 2000 == 0:
                say(dict(report, t=time.monotonic()))

    await asyncio.gather(*(opener() for _ in range(cfg["concurrency"])))
    last = time.monotonic()
    say({"ev": "opened", "opened": len(opened), "failed": report["failed"], "first": first, "last": last,
         "errors": dict(errors.most_common(5))})

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        command = (await reader.readline()).decode().strip()
        if command == "check":
            alive = [c for c in opened if c.ws.state is State.OPEN]
            sample = random.sample(alive, min(cfg["sample"], len(alive)))
            ok = 0
            failures: Counter[str] = Counter()
            for n, client in enumerate(sample):
                payload = f"idle-check {cfg['index']}-{n}".encode()
                client.echo = loop.create_future()
                client.ws.send_text(payload)
                client.flush()
                try:
                    got = await asyncio.wait_for(client.echo, timeout)
                    if got == payload:
                        ok += 1
                    else:
                        failures["wrong echo"] += 1
                except Exception as exc:
                    failures[type(exc).__name__] += 1
            say({"ev": "checked", "ok": ok, "tried": len(sample), "failures": dict(failures),
                 "still_open": len(alive), "lost": lost[0]})
        else:  # "exit", or the parent went away
            say({"ev": "bye"})
            # The kernel closes every socket at once; closing 25,000 transports one by one
            # would only take longer.
            os._exit(0)


class Clients:
    """
    The client processes of one run, speaking JSON lines over their stdout.
    """

    def __init__(self, cfgs: list[dict], cpu: str | None) -> None:
        self.procs = []
        self.progress = [0] * len(cfgs)
        self.failed = [0] * len(cfgs)
        self.results: dict[str, list[dict]] = {"opened": [], "checked": []}
        self._cond = threading.Condition()
        for cfg in cfgs:
            p = subprocess.Popen([sys.executable, __file__, "--client-worker", json.dumps(cfg)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 preexec_fn=pinTo(cpu))
            self.procs.append(p)
            threading.Thread(target=self._read, args=(cfg["index"], p), daemon=True).start()

    def _read(self, index: int, p: subprocess.Popen) -> None:
        for line in p.stdout:  # type: ignore[union-attr]
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                if msg["ev"] == "progress":
                    self.progress[index] = msg["opened"]
                    self.failed[index] = msg["failed"]
                elif msg["ev"] in self.results:
                    if msg["ev"] == "opened":
                        self.progress[index] = msg["opened"]
                        self.failed[index] = msg["failed"]
                    self.results[msg["ev"]].append(msg)
                self._cond.notify_all()

    def wait(self, ev: str, timeout: float, tick=None) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.results[ev]) < len(self.procs):
                if time.monotonic() > deadline or all(p.poll() is not None for p in self.procs):
                    break
                self._cond.wait(1.0)
                if tick is not None:
                    tick()
            return list(self.results[ev])

    def send(self, command: str) -> None:
        for p in self.procs:
            try:
                p.stdin.write(command + "\n")  # type: ignore[union-attr]
                p.stdin.flush()  # type: ignore[union-attr]
            except OSError:
                pass

    def stop(self, timeout: float = 30) -> None:
        self.send("exit")
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ---- one run -------------------------------------------------------------------------

def runOne(name: str, args, sources: list[str], logDir: Path) -> dict:
    result: dict = {"server": name, "conns": args.conns}
    server = Server(name, args.conns, args.server_cpu, logDir, args.ratchetpy_arg if name == "ratchetpy" else [])
    clients = None
    try:
        server.waitListening()
        time.sleep(1.0)
        result["command"] = shlex.join(server.argv)
        result["server_nofile"] = server.limits()
        result["rss_before"] = rssBytes(server.pid)
        linesBefore = server.lines
        cpu0 = cpuSeconds(server.pid)
        per, extra = divmod(args.conns, args.procs)
        cfgs = [{"index": i, "procs": args.procs, "conns": per + (i < extra), "sources": sources,
                 "url": f"ws://127.0.0.1:{server.port}/", "concurrency": max(1, args.concurrency // args.procs),
                 "timeout": args.timeout, "sample": math.ceil(args.sample / args.procs)}
                for i in range(args.procs)]
        print(f"{name}: pid {server.pid} on port {server.port}, RLIMIT_NOFILE {result['server_nofile']}, "
              f"RSS {mib(result['rss_before'])} MiB; opening {args.conns:,} connections from {args.procs} "
              f"client process(es) over {len(sources)} source address(es) ({sources[0]}..{sources[-1]})",
              flush=True)
        t0 = time.monotonic()
        clients = Clients(cfgs, args.client_cpu)
        lastShown = [t0, 0]

        def tick() -> None:
            now = time.monotonic()
            if now - lastShown[0] >= 5:
                n = sum(clients.progress)
                print(f"  {now - t0:5.1f} s: {n:>8,} open, {sum(clients.failed):,} failed, "
                      f"{(n - lastShown[1]) / (now - lastShown[0]):,.0f}/s over the last {now - lastShown[0]:.0f} s, "
                      f"server RSS {mib(rssBytes(server.pid))} MiB", flush=True)
                lastShown[:] = [now, n]

        opened = clients.wait("opened", args.timeout_total, tick)
        result["opened"] = sum(r["opened"] for r in opened)
        result["failed"] = sum(r["failed"] for r in opened)
        errors: Counter[str] = Counter()
        for r in opened:
            errors.update(r.get("errors", {}))
        result["errors"] = dict(errors.most_common(5))
        if opened:
            result["open_s"] = max(r["last"] for r in opened) - min(r["first"] for r in opened)
            result["conns_per_s"] = result["opened"] / result["open_s"] if result["open_s"] else None
        cpu1 = cpuSeconds(server.pid)
        result["server_cpu_s_opening"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
        if result["server_cpu_s_opening"] is not None and result["opened"]:
            result["server_cpu_us_per_conn"] = 1e6 * result["server_cpu_s_opening"] / result["opened"]
        # Everything the client processes did so far (start-up included): near one core's worth
        # of the time to open means the clients, not the server, set the pace.
        clientCpu = [cpuSeconds(p.pid) for p in clients.procs]
        result["client_cpu_s_opening"] = sum(c for c in clientCpu if c is not None)
        result["server_log_lines_opening"] = server.lines - linesBefore
        print(f"  all open: {result['opened']:,} opened, {result['failed']:,} failed in "
              f"{fmt(result.get('open_s'))} s; holding {args.hold:g} s", flush=True)
        time.sleep(args.hold)
        result["rss_after"] = rssBytes(server.pid)
        result["server_fds"] = openFds(server.pid)
        if result["opened"] and result["rss_after"] and result["rss_before"]:
            result["rss_per_conn"] = (result["rss_after"] - result["rss_before"]) / result["opened"]
        clients.send("check")
        checked = clients.wait("checked", args.timeout * 2 + 30)
        result["echo_ok"] = sum(r["ok"] for r in checked)
        result["echo_tried"] = sum(r["tried"] for r in checked)
        result["still_open"] = sum(r["still_open"] for r in checked)
        result["lost"] = sum(r["lost"] for r in checked)
        result["server_log_lines"] = server.lines - linesBefore
    finally:
        if clients is not None:
            clients.stop()
        result["stop_s"] = server.stop()
        result["server_log"] = str(server.logPath)
    print(f"  {name}: RSS {mib(result.get('rss_before'))} -> {mib(result.get('rss_after'))} MiB, "
          f"{kib(result.get('rss_per_conn'))} KiB per connection; echo {result.get('echo_ok')}/"
          f"{result.get('echo_tried')}; server stopped in {result['stop_s']:.1f} s", flush=True)
    return result


# ---- the table -----------------------------------------------------------------------

def mib(v):
    return "-" if v is None else f"{v / 2**20:,.1f}"


def kib(v):
    return "-" if v is None else f"{v / 1024:.2f}"


def fmt(v, digits=1):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}"


ROWS = [
    ("connections opened", lambda r: f"{r.get('opened', 0):,} / {r['conns']:,}", "opened", True),
    ("failed", lambda r: fmt(r.get("failed")), None, None),
    ("time to open (s)", lambda r: fmt(r.get("open_s")), "open_s", False),
    ("handshakes/s while opening", lambda r: fmt(r.get("conns_per_s"), 0), "conns_per_s", True),
    ("server CPU while opening (s)", lambda r: fmt(r.get("server_cpu_s_opening")), "server_cpu_s_opening", False),
    ("server CPU per connection (us)", lambda r: fmt(r.get("server_cpu_us_per_conn"), 0), "server_cpu_us_per_conn",
     False),
    ("client CPU while opening (s)", lambda r: fmt(r.get("client_cpu_s_opening")), None, None),
    ("server RSS before (MiB)", lambda r: mib(r.get("rss_before")), "rss_before", False),
    ("server RSS after (MiB)", lambda r: mib(r.get("rss_after")), "rss_after", False),
    ("RSS per connection (KiB)", lambda r: kib(r.get("rss_per_conn")), "rss_per_conn", False),
    ("server open fds after", lambda r: fmt(r.get("server_fds")), None, None),
    ("still open at the check", lambda r: fmt(r.get("still_open")), None, None),
    ("echo check (sample)", lambda r: f"{r.get('echo_ok', 0)}/{r.get('echo_tried', 0)}", None, None),
    ("server log lines (whole run)", lambda r: fmt(r.get("server_log_lines")), None, None),
    ("server stop (s)", lambda r: fmt(r.get("stop_s")), None, None),
]


def table(results: list[dict]) -> str:
    names = [r["server"] for r in results]
    both = len(results) == 2 and names == list(SERVERS)
    head = "| | " + " | ".join(names) + (" | ratchetpy / autobahn |" if both else " |")
    lines = [head, "|---|" + "---:|" * (len(names) + both)]
    for label, show, key, _ in ROWS:
        cells = [show(r) for r in results]
        if both:
            a, b = (r.get(key) if key else None for r in results)
            cells.append(f"{a / b:.2f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
                         else "")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 2 and sys.argv[1] == "--client-worker":
        asyncio.run(clientWorker(json.loads(sys.argv[2])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog="See bench/README.md.")
    ap.add_argument("--conns", type=int, default=100_000, help="connections to open (default 100,000)")
    ap.add_argument("--server", choices=[*SERVERS, "both"], default="both",
                    help="ratchetpy, bare autobahn, or both one after the other (default)")
    ap.add_argument("--sources", type=int, default=0,
                    help="loopback source addresses 127.0.0.2... (default: enough for the ephemeral port range)")
    ap.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    ap.add_argument("--concurrency", type=int, default=200,
                    help="handshakes in flight over all client processes (default 200; keep it under the "
                    "listen backlog, 511)")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds to hold the connections before measuring")
    ap.add_argument("--sample", type=int, default=200, help="connections to check for an echo (default 200)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds for one connection or echo")
    ap.add_argument("--timeout-total", type=float, default=900.0, help="seconds to open every connection")
    ap.add_argument("--server-cpu", default=os.environ.get("SERVER_CPU", "0"))
    ap.add_argument("--client-cpu", default=os.environ.get("CLIENT_CPU", "1"))
    ap.add_argument("--ratchetpy-arg", action="append", default=[],
                    help="extra `twistd ratchetpy` option (repeatable), e.g. --ratchetpy-arg=--keepalive=0")
    ap.add_argument("--out", help="directory for the server logs and results.json "
                    "(default $TMPDIR/ratchetpy-bench/idle-<timestamp>)")
    args = ap.parse_args(argv)
    if (os.cpu_count() or 1) < 2:
        args.server_cpu = args.client_cpu = None

    ports = ephemeralPorts()
    sources = args.sources or max(1, math.ceil(args.conns / (ports * 0.8)))
    if sources > 250:
        sys.exit("bench/idle.py: --sources must be at most 250 (127.0.0.2-127.0.0.251)")
    sourceAddresses = [f"127.0.0.{2 + i}" for i in range(sources)]
    perSource = args.conns / sources
    if perSource > ports:
        print(f"warning: {perSource:,.0f} connections per source address but only {ports:,} ephemeral ports "
              "(/proc/sys/net/ipv4/ip_local_port_range): raise --sources", file=sys.stderr)
    need = args.conns + FD_MARGIN
    nofile = raiseFileLimit(need)
    print(f"RLIMIT_NOFILE {nofile:,} (fs.nr_open {readInt('/proc/sys/fs/nr_open', 0):,}); ephemeral ports "
          f"{ports:,} per source address; {sources} source address(es); somaxconn "
          f"{readInt('/proc/sys/net/core/somaxconn', 0)}", flush=True)
    if nofile < need:
        # Past the limit the server's accept() fails with EMFILE: nothing is measured but
        # Twisted's EMFILE recovery (and its three log lines per refused connection).
        capped = max(1, nofile - FD_MARGIN)
        print(f"warning: cannot raise RLIMIT_NOFILE to {need:,}: {fileLimitProblem()} One process cannot hold "
              f"{args.conns:,} connections here; measuring {capped:,} instead.", file=sys.stderr, flush=True)
        args.conns = capped

    out = Path(args.out or Path(os.environ.get("TMPDIR", "/tmp")) / "ratchetpy-bench"
               / time.strftime("idle-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    names = list(SERVERS) if args.server == "both" else [args.server]
    if "autobahn" in names and not AUTOBAHN_SERVER.exists():
        sys.exit(f"bench/idle.py: {AUTOBAHN_SERVER} not found: bench/servers is incomplete "
                 "(or RATCHETPY_SHARED points elsewhere; or use --server ratchetpy)")
    results = []
    for name in names:
        results.append(runOne(name, args, sourceAddresses, out))
        (out / "results.json").write_text(json.dumps(results, indent=2))
    print()
    print(f"{args.conns:,} idle WebSocket connections, server on cpu {args.server_cpu}, {args.procs} client "
          f"process(es) on cpu {args.client_cpu}:")
    print()
    print(table(results))
    for r in results:
        if r.get("errors"):
            print(f"\n{r['server']}: connection errors (most common): {r['errors']}")
    print(f"\nRSS per connection = (RSS after holding {args.hold:g} s - RSS before) / connections opened. "
          f"Server logs and results.json: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
