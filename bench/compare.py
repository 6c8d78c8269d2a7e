"""BatChat side by side with the design's floor and miniircd, in alternating rounds.

    python3 bench/compare.py --chatload /tmp/chatload \\
        --floor /path/to/floor_threaded.py --miniircd /tmp/miniircd/miniircd

Each round runs every scenario against every server, one after the other
(BatChat, the floor, miniircd, then the next scenario), so a machine that
speeds up or slows down during the run touches all of them alike; the table
gives the median of the rounds. Each server starts fresh on a free loopback
port and is driven by ``chatload`` (C, one epoll loop: not the bottleneck);
the server's CPU time (user + system, logins included) comes from ``/proc``.
miniircd speaks IRC, so chatload drives it with ``--proto irc``; broadcast
there is a channel, ``#bench``. Neither the floor nor miniircd is part of this
repository: pass their paths. ``--before`` adds another copy of BatChat (an
older commit checked out elsewhere, ``git worktree add``) as "antes", in the
same rounds; ``--batchat`` measures another copy instead of this one.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import NO_LIMITS, READY_RE  # noqa: E402  (after the path is set)


@dataclass(frozen=True)
class Case:
    name: str
    clients: int
    messages: int
    window: int
    broadcast: bool = False


CASES = [
    Case("unicast-100", 100, 2000, 16),
    Case("unicast-1000", 1000, 200, 4),
    Case("broadcast-100", 100, 20000, 16, broadcast=True),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(kind: str, args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    """One server, ready to take connections: the process and its port (its log is a file
    in ``folder``, which the caller removes)."""
    with (folder / f"{kind}.log").open("w") as log:  # the child keeps its own copy of the descriptor
        return _start(kind, args, folder, log)


def _start(kind: str, args: argparse.Namespace, folder: Path, log: Any) -> tuple[subprocess.Popen[bytes], int]:
    if kind in ("batchat", "antes"):
        tree = args.batchat if kind == "batchat" else args.before
        command = [sys.executable, str(Path(tree) / "servidor.py"), "--host", "127.0.0.1", "--port", "0",
                   "--users", str(folder / "users.json"), "--hash-cost", "4", "--log-level", "WARNING", *NO_LIMITS]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        return process, _batchat_port(process, folder / f"{kind}.log")
    port = free_port()
    if kind == "floor":
        command = [sys.executable, args.floor, str(port)]
    else:
        command = [sys.executable, args.miniircd, "--listen", "127.0.0.1", "--ports", str(port)]
        command += ["--setuid", "root"] if os.geteuid() == 0 else []  # it refuses root otherwise
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    _wait_listening(process, port)
    return process, port


def _batchat_port(process: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 30
    while not (match := READY_RE.search(log.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"o servidor não subiu:\n{log.read_text()}")
        time.sleep(0.05)  # a benchmark's start-up, not a test: polling is fine
    return int(match.group(1))


def _wait_listening(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"o servidor na porta {port} não subiu") from None
            time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(kind: str, case: Case, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        process, port = start(kind, args, Path(folder))
        try:
            command = [args.chatload, "--port", str(port), "--clients", str(case.clients),
                       "--messages", str(case.messages), "--window", str(case.window), "--timeout", "300",
                       "--proto", "irc" if kind == "miniircd" else "batchat"]
            command += ["--broadcast"] if case.broadcast else []
            # miniircd listens with a backlog of 5: more connections at once are reset.
            command += ["--wave", "4"] if kind == "miniircd" else []
            output = subprocess.run(command, capture_output=True, text=True, timeout=900).stdout
            result = dict(item.split("=", 1) for item in output.split() if "=" in item)
            cpu = cpu_seconds(process.pid)
        finally:
            process.kill()
            process.wait()
    delivered = int(result.get("delivered", 0))
    return {
        "ok": result.get("ok") == "1", "msgs_per_s": float(result.get("msgs_per_s", 0)),
        "p99_ms": float(result.get("p99_ms", -1)), "cpu_us_per_delivery": cpu * 1e6 / delivered if delivered else None,
    }


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    """The median over the complete rounds (an incomplete one says nothing of the rate)."""
    values = [row[key] for row in rows if row["ok"] and row.get(key) is not None and row[key] >= 0]
    return statistics.median(values) if values else None


def table(results: dict[str, dict[str, list[dict[str, Any]]]], kinds: list[str]) -> str:
    lines = ["| cenário | servidor | entregas/s (mediana) | rodadas | p99 (ms) | CPU por entrega (µs) | × miniircd |",
             "|---|---|---|---|---|---|---|"]
    for case, by_kind in results.items():
        reference = median(by_kind.get("miniircd", []), "msgs_per_s")
        for kind in kinds:
            rows = by_kind[kind]
            rate, cpu, p99 = (median(rows, key) for key in ("msgs_per_s", "cpu_us_per_delivery", "p99_ms"))
            ratio = f"{rate / reference:.2f}" if rate and reference else "–"
            each = ", ".join(f"{row['msgs_per_s']:,.0f}" + ("" if row["ok"] else " (incompleta)") for row in rows)
            lines.append(f"| {case} | {kind} | {rate or 0:,.0f} | {each} | {p99 or 0:.1f} | {cpu or 0:.1f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="O BatChat lado a lado com o piso e o miniircd.")
    parser.add_argument("--chatload", required=True, help="o binário do chatload.c")
    parser.add_argument("--floor", help="o floor_threaded.py (o piso do desenho; fora deste repositório)")
    parser.add_argument("--miniircd", help="o programa miniircd")
    parser.add_argument("--batchat", default=str(ROOT), help="a pasta do BatChat a medir (padrão: esta)")
    parser.add_argument("--before", help="outra cópia do BatChat (um commit anterior), medida como \"antes\"")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="só estes cenários, separados por vírgula (ex.: unicast-100,broadcast-100)")
    parser.add_argument("--json", type=Path, help="gravar as rodadas neste arquivo")
    args = parser.parse_args(argv)
    known = {case.name for case in CASES}
    if args.only and not set(args.only.split(",")) <= known:
        parser.error(f"cenários possíveis: {', '.join(sorted(known))}")
    if args.rounds < 1:
        parser.error("--rounds precisa ser 1 ou mais")
    kinds = ["batchat"] + [kind for kind, given in (("antes", args.before), ("floor", args.floor),
                                                    ("miniircd", args.miniircd)) if given]
    cases = [case for case in CASES if not args.only or case.name in args.only.split(",")]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {case.name: {kind: [] for kind in kinds} for case in cases}
    for round_number in range(args.rounds):
        for case in cases:
            for kind in kinds:
                row = run_case(kind, case, args)
                results[case.name][kind].append(row)
                print(f"rodada {round_number + 1} {case.name} {kind}: {row}", file=sys.stderr, flush=True)
    print(table(results, kinds))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
