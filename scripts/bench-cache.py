#!/usr/bin/env python3
"""What task result caching costs (`cache:`), measured side by side in one run.

1. Per task: N `true` tasks, each with `cache: {inputs: [in/TASK.txt]}`, run
   three ways, alternating, --runs times each: uncached (the same tasks without
   `cache:`), a miss (an empty cache: every task runs and saves its result) and
   a hit (every result restored). Reported as wall time per task.
2. Hashing: one task whose `cache.inputs` name --gib GiB of files (64 MiB each,
   random bytes): the wall time of a hit (every file hashed to find the key,
   then the result restored) against `sha256sum` of the same files, alternating.

    python3 scripts/bench-cache.py [--tasks 200] [--gib 1] [--runs 5]

Uses target/release/dag (build it first: cargo build --release).
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


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.perf_counter() - start


def per_task(dag, work, tasks, runs):
    os.makedirs(os.path.join(work, "in"), exist_ok=True)
    for i in range(tasks):
        with open(os.path.join(work, "in", f"t{i}.txt"), "w") as f:
            f.write(f"input {i}\n")
    for name, cached in (("plain", False), ("cached", True)):
        with open(os.path.join(work, f"{name}.yaml"), "w") as f:
            f.write(f"name: {name}\ntasks:\n")
            for i in range(tasks):
                f.write(f"  t{i}:\n    command: 'true'\n")
                if cached:
                    f.write(f"    cache: {{ inputs: [in/t{i}.txt] }}\n")
    home = os.path.join(work, "home")
    env = dict(os.environ, DAG_HOME=home)
    times = {"uncached": [], "miss": [], "hit": []}
    for _ in range(runs):
        times["uncached"].append(timed([dag, "run", "plain.yaml", "-o", "quiet"], cwd=work, env=env))
        shutil.rmtree(os.path.join(home, "cache"), ignore_errors=True)
        times["miss"].append(timed([dag, "run", "cached.yaml", "-o", "quiet"], cwd=work, env=env))
        times["hit"].append(timed([dag, "run", "cached.yaml", "-o", "quiet"], cwd=work, env=env))
        shutil.rmtree(os.path.join(home, "runs"), ignore_errors=True)
    print(f"\n{tasks} `true` tasks, local executor, {runs} runs each (ms per task: min / median / max)")
    print("| run | ms per task | vs uncached (median) |\n|---|---|---|")
    base = statistics.median(times["uncached"])
    for k, v in times.items():
        per = [t / tasks * 1000 for t in v]
        print(
            f"| {k} | {min(per):.2f} / {statistics.median(per):.2f} / {max(per):.2f} "
            f"| {statistics.median(v) / base:.2f} |"
        )


def hashing(dag, work, gib, runs):
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    files = []
    for i in range(gib * 16):
        path = os.path.join(data, f"part{i:03}.bin")
        with open(path, "wb") as f:
            f.write(os.urandom(64 << 20))
        files.append(path)
    with open(os.path.join(work, "hash.yaml"), "w") as f:
        f.write("name: hash\ntasks:\n  t:\n    command: 'true'\n    cache: { inputs: [data] }\n")
    env = dict(os.environ, DAG_HOME=os.path.join(work, "home"))
    subprocess.run([dag, "run", "hash.yaml", "-o", "quiet"], cwd=work, env=env, check=True)
    dag_times, sum_times = [], []
    for _ in range(runs):
        dag_times.append(timed([dag, "run", "hash.yaml", "-o", "quiet"], cwd=work, env=env))
        sum_times.append(timed(["sha256sum"] + files))
    print(f"\nA hit whose inputs are {gib} GiB ({len(files)} files of 64 MiB, in the page cache), {runs} runs each")
    print("| command | wall s (min / median / max) |\n|---|---|")
    for name, v in (("dag run (a hit)", dag_times), ("sha256sum of the same files", sum_times)):
        print(f"| {name} | {min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f} |")
    print(f"ratio dag / sha256sum (medians): {statistics.median(dag_times) / statistics.median(sum_times):.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=200)
    p.add_argument("--gib", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    dag, profile = find_dag()
    print(f"{time.strftime('%Y-%m-%d')} · {cpu()} · {os.cpu_count()} CPUs · dag {profile} build")
    with tempfile.TemporaryDirectory() as work:
        per_task(dag, work, args.tasks, args.runs)
    with tempfile.TemporaryDirectory() as work:
        hashing(dag, work, args.gib, args.runs)


if __name__ == "__main__":
    main()
