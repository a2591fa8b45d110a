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
    lines = [
        "| scenario | dag wall | dag tasks/s | make wall | make tasks/s | dag/make | dag RSS | make RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, n, dw, mw, dr, mr, jobs in rows:
        lines.append(
            f"| {name} (make -j{jobs}) | {dw:.3f}s | {n / dw:,.0f} | {mw:.3f}s | {n / mw:,.0f} "
            f"| {dw / mw:.2f} | {dr / 1024:.1f} MiB | {mr / 1024:.1f} MiB |"
        )
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
