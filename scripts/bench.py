#!/usr/bin/env python3
"""End-to-end benchmarks of `dag run` against GNU make on the same DAG.

Generates DAG shapes, writes each both as a DAG file and as a Makefile, runs both
several times in this one process, and reports the median wall time, tasks/s, the
ratio dag/make and the peak RSS of each (from wait4). With --append, the table is
appended to BENCHMARKS.md with the date, machine and commit.

    scripts/bench.py [--dag target/release/dag] [--runs 5] [--append]
"""

import argparse
import datetime
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def layered(n, width, fan_in, seed=7):
    """n tasks in layers of `width`; each depends on up to `fan_in` tasks of the
    previous layer."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        layer = i // width
        deps = []
        if layer > 0:
            prev = list(range((layer - 1) * width, layer * width))
            deps = sorted(rng.sample(prev, min(fan_in, len(prev))))
        tasks.append((f"t{i}", [f"t{d}" for d in deps]))
    return tasks


def chain(n):
    return [(f"t{i}", [f"t{i - 1}"] if i else []) for i in range(n)]


def fan(width):
    """One task, `width` tasks depending on it, one task depending on them all."""
    tasks = [("start", [])]
    tasks += [(f"t{i}", ["start"]) for i in range(width)]
    tasks.append(("end", [f"t{i}" for i in range(width)]))
    return tasks


def write_dag(path, name, tasks, command):
    with open(path, "w") as f:
        f.write(f"name: {name}\ntasks:\n")
        for tid, deps in tasks:
            f.write(f"  {tid}:\n    command: {command}\n")
            if deps:
                f.write(f"    depends_on: [{', '.join(deps)}]\n")


def write_makefile(path, tasks, command):
    with open(path, "w") as f:
        ids = " ".join(t for t, _ in tasks)
        f.write(f".PHONY: all {ids}\nall: {ids}\n")
        for tid, deps in tasks:
            f.write(f"{tid}: {' '.join(deps)}\n\t@{command}\n")


GNU_TIME = "/usr/bin/time"


def measure(argv, cwd):
    """Wall seconds and peak RSS (KiB) of one run; fails loudly on a non-zero exit.

    The peak RSS comes from GNU time (`%M`): a child forked from this Python process
    would report Python's own RSS, since the high-water mark survives exec."""
    have_time = os.path.exists(GNU_TIME)
    full = [GNU_TIME, "-f", "%M", *argv] if have_time else argv
    start = time.perf_counter()
    proc = subprocess.run(full, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    err = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}:\n{err[-2000:]}")
    rss = int(err.strip().splitlines()[-1]) if have_time else 0
    return wall, rss


def bench(label, argv, cwd, runs):
    measure(argv, cwd)  # warm-up: page cache, binary
    walls, rss = [], []
    for _ in range(runs):
        w, r = measure(argv, cwd)
        walls.append(w)
        rss.append(r)
    return label, statistics.median(walls), max(rss)


def flat(n, command, task_type=None):
    """n independent tasks."""
    return [(f"t{i}", []) for i in range(n)], command, task_type


def write_flat(path, name, n, command, task_type):
    with open(path, "w") as f:
        f.write(f"name: {name}\ntasks:\n")
        for i in range(n):
            kind = f"type: {task_type}, " if task_type else ""
            f.write(f"  t{i}: {{ {kind}command: {command} }}\n")


class Nats:
    """A nats-server on a free loopback port and one `dag worker --workers 64`."""

    def __init__(self, dag, tmp):
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.server = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", os.path.join(tmp, "js")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        self.worker = subprocess.Popen(
            [dag, "worker", "--nats", self.url, "--workers", "64", "--name", "bench"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)

    def close(self):
        for p in (self.worker, self.server):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dag", default="target/release/dag")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--append", action="store_true", help="append the table to BENCHMARKS.md")
    args = ap.parse_args()
    dag = os.path.abspath(args.dag)
    if not os.path.exists(dag):
        sys.exit(f"{dag} not found: build it with `cargo build --release`")
    if not shutil.which("make"):
        sys.exit("GNU make is needed as the peer to compare against")

    scenarios = [
        # (name, tasks, dag args, make -j)
        ("layered 1000 × true, parallel 8", layered(1000, 50, 2), ["--parallel", "8"], 8),
        ("chain 200 × true, sequential", chain(200), ["--executor", "sequential"], 1),
        ("fan-out/fan-in 1 → 500 → 1 × true, parallel 8", fan(500), ["--parallel", "8"], 8),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, tasks, dag_args, jobs in scenarios:
            d = os.path.join(tmp, str(len(rows)))
            os.makedirs(d)
            write_dag(os.path.join(d, "dag.yaml"), "bench", tasks, "true")
            write_makefile(os.path.join(d, "Makefile"), tasks, "true")
            state = os.path.join(d, "state")
            _, dag_wall, dag_rss = bench(
                "dag",
                [dag, "run", "dag.yaml", "--output", "quiet", "--state-dir", state, *dag_args],
                d,
                args.runs,
            )
            _, make_wall, make_rss = bench("make", ["make", "-s", f"-j{jobs}", "all"], d, args.runs)
            rows.append((name, len(tasks), dag_wall, make_wall, dag_rss, make_rss, jobs))

    if not os.path.exists(GNU_TIME):
        print("note: install GNU time (Debian package `time`) for peak RSS figures", file=sys.stderr)
    # Distributed: one scheduler and one worker through a real nats-server, beside the
    # local executor on the same DAG.
    dist_rows = []
    if shutil.which("nats-server"):
        with tempfile.TemporaryDirectory() as tmp:
            nats = Nats(dag, tmp)
            try:
                for name, n, command, task_type in [
                    ("5,000 noop fn tasks", 5000, "noop", "fn"),
                    ("1,000 true bash tasks", 1000, "'true'", None),
                ]:
                    path = os.path.join(tmp, f"{n}.yaml")
                    write_flat(path, "flat", n, command, task_type)
                    state = os.path.join(tmp, "state")
                    base = [dag, "run", path, "--output", "quiet", "--state-dir", state]
                    _, dist_wall, dist_rss = bench("dist", base + ["--executor", "distributed", "--nats", nats.url], tmp, args.runs)
                    _, local_wall, local_rss = bench("local", base + ["--parallel", "64"], tmp, args.runs)
                    dist_rows.append((name, n, dist_wall, local_wall, dist_rss, local_rss))
            finally:
                nats.close()
    else:
        print("note: no nats-server on PATH: distributed figures skipped", file=sys.stderr)

    # Scale: 100,000 noop fn tasks in layers of 100 through the local executor with the
    # file store on; parsing and validating that file; start-up; an idle worker.
    scale_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "100k.yaml")
        with open(path, "w") as f:
            f.write("name: scale\ntasks:\n")
            for i in range(100_000):
                dep = f", depends_on: [t{i - 100}]" if i >= 100 else ""
                f.write(f"  t{i}: {{ type: fn, command: noop{dep} }}\n")
        runs = max(1, args.runs // 2)
        _, wall, rss = bench("100k", [dag, "run", path, "--output", "quiet", "--state-dir", os.path.join(tmp, "st")], tmp, runs)
        scale_rows.append(("100,000 noop fn tasks, local, file store", f"{wall:.2f}s", f"{100_000 / wall:,.0f} tasks/s", f"{rss / 1024:.0f} MiB"))
        _, wall, rss = bench("parse", [dag, "validate", path], tmp, runs)
        scale_rows.append(("parse + validate 100,000 tasks", f"{wall:.2f}s", f"{100_000 / wall:,.0f} tasks/s", f"{rss / 1024:.0f} MiB"))
        walls = []
        for _ in range(20):
            start = time.perf_counter()
            subprocess.run([dag, "--version"], stdout=subprocess.DEVNULL, check=True)
            walls.append(time.perf_counter() - start)
        scale_rows.append(("dag --version", f"{statistics.median(walls) * 1000:.1f}ms", "", ""))
    if shutil.which("nats-server"):
        with tempfile.TemporaryDirectory() as tmp:
            nats = Nats(dag, tmp)
            try:
                time.sleep(2)
                with open(f"/proc/{nats.worker.pid}/status") as f:
                    rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
                scale_rows.append(("idle dag worker (--workers 64)", "", "", f"{rss / 1024:.1f} MiB"))
            finally:
                nats.close()

    lines = [
        "| scenario | dag wall | dag tasks/s | make wall | make tasks/s | dag/make | dag RSS | make RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, n, dw, mw, dr, mr, jobs in rows:
        lines.append(
            f"| {name} (make -j{jobs}) | {dw:.3f}s | {n / dw:,.0f} | {mw:.3f}s | {n / mw:,.0f} "
            f"| {dw / mw:.2f} | {dr / 1024:.1f} MiB | {mr / 1024:.1f} MiB |"
        )
    if dist_rows:
        lines += [
            "",
            "| distributed (1 scheduler + 1 worker, --workers 64) | distributed wall | tasks/s | local (--parallel 64) wall | tasks/s | distributed/local rate | scheduler RSS | local RSS |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, n, dw, lw, dr, lr in dist_rows:
            lines.append(
                f"| {name} | {dw:.3f}s | {n / dw:,.0f} | {lw:.3f}s | {n / lw:,.0f} | {lw / dw:.2f} | {dr / 1024:.1f} MiB | {lr / 1024:.1f} MiB |"
            )
    lines += ["", "| scale | wall | rate | peak RSS |", "|---|---|---|---|"]
    for row in scale_rows:
        lines.append("| " + " | ".join(row) + " |")
    table = "\n".join(lines)
    print(table)
    if args.append:
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = "unknown"
        cpu = "unknown cpu"
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        header = (
            f"\n## {datetime.date.today().isoformat()} · commit {commit} · {os.cpu_count()} CPUs ({cpu}) · "
            f"{platform.system()} {platform.release()} · median of {args.runs} runs\n\n"
        )
        with open("BENCHMARKS.md", "a") as f:
            f.write(header + table + "\n")


if __name__ == "__main__":
    main()
