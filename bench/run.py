#!/usr/bin/env python3
"""
Benchmark ratchetpy side by side with bare Autobahn.

    pip install .                                  # the ratchetpy under test is the INSTALLED one
    (cd bench/load && npm ci)                       # the load generator (Node.js ws), once
    python bench/run.py                            # full run: 3 reps of every scenario
    python bench/run.py --quick                    # smoke run: 1 rep, short durations, small sizes
    REPS=5 python bench/run.py                     # or --reps 5
    PYTHONPATH=$PWD python bench/run.py --baseline /tmp/ratchetpy-base  # the working tree (no install)
                                                   # and an older checkout: "vs baseline" column

Run it from the venv that holds the ratchetpy to measure: the servers are started
with the `twistd` next to `sys.executable`, the peer servers with `sys.executable`.
Not part of the test suite.

Servers, each started fresh for every scenario and repetition:
  ratchetpy           twistd -n ratchetpy --component examples.echo:Echo (echo scenarios)
                      or examples.chat:Chat (broadcast), --max-connections-per-ip 0
  autobahn            bench/servers/autobahn_server.py (framing per connection)
  autobahn-prepared   the same with --prepared (prepareMessage: frame once), broadcast only
  twisted-floor       bench/twisted_floor.py: a toy Twisted server (Python framing, no validation,
                      no limits), the floor of what the reactor costs per message
  twisted-floor-wt    the same with --write-through (send at once when nothing is queued)
  ratchetpy-baseline  with --baseline DIR only: as ratchetpy, but ratchetpy and examples imported
                      from DIR (env -C DIR PYTHONPATH=DIR twistd ...), another checkout
  ratchetpy-metrics   with --metrics only: as ratchetpy, with --metrics tcp:0:interface=127.0.0.1

Scenarios (bench/load/loadgen.js): echo (100 conns x 32 B, closed loop), pipelined
echo (16 in flight per conn), 4 KiB echo, broadcast to 1,000 receivers, handshakes/s and RSS
per idle connection at 10,000 connections (from the ws client, from raw sockets, and from raw
sockets in C: bench/load/rawconnect.c, compiled by run_baselines.sh), slow reader (server RSS growth).

The runs themselves are done by bench/run_baselines.sh (server pinned to core
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
# The load generator, peer servers and runner in bench/ (copied from the team's ../shared/bench), or
# $RATCHETPY_SHARED/bench.
SHARED_BENCH = Path(os.environ["RATCHETPY_SHARED"]) / "bench" if os.environ.get("RATCHETPY_SHARED") else REPO / "bench"
RUN_BASELINES = SHARED_BENCH / "run_baselines.sh"
LOADGEN_DIR = SHARED_BENCH / "load"

DEFAULT_SCENARIOS = ["echo", "echo-pipelined", "echo-4k", "broadcast", "connect", "connect-raw", "connect-c",
                     "slow-reader"]
BASE = "autobahn"
PREPARED = "autobahn-prepared"
FLOOR = "twisted-floor"
FLOOR_WT = "twisted-floor-wt"
FLOOR_SERVER = REPO / "bench" / "twisted_floor.py"
RATCHETPY = "ratchetpy"
BASELINE = "ratchetpy-baseline"
# With --metrics: ratchetpy with --metrics on (a metrics endpoint of its own, and the hot path recording).
METRICS = "ratchetpy-metrics"


def server_specs(python: str, twistd: str, extra: list[str], baseline: Path | None = None,
                 baseline_first: bool = False, metrics: bool = False) -> list[str]:
    """run_baselines.sh --server specs: NAME|MODES|COMMAND (run from bench/)."""

    def ratchetpy(component: str, root: Path = REPO, pythonpath: Path | None = None, more: tuple = ()) -> str:
        # env -C: examples.* are imported from the repository root (the plugin puts the
        # current directory on sys.path after ratchetpy itself is imported, so the
        # installed ratchetpy is the one measured). exec'ed: its PID is the server's.
        # The baseline's PYTHONPATH=DIR replaces any inherited one: ratchetpy, its twistd
        # plugin and examples all come from DIR (check_setup probes exactly this).
        env = [f"PYTHONPATH={pythonpath}"] if pythonpath else []
        argv = ["env", "-C", str(root), *env, twistd, "-n", "--pidfile=", "ratchetpy",
                "--component", component, "--port", "tcp:{port}:interface=127.0.0.1",
                "--max-connections-per-ip", "0", "--shutdown-timeout", "0", *extra, *more]
        return " ".join(shlex.quote(a) if "{port}" not in a else a for a in argv)

    peer = f"{shlex.quote(python)} servers/autobahn_server.py {{port}} {{mode}}"
    ours = []
    for mode, component in (("echo", "examples.echo:Echo"), ("chat", "examples.chat:Chat")):
        pair = [f"{RATCHETPY}|{mode}|{ratchetpy(component)}"]
        if baseline is not None:
            # Right after (or before) ratchetpy's runs of the same mode, the order swapped
            # every other repetition: drift of the machine's load over a repetition does
            # not always favour the same one.
            b = f"{BASELINE}|{mode}|{ratchetpy(component, baseline, baseline)}"
            pair = [b, *pair] if baseline_first else [*pair, b]
        if metrics:
            # Beside ratchetpy, in the same alternating order as the baseline.
            m = f"{METRICS}|{mode}|{ratchetpy(component, more=('--metrics', 'tcp:0:interface=127.0.0.1'))}"
            pair = [m, *pair] if baseline_first else [*pair, m]
        ours += pair
    floor = f"{shlex.quote(python)} {shlex.quote(str(FLOOR_SERVER))} {{port}} {{mode}}"
    return [
        *ours,
        f"{BASE}|echo,chat|{peer}",
        f"{PREPARED}|chat|{peer} --prepared",
        # The toys have no limits: the slow reader would grow them without bound.
        f"{FLOOR}|echo,chat|{floor}|echo,echo-pipelined,echo-4k,broadcast,connect,connect-raw,connect-c",
        f"{FLOOR_WT}|echo,chat|{floor} --write-through|echo,echo-pipelined,echo-4k,broadcast",
    ]


def _pythonpath() -> list[str]:
    return [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]


def _git_rev(d: Path) -> str:
    """Short commit of checkout d, "+ uncommitted changes" if its tree differs; "?" if not a git checkout."""
    r = subprocess.run(["git", "-C", str(d), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if r.returncode:
        return "?"
    st = subprocess.run(["git", "-C", str(d), "status", "--porcelain", "--untracked-files=no"],
                        capture_output=True, text=True)
    return r.stdout.strip() + (" + uncommitted changes" if st.stdout.strip() else "")


# What a ratchetpy-baseline server imports: run as it is (cwd DIR, PYTHONPATH=DIR).
BASELINE_PROBE = """\
import json, ratchetpy, ratchetpy.tap, examples.echo, examples.chat
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
try:
    from ratchetpy.server.flow import MAX_SEND_BUFFER
except ImportError:
    MAX_SEND_BUFFER = None
print(json.dumps({'ratchetpy': getattr(ratchetpy, '__version__', '?'), 'ratchetpy_file': ratchetpy.__file__,
                  'tap_file': ratchetpy.tap.__file__, 'examples': [examples.echo.__file__, examples.chat.__file__],
                  'plugin': any(p.tapname == 'ratchetpy' for p in getPlugins(IServiceMaker)),
                  'max_send_buffer': MAX_SEND_BUFFER}))
"""


def check_baseline(python: str, d: Path) -> tuple[dict, list[str]]:
    """Probe what the ratchetpy-baseline servers will import: every file must come from d."""
    if "|" in str(d):
        return {}, [f"--baseline {d}: a '|' in the path cannot go into a run_baselines.sh server spec"]
    if not (d / "ratchetpy" / "__init__.py").is_file() or not (d / "examples").is_dir():
        return {}, [f"--baseline {d}: not a ratchetpy checkout (no ratchetpy/__init__.py and examples/), "
                    "e.g. `git worktree add /tmp/ratchetpy-base <commit>`"]
    env = {**os.environ, "PYTHONPATH": str(d)}
    r = subprocess.run([python, "-c", BASELINE_PROBE], cwd=d, env=env, capture_output=True, text=True)
    if r.returncode:
        last = r.stderr.strip().splitlines()[-1:] or [""]
        return {}, [f"--baseline {d}: cannot import its ratchetpy and examples with PYTHONPATH={d}: {last[0]}"]
    info = json.loads(r.stdout)
    problems = []
    files = [info["ratchetpy_file"], info["tap_file"], *info["examples"]]
    foreign = [f for f in files if not Path(f).resolve().is_relative_to(d)]
    if foreign:
        problems.append(f"--baseline {d}: PYTHONPATH={d} still imports {', '.join(foreign)} from elsewhere")
    if not info["plugin"]:
        problems.append(f"--baseline {d}: twistd finds no `ratchetpy` plugin (twisted/plugins/ratchetpy_plugin.py)")
    info["dir"] = str(d)
    info["commit"] = _git_rev(d)
    return info, problems


def check_setup(python: str, twistd: str, baseline: Path | None = None) -> dict:
    problems = []
    if not RUN_BASELINES.exists():
        problems.append(f"{RUN_BASELINES} not found: bench/ is incomplete (or RATCHETPY_SHARED points elsewhere)")
    if not (LOADGEN_DIR / "node_modules" / "ws").is_dir():
        # Or a ws that node finds from there by other means (NODE_PATH, a node_modules further up).
        try:
            r = subprocess.run([os.environ.get("NODE", "node"), "-e", f"require.resolve('ws', {{paths: "
                                f"[{json.dumps(str(LOADGEN_DIR))}]}})"], capture_output=True, text=True)
            found = r.returncode == 0
        except OSError:
            found = False
        if not found:
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
        if _pythonpath():
            problems.append(f"ratchetpy does not import with PYTHONPATH={os.environ['PYTHONPATH']} ({last[0]})")
        else:
            problems.append("ratchetpy is not installed in this venv: `pip install .` from the repository root, "
                            f"or PYTHONPATH={REPO} to measure the working tree (" + last[0] + ")")
    else:
        info = json.loads(r.stdout)
        where = Path(info["ratchetpy_file"]).resolve()
        via = [e for e in _pythonpath() if where.is_relative_to(Path(e).resolve())]
        if via and where.is_relative_to(REPO):
            # PYTHONPATH=<repo>: the working tree as it is, no install. The servers inherit it.
            print(f"note: ratchetpy is imported from the working tree through PYTHONPATH ({info['ratchetpy_file']}), "
                  "not from an installed copy: fine for development and --baseline comparisons; "
                  "`pip install .` measures what users get", file=sys.stderr)
        elif via:
            # The ratchetpy servers would run that ratchetpy with this checkout's examples.
            problems.append(f"PYTHONPATH={os.environ['PYTHONPATH']} makes ratchetpy import from "
                            f"{info['ratchetpy_file']}, outside this checkout ({REPO}): unset it (or set "
                            f"PYTHONPATH={REPO}); to measure another checkout use --baseline DIR")
        elif where.is_relative_to(REPO) and "site-packages" not in info["ratchetpy_file"]:
            print(f"note: ratchetpy is imported from the checkout ({info['ratchetpy_file']}), "
                  "an editable install; fine, but `pip install .` measures what users get", file=sys.stderr)
    if baseline is not None:
        binfo, bproblems = check_baseline(python, baseline)
        problems += bproblems
        if binfo:
            if baseline == REPO:
                print(f"note: --baseline {baseline} is this checkout: an A/A run (noise of the comparison)",
                      file=sys.stderr)
            info["baseline"] = binfo
    if problems:
        sys.exit("bench/run.py: cannot run:\n  " + "\n  ".join(problems))
    if baseline is not None:
        info["commit"] = _git_rev(REPO)
    return info


def run(args) -> Path:
    python = sys.executable
    twistd = str(Path(python).with_name("twistd"))
    info = check_setup(python, twistd, args.baseline)
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
    print(f"ratchetpy {info.get('ratchetpy')} ({info.get('ratchetpy_file')}), autobahn {info.get('autobahn')}, "
          f"twisted {info.get('twisted')}; server on cpu {server_cpu}, generator on cpu {client_cpu}; "
          f"{args.reps} rep(s){' (quick)' if args.quick else ''}; results in {out}", flush=True)
    if args.baseline:
        b = info["baseline"]
        print(f"{RATCHETPY} = {REPO} at {info['commit']}: {info['ratchetpy_file']}\n"
              f"{BASELINE} = {b['dir']} at {b['commit']}: ratchetpy {b['ratchetpy']} ({b['ratchetpy_file']}), "
              f"examples from {os.path.dirname(b['examples'][0])}", flush=True)
    for rep in range(1, args.reps + 1):
        specs = server_specs(python, twistd, args.ratchetpy_arg, args.baseline, baseline_first=rep % 2 == 0,
                             metrics=args.metrics)
        cmd = ["bash", str(RUN_BASELINES)]
        for s in specs:
            cmd += ["--server", s]
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
    # Targets: issue 13's (the floor, where a run has it) and issue 5's.
    ("echo msg/s, 100 conns x 32 B", "echo", "msgs_per_s", 1, "", True, [(BASE, ">=", 0.95), (FLOOR, ">=", 1.0)]),
    ("pipelined echo msg/s (16 in flight)", "echo-pipelined", "msgs_per_s", 1, "", True, [(FLOOR, ">=", 0.9)]),
    ("4 KiB echo msg/s", "echo-4k", "msgs_per_s", 1, "", True, [(BASE, ">=", 1.5)]),
    ("echo: server CPU µs per message", "echo", "cpu_us_per_msg", 1, "", False, []),
    ("broadcast deliveries/s, 1,000 receivers", "broadcast", "deliveries_per_s", 1, "", True,
     [(PREPARED, ">=", 1.0), (BASE, ">=", 1.5)]),
    ("broadcast: server CPU µs per delivery", "broadcast", "cpu_us_per_delivery", 1, "", False,
     [(FLOOR, "<=", 1.2)]),
    ("handshakes/s (connect scenario)", "connect", "conns_per_s", 1, "", True, [(BASE, ">=", 0.9), (BASE, ">=", 1.5)]),
    ("connect: server CPU µs per handshake", "connect", "cpu_us_per_handshake", 1, "", False, []),
    # The same handshakes from plain sockets with one fixed request: the ws
    # client's own cost per handshake no longer sets the rate.
    ("handshakes/s, raw-socket client", "connect-raw", "conns_per_s", 1, "", True, [(BASE, ">=", 1.5)]),
    ("connect-raw: server CPU µs per handshake", "connect-raw", "cpu_us_per_handshake", 1, "", False, []),
    # And from bench/load/rawconnect.c (one epoll loop in C): the Node generator costs
    # about as much CPU per handshake as the server, so on two cores it set the rate.
    ("handshakes/s, C raw-socket client", "connect-c", "conns_per_s", 1, "", True, [(BASE, ">=", 1.5)]),
    ("connect-c: server CPU µs per handshake", "connect-c", "cpu_us_per_handshake", 1, "", False, []),
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


def derive(r: dict) -> None:
    """
    Add the server's CPU time per message (echo), per delivery (broadcast)
    and per handshake (connect), in µs: its CPU share over the generator's
    window divided by the rate (for broadcast the window is a little longer
    than the delivery, so this is an upper bound).
    """
    cpu = get(r, "server.cpu_pct")
    if not isinstance(cpu, (int, float)):
        return
    for rate, name in (("msgs_per_s", "cpu_us_per_msg"), ("deliveries_per_s", "cpu_us_per_delivery"),
                       ("conns_per_s", "cpu_us_per_handshake")):
        v = r.get(rate)
        if isinstance(v, (int, float)) and v > 0:
            r[name] = cpu / 100 * 1e6 / v


def summarize(out: Path, max_send_buffer: int | None, baseline: dict | None = None) -> str:
    groups: dict = {}
    errors: dict = {}
    raw = out / "raw.jsonl"
    if raw.exists():
        for line in raw.read_text().splitlines():
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            derive(r)
            key = (r.get("target"), r.get("bench"))
            groups.setdefault(key, []).append(r)
            if r.get("error"):
                errors.setdefault(key, []).append(str(r["error"])[:120])

    def values(server, bench, path, scale):
        vs = [get(r, path) for r in groups.get((server, bench), [])]
        return [v * scale for v in vs if isinstance(v, (int, float)) and not isinstance(v, bool)]

    # The baseline's columns only for a --baseline run: otherwise the table is as it always was.
    with_baseline = bool(baseline) or any(server == BASELINE for server, _ in groups)
    with_floor = any(server in (FLOOR, FLOOR_WT) for server, _ in groups)
    with_metrics = any(server == METRICS for server, _ in groups)
    servers = [RATCHETPY, *([METRICS] if with_metrics else []), *([BASELINE] if with_baseline else []), BASE,
               PREPARED, *([FLOOR, FLOOR_WT] if with_floor else [])]
    ratio_heads = ["ratchetpy / autobahn", "ratchetpy / prepared", *(["vs baseline"] if with_baseline else []),
                   *(["ratchetpy / floor"] if with_floor else []), *(["metrics on / off"] if with_metrics else [])]
    lines = ["| scenario | " + " | ".join(servers + ratio_heads) + " | target |",
             "|---|" + "---:|" * (len(servers) + len(ratio_heads)) + "---|"]
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
        if with_baseline:
            ratios[BASELINE] = ratio(BASELINE)
        if with_floor:
            ratios[FLOOR] = ratio(FLOOR)
        if with_metrics:
            on, off = meds[METRICS], meds[RATCHETPY]
            ratios[METRICS] = None if on is None or not off else on / off
        verdicts = []
        for vs_name, op, bound in targets:
            if vs_name == FLOOR and not with_floor:
                continue
            rv = ratios.get(vs_name)
            ok = None if rv is None else (rv >= bound if op == ">=" else rv <= bound)
            tag = "?" if ok is None else ("ok" if ok else "MISS")
            vs = {PREPARED: "prepared", FLOOR: "floor"}.get(vs_name, "autobahn")
            verdicts.append(f"{op} {bound}x {vs}: {tag}")
        if bench == "slow-reader" and max_send_buffer:
            g = meds[RATCHETPY]
            limit_mb = max_send_buffer / 1e6
            # RSS growth also counts interpreter/allocator noise: allow a few MB over the buffer limit.
            ok = None if g is None else g <= limit_mb + 4
            verdicts.append(f"ratchetpy growth <= max-send-buffer ({limit_mb:.1f} MB) + 4 MB noise: "
                            + ("?" if ok is None else ("ok" if ok else "MISS")))
        if bench in ("connect", "connect-raw", "connect-c", "broadcast"):
            label = label.replace(", 1,000 receivers", "")
            opened = [r.get("opened") for s in servers for r in groups.get((s, bench), []) if r.get("opened")]
            if opened:
                label = f"{label}, {max(opened):,} {'receivers' if bench == 'broadcast' else 'conns'}"
        lines.append(f"| {label} | " + " | ".join(cells) + " | "
                     + " | ".join(fmt_ratio(ratios[v]) for v in ratios)
                     + " | " + "; ".join(verdicts) + " |")

    notes = []
    for (server, bench), rs in sorted(groups.items()):
        n = len(rs)
        if bench == "broadcast":
            inc = [r for r in rs if r.get("complete") is False]
            if inc:
                notes.append(f"{server} broadcast: {len(inc)}/{n} runs did not deliver every message")
        if bench in ("connect", "connect-raw", "connect-c"):
            for r in rs:
                if r.get("opened") is not None and r.get("conns") and r["opened"] < r["conns"]:
                    notes.append(f"{server} connect: opened {r['opened']}/{r['conns']}")
    for key, errs in errors.items():
        notes.append(f"{key[0]} {key[1]}: errors {errs[:2]}")
    text = "\n".join(lines)
    text += ("\n\nMedians of the repetitions (± half the range); ratios are of medians. "
             "Lower is better for RSS and growth.")
    if with_baseline:
        where = f" ({baseline['dir']} at {baseline['commit']})" if baseline else ""
        text += f" vs baseline = ratchetpy / {BASELINE}{where}."
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
    ap.add_argument("--baseline", metavar="DIR",
                    help="another ratchetpy checkout (e.g. a `git worktree` of an older commit): also run "
                    f"its echo and chat servers as {BASELINE} and add a `vs baseline` column")
    ap.add_argument("--metrics", action="store_true",
                    help=f"also run ratchetpy with --metrics on, as {METRICS}, and add a `metrics on / off` column")
    ap.add_argument("--out", help="results directory (default $TMPDIR/ratchetpy-bench/<timestamp>)")
    ap.add_argument("--summarize", metavar="DIR", help="only print the table for an earlier run's results directory")
    args = ap.parse_args(argv)
    if args.summarize:
        d = Path(args.summarize)
        info = json.loads((d / "versions.json").read_text()) if (d / "versions.json").exists() else {}
        print(summarize(d, info.get("max_send_buffer"), info.get("baseline")))
        return 0
    if args.baseline:
        args.baseline = Path(args.baseline).resolve()
    if os.environ.get("PYTHONPATH"):
        # The probes and the servers run in other directories: relative entries would change meaning.
        os.environ["PYTHONPATH"] = os.pathsep.join(os.path.abspath(e) if e else e
                                                   for e in os.environ["PYTHONPATH"].split(os.pathsep))
    if args.reps is None:
        args.reps = 1 if args.quick else int(os.environ.get("REPS", "3"))
    if args.quiet_wait is None:
        args.quiet_wait = 2 if args.quick else 10
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    out = run(args)
    info = json.loads((out / "versions.json").read_text())
    print()
    print(summarize(out, info.get("max_send_buffer"), info.get("baseline")))
    print(f"\nraw results and logs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
