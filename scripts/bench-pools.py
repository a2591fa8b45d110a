#!/usr/bin/env python3
"""What pools cost: the same DAG of N `noop` fn tasks with and without a pool,
run alternately --runs times each, in tasks per second.

Distributed (one scheduler, one `dag worker --workers 64`, a real nats-server):
every attempt of a pooled task takes and gives back its slot in the KV bucket
`dag_pools` (two compare-and-set writes, more when runs contend). Local: the
pool is a count in the executor.

    python3 scripts/bench-pools.py [--tasks 1000] [--runs 5]

Uses target/release/dag (build it first: cargo build --release); needs
nats-server on PATH for the distributed figures.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import cpu, find_dag  # noqa: E402
from bench import Nats  # noqa: E402


def write(path, n, pool):
    with open(path, "w") as f:
        f.write("name: pooled\n")
        if pool:
            f.write(f"pools: {{ p: {pool} }}\n")
        f.write("tasks:\n")
        for i in range(n):
            extra = ", pool: p" if pool else ""
            f.write(f"  t{i}: {{ type: fn, command: noop{extra} }}\n")


def timed(cmd, cwd):
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    dag, profile = find_dag()
    print(f"{time.strftime('%Y-%m-%d')} · {cpu()} · {os.cpu_count()} CPUs · dag {profile} build · {args.tasks} noop fn tasks")
    variants = [("no pool", None), ("pool of 64 (never full)", 64), ("pool of 8", 8)]
    with tempfile.TemporaryDirectory() as tmp:
        for _, pool in variants:
            write(os.path.join(tmp, f"{pool}.yaml"), args.tasks, pool)
        state = os.path.join(tmp, "state")
        rows = []
        runs = {}
        for _ in range(args.runs):
            for label, pool in variants:
                cmd = [dag, "run", f"{pool}.yaml", "-o", "quiet", "--state-dir", state, "--parallel", "64"]
                runs.setdefault(("local", label), []).append(timed(cmd, tmp))
        if shutil.which("nats-server"):
            nats = Nats(dag, tmp)
            try:
                for _ in range(args.runs):
                    for label, pool in variants:
                        cmd = [dag, "run", f"{pool}.yaml", "-o", "quiet", "--state-dir", state,
                               "--executor", "distributed", "--nats", nats.url]
                        runs.setdefault(("distributed", label), []).append(timed(cmd, tmp))
            finally:
                nats.close()
        else:
            print("note: no nats-server on PATH: distributed figures skipped", file=sys.stderr)
        print("| executor | DAG | tasks/s (min / median / max) | vs no pool (medians) |\n|---|---|---|---|")
        for (executor, label), times in runs.items():
            rates = [args.tasks / t for t in times]
            base = statistics.median(args.tasks / t for t in runs[(executor, "no pool")])
            rows.append(
                f"| {executor} | {label} | {min(rates):,.0f} / {statistics.median(rates):,.0f} / {max(rates):,.0f} "
                f"| {statistics.median(rates) / base:.2f} |"
            )
        print("\n".join(rows))


if __name__ == "__main__":
    main()
