#!/usr/bin/env python3
"""What a sub-DAG costs: N `dag` tasks, each running a sub-DAG of one `noop` fn
task as a child run, against the same N `noop` tasks written inline, and against
the workaround sub-DAGs replace (a bash task running `dag run child.yaml`),
run alternately --runs times each, local executor, file store.

    python3 scripts/bench-subdag.py [--tasks 200] [--runs 5]

Uses target/release/dag (build it first: cargo build --release).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import cpu, find_dag, variant_file, write_variants  # noqa: E402


def write(tmp, n, dag):
    with open(os.path.join(tmp, "child.yaml"), "w") as f:
        f.write("name: child\ntasks:\n  only: { type: fn, command: noop }\n")
    variants = {
        "inline": lambda i: f"  t{i}: {{ type: fn, command: noop }}\n",
        "sub-DAG": lambda i: f"  t{i}: {{ type: dag, file: child.yaml }}\n",
        "bash running dag run": lambda i: f"  t{i}: {{ command: '{dag} run child.yaml -o quiet' }}\n",
    }
    return write_variants(tmp, n, variants)


def timed(cmd, cwd, env):
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return took


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    dag, profile = find_dag()
    print(f"{time.strftime('%Y-%m-%d')} · {cpu()} · {os.cpu_count()} CPUs · dag {profile} build · {args.tasks} tasks, --parallel 8")
    with tempfile.TemporaryDirectory() as tmp:
        labels = write(tmp, args.tasks, dag)
        env = dict(os.environ, DAG_HOME=os.path.join(tmp, "state"))
        runs = {}
        for _ in range(args.runs):
            for label in labels:
                file = variant_file(label)
                cmd = [dag, "run", file, "-o", "table", "--progress", "never", "--parallel", "8"]
                runs.setdefault(label, []).append(timed(cmd, tmp, env))
        base = statistics.median(runs["inline"])
        print("| DAG | wall s (min / median / max) | ms per task | ms per task over inline (medians) |\n|---|---|---|---|")
        for label in labels:
            times = runs[label]
            med = statistics.median(times)
            print(
                f"| {args.tasks} × {label} | {min(times):.3f} / {med:.3f} / {max(times):.3f} "
                f"| {1000 * med / args.tasks:.2f} | {1000 * (med - base) / args.tasks:+.2f} |"
            )


if __name__ == "__main__":
    main()
