#!/usr/bin/env python3
"""
Benchmark ratchetpy side by side with bare Autobahn.

    pip install .                                  # the ratchetpy under test is the INSTALLED one
    (cd ../shared/bench/load && npm ci)            # the shared load generator (Node.js ws), once
    python bench/run.py                            # full run: 3 reps of every scenario
    python bench/run.py --quick                    # smoke run: 1 rep, short durations, small sizes
    REPS=5 python bench/run.py                     # or --reps 5

Run it from the venv that holds the ratchetpy to measure: the servers are started
with the `twistd` next to `sys.executable`, the peer servers with `sys.executable`.
Not part of the test suite.

Servers, each started fresh for every scenario and repetition:
  ratchetpy           twistd -n ratchetpy --component examples.echo:Echo (echo scenarios)
                      or examples.chat:Chat (broadcast), --max-connections-per-ip 0
  autobahn            ../shared/bench/servers/autobahn_server.py (framing per connection)
  autobahn-prepared   the same with --prepared (prepareMessage: frame once), broadcast only

Scenarios (../shared/bench/load/loadgen.js): echo (100 conns x 32 B, closed loop), pipelined
echo (16 in flight per conn), 4 KiB echo, broadcast to 1,000 receivers, handshakes/s and RSS
per idle connection at 10,000 connections, slow reader (server RSS growth).

The runs themselves are done by ../shared/bench/run_baselines.sh (server pinned to core
SERVER_CPU, generator to CLIENT_CPU, waits for a quiet machine); this script calls it once
per repetition (so servers alternate within each repetition) and prints medians and ratios
vs bare Autobahn. Raw JSON lines and logs go to --out (default
$TMPDIR/ratchetpy-bench/<timestamp>).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_BENCH = REPO.parent / "shared" / "bench"  # ../shared/bench from the repository root
RUN_BASELINES = SHARED_BENCH / "run_baselines.sh"
LOADGEN_DIR = SHARED_BENCH / "load"

DEFAULT_SCENARIOS = ["echo", "echo-pipelined", "echo-4k", "broadcast", "connect", "slow-reader"]
BASE = "autobahn"
PREPARED = "autobahn-prepared"
RATCHETPY = "ratchetpy"


def server_specs(python: str, twistd: str, extra: list[str]) -> list[str]:
    """run_baselines.sh --server specs: NAME|MODES|COMMAND (run from ../shared/bench)."""

    def ratchetpy(component: str) -> str:
        # env -C: examples.* are imported from the repository root (the plugin puts the
        # current directory on sys.path after ratchetpy itself is imported, so the
        # installed ratchetpy is the one measured). exec'ed: its PID is the server's.
        argv = ["env", "-C", str(REPO), twistd, "-n", "--pidfile=", "ratchetpy",
                "--component", component, "--port", "tcp:{port}:interface=127.0.0.1",
                "--max-connections-per-ip", "0", "--shutdown-timeout", "0", *extra]
        return " ".join(shlex.quote(a) if "{port}" not in a else a for a in argv)

    peer = f"{shlex.quote(python)} servers/autobahn_server.py {{port}} {{mode}}"
    return [
        f"{RATCHETPY}|echo|{ratchetpy('examples.echo:Echo')}",
        f"{RATCHETPY}|chat|{ratchetpy('examples.chat:Chat')}",
        f"{BASE}|echo,chat|{peer}",
        f"{PREPARED}|chat|{peer} --prepared",
    ]


def check_setup(python: str, twistd: str) -> dict:
    problems = []
    if not RUN_BASELINES.exists():
        problems.append(f"{RUN_BASELINES} not found: the team's ../shared/bench must sit beside the repository")
    if not (LOADGEN_DIR / "node_modules" / "ws").is_dir():
        problems.append(f"load generator not installed: (cd {LOADGEN_DIR} && npm ci)")
    if not os.access(twistd, os.X_OK):
        problems.append(f"no twistd next to {python}: run from the venv where you did `pip install .`")
    info = {}
    # Import from a neutral directory so that a checkout's ./ratchetpy cannot shadow the installed one.
    probe = ("import json, ratchetpy, autobahn, twisted\n"
             "from ratchetpy.server.flow import MAX_SEND_BUFFER\n"
             "print(json.dumps({'ratchetpy': getattr(ratchetpy, '__version__', '?'), "
             "'ratchetpy_file': ratchetpy.__file__, 'autobahn': autobahn.__version__, "
             "'twisted': twisted.__version__, 'max_send_buffer': MAX_SEND_BUFFER}))")
    r = subprocess.run([python, "-c", probe], cwd="/", capture_output=True, text=True)
    if r.returncode:
        last = r.stderr.strip().splitlines()[-1:] or [""]
        problems.append("ratchetpy is not installed in this venv: `pip install .` from the repository root ("
                        + last[0] + ")")
    else:
        info = json.loads(r.stdout)
        where = info["ratchetpy_file"]
        if Path(where).resolve().is_relative_to(REPO) and "site-packages" not in where:
            print(f"note: ratchetpy is imported from the checkout ({info['ratchetpy_file']}), "
                  "an editable install; fine, but `pip install .` measures what users get", file=sys.stderr)
    if problems:
        sys.exit("bench/run.py: cannot run:\n  " + "\n  ".join(problems))
    return info


def run(args) -> Path:
    python = sys.executable
    twistd = str(Path(python).with_name("twistd"))
    info = check_setup(python, twistd)
    out = Path(args.out or Path(os.environ.get("TMPDIR", "/tmp")) / "ratchetpy-bench" / time.strftime("%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "versions.json").write_text(json.dumps(info, indent=2))

    ncpu = os.cpu_count() or 1
    server_cpu, client_cpu = args.server_cpu, args.client_cpu
    if ncpu < 2:
        print("warning: one core only: server and generator share it", file=sys.stderr)
        server_cpu = client_cpu = "0"

    env = dict(os.environ)
    env.update({
        "REPS": "1",  # one repetition per call; we loop, so servers alternate within a rep
        "QUICK": "1" if args.quick else "0",
        "SCENARIOS": " ".join(args.scenarios),
        "OUT": str(out),
        "PY": python,
        "SERVER_CPU": str(server_cpu),
        "CLIENT_CPU": str(client_cpu),
        "QUIET_WAIT": str(args.quiet_wait),
    })
    specs = server_specs(python, twistd, args.ratchetpy_arg)
    cmd = ["bash", str(RUN_BASELINES)]
    for s in specs:
        cmd += ["--server", s]
    print(f"ratchetpy {info.get('ratchetpy')} ({info.get('ratchetpy_file')}), autobahn {info.get('autobahn')}, "
          f"twisted {info.get('twisted')}; server on cpu {server_cpu}, generator on cpu {client_cpu}; "
          f"{args.reps} rep(s){' (quick)' if args.quick else ''}; results in {out}", flush=True)
    for rep in range(1, args.reps + 1):
        print(f"--- repetition {rep}/{args.reps}", flush=True)
        with open(out / "run_baselines.out", "a") as log:
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for line in p.stdout:
                log.write(line)
                if line.startswith(("==", "server died", "server did not", "WARNING", "no free port")):
                    print("   " + line.rstrip(), flush=True)
            if p.wait():
                print(f"run_baselines.sh exited with status {p.returncode}", file=sys.stderr)
    return out


# ---- summary ------------------------------------------------------------------------

def get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


# (label, bench, metric path, unit scale, unit, higher is better, target: (vs, min ratio) or (vs, max ratio))
ROWS = [
    ("echo msg/s, 100 conns x 32 B", "echo", "msgs_per_s", 1, "", True, [(BASE, ">=", 0.95)]),
    ("pipelined echo msg/s (16 in flight)", "echo-pipelined", "msgs_per_s", 1, "", True, []),
    ("4 KiB echo msg/s", "echo-4k", "msgs_per_s", 1, "", True, []),
    ("broadcast deliveries/s, 1,000 receivers", "broadcast", "deliveries_per_s", 1, "", True,
     [(PREPARED, ">=", 1.0), (BASE, ">=", 1.5)]),
    ("handshakes/s (connect scenario)", "connect", "conns_per_s", 1, "", True, [(BASE, ">=", 0.9)]),
    ("RSS per idle conn (KiB)", "connect", "server_rss_bytes_per_conn", 1 / 1024, "", False, [(BASE, "<=", 1.1)]),
    ("slow reader: server RSS growth (MB)", "slow-reader", "server_rss_growth_mb", 1, "", False, []),
]


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) >= 1 else f"{v:.2f}"


def fmt_ratio(r):
    if r is None:
        return "-"
    return f"{r:.2f}x" if r >= 0.01 else "<0.01x"


def summarize(out: Path, max_send_buffer: int | None) -> str:
    groups: dict = {}
    errors: dict = {}
    raw = out / "raw.jsonl"
    if raw.exists():
        for line in raw.read_text().splitlines():
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            key = (r.get("target"), r.get("bench"))
            groups.setdefault(key, []).append(r)
            if r.get("error"):
                errors.setdefault(key, []).append(str(r["error"])[:120])

    def values(server, bench, path, scale):
        vs = [get(r, path) for r in groups.get((server, bench), [])]
        return [v * scale for v in vs if isinstance(v, (int, float)) and not isinstance(v, bool)]

    servers = [RATCHETPY, BASE, PREPARED]
    lines = ["| scenario | " + " | ".join(servers) + " | ratchetpy / autobahn | ratchetpy / prepared | target |",
             "|---|" + "---:|" * (len(servers) + 2) + "---|"]
    for label, bench, path, scale, _unit, _higher, targets in ROWS:
        meds = {}
        cells = []
        for s in servers:
            vs = values(s, bench, path, scale)
            meds[s] = statistics.median(vs) if vs else None
            if meds[s] is None:
                cells.append("-")
            else:
                spread = ""
                if len(vs) > 1 and meds[s]:
                    spread = f" ±{round(100 * (max(vs) - min(vs)) / 2 / abs(meds[s]))}%"
                cells.append(fmt(meds[s]) + spread)

        def ratio(vs_name, meds=meds):
            a, b = meds[RATCHETPY], meds[vs_name]
            if a is None or b is None or b == 0:
                return None
            return a / b

        ratios = {BASE: ratio(BASE), PREPARED: ratio(PREPARED)}
        verdicts = []
        for vs_name, op, bound in targets:
            rv = ratios[vs_name]
            ok = None if rv is None else (rv >= bound if op == ">=" else rv <= bound)
            tag = "?" if ok is None else ("ok" if ok else "MISS")
            verdicts.append(f"{op} {bound}x {'prepared' if vs_name == PREPARED else 'autobahn'}: {tag}")
        if bench == "slow-reader" and max_send_buffer:
            g = meds[RATCHETPY]
            limit_mb = max_send_buffer / 1e6
            # RSS growth also counts interpreter/allocator noise: allow a few MB over the buffer limit.
            ok = None if g is None else g <= limit_mb + 4
            verdicts.append(f"ratchetpy growth <= max-send-buffer ({limit_mb:.1f} MB) + 4 MB noise: "
                            + ("?" if ok is None else ("ok" if ok else "MISS")))
        if bench in ("connect", "broadcast"):
            label = label.replace(", 1,000 receivers", "")
            opened = [r.get("opened") for s in servers for r in groups.get((s, bench), []) if r.get("opened")]
            if opened:
                label = f"{label}, {max(opened):,} {'receivers' if bench == 'broadcast' else 'conns'}"
        lines.append(f"| {label} | " + " | ".join(cells) + " | "
                     + " | ".join(fmt_ratio(ratios[v]) for v in (BASE, PREPARED))
                     + " | " + "; ".join(verdicts) + " |")

    notes = []
    for (server, bench), rs in sorted(groups.items()):
        n = len(rs)
        if bench == "broadcast":
            inc = [r for r in rs if r.get("complete") is False]
            if inc:
                notes.append(f"{server} broadcast: {len(inc)}/{n} runs did not deliver every message")
        if bench == "connect":
            for r in rs:
                if r.get("opened") is not None and r.get("conns") and r["opened"] < r["conns"]:
                    notes.append(f"{server} connect: opened {r['opened']}/{r['conns']}")
    for key, errs in errors.items():
        notes.append(f"{key[0]} {key[1]}: errors {errs[:2]}")
    text = "\n".join(lines)
    text += ("\n\nMedians of the repetitions (± half the range); ratios are of medians. "
             "Lower is better for RSS and growth.")
    if notes:
        text += "\n\nNotes:\n" + "\n".join("- " + n for n in notes)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See bench/README.md.")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep, 2 s windows, 1,000 conns, 200 receivers")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of each scenario (default: $REPS or 3; 1 with --quick)")
    ap.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                    help="comma list among: " + ", ".join(DEFAULT_SCENARIOS + ["broadcast-paced"]))
    ap.add_argument("--server-cpu", default=os.environ.get("SERVER_CPU", "0"))
    ap.add_argument("--client-cpu", default=os.environ.get("CLIENT_CPU", "1"))
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="seconds to wait for a quiet machine before each run (default 10; 2 with --quick)")
    ap.add_argument("--ratchetpy-arg", action="append", default=[],
                    help="extra `twistd ratchetpy` option for the ratchetpy servers (repeatable), "
                    "e.g. --ratchetpy-arg=--keepalive=0")
    ap.add_argument("--out", help="results directory (default $TMPDIR/ratchetpy-bench/<timestamp>)")
    ap.add_argument("--summarize", metavar="DIR", help="only print the table for an earlier run's results directory")
    args = ap.parse_args(argv)
    if args.summarize:
        d = Path(args.summarize)
        info = json.loads((d / "versions.json").read_text()) if (d / "versions.json").exists() else {}
        print(summarize(d, info.get("max_send_buffer")))
        return 0
    if args.reps is None:
        args.reps = 1 if args.quick else int(os.environ.get("REPS", "3"))
    if args.quiet_wait is None:
        args.quiet_wait = 2 if args.quick else 10
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    out = run(args)
    info = json.loads((out / "versions.json").read_text())
    print()
    print(summarize(out, info.get("max_send_buffer")))
    print(f"\nraw results and logs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
