#!/usr/bin/env python3
"""Chaos soak: a distributed run while workers are SIGKILLed and nats-server restarts.

Starts nats-server on a free loopback port and three `dag worker`s, runs a DAG of
many small bash tasks with `--executor distributed --state nats`, and meanwhile
SIGKILLs a random worker every few seconds (starting a fresh one in its place) and
restarts nats-server once. Then checks that every task ended `success` exactly
once in the state store, that nothing is left in the queue, and reports how many
tasks ran more than once (delivery is at-least-once).

    scripts/chaos.py [--dag target/release/dag] [--tasks 5000] [--kill-every 3]

Exit status 0 when every check holds. The test suite runs a short form.
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, limit=10):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nats-server did not come up on {port}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dag", default="target/release/dag")
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--kill-every", type=float, default=3.0, help="seconds between worker kills")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-restart", action="store_true", help="do not restart nats-server")
    args = ap.parse_args()
    dag = os.path.abspath(args.dag)
    rng = random.Random(args.seed)
    env = dict(os.environ, DAG_NATS_ACK_WAIT="2s", DAG_NATS_HEARTBEAT="1s", DAG_NATS_LEASE="5s")
    env.pop("CI", None)

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        url = f"nats://127.0.0.1:{port}"
        server_cmd = ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", os.path.join(tmp, "js")]
        server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(port)
        counts = os.path.join(tmp, "counts")
        os.makedirs(counts)
        # Layers of 50 tasks; each task depends on one task of the layer before.
        path = os.path.join(tmp, "chaos.yaml")
        with open(path, "w") as f:
            f.write("name: chaos\ntasks:\n")
            for i in range(args.tasks):
                dep = f", depends_on: [t{i - 50}]" if i >= 50 else ""
                f.write(f"  t{i}: {{ command: 'sleep 0.0{rng.randint(1, 5)}; echo x >> {counts}/t{i}'{dep} }}\n")

        workers = {}
        serial = 0

        def start_worker():
            nonlocal serial
            serial += 1
            name = f"chaos-{serial}"
            workers[name] = subprocess.Popen(
                [dag, "worker", "--nats", url, "--workers", "8", "--name", name],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

        for _ in range(args.workers):
            start_worker()
        time.sleep(1.5)
        started = time.time()
        # Output to files: a pipe nobody reads until the end would fill and block.
        run_out = open(os.path.join(tmp, "run.json"), "w+b")
        run_err = open(os.path.join(tmp, "run.log"), "w+b")
        run = subprocess.Popen(
            [dag, "run", path, "--executor", "distributed", "--state", "nats", "--nats", url, "--output", "json"],
            env=env,
            stdout=run_out,
            stderr=run_err,
        )
        kills = 0
        restarted = args.no_restart
        next_kill = time.time() + args.kill_every
        while run.poll() is None:
            time.sleep(0.1)
            now = time.time()
            if now >= next_kill:
                name = rng.choice(sorted(workers))
                # The worker and what it was running: a machine that died.
                os.killpg(workers[name].pid, signal.SIGKILL)
                workers.pop(name).wait()
                kills += 1
                start_worker()
                next_kill = now + args.kill_every
            if not restarted and now - started > args.kill_every * 1.5:
                server.kill()
                server.wait()
                time.sleep(1.0)
                server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                wait_port(port)
                restarted = True
        run.wait()
        run_out.seek(0)
        run_err.seek(0)
        out, err = run_out.read(), run_err.read()
        wall = time.time() - started
        failures = []
        if run.returncode != 0:
            failures.append(f"dag run exited {run.returncode}: {err.decode(errors='replace')[-2000:]}")
        doc = json.loads(out) if out.strip() else {"tasks": []}
        # Every task success, once, in the state store (read back independently).
        status = subprocess.run(
            [dag, "status", doc.get("run_id", "?"), "--state", "nats", "--nats", url, "--output", "json"],
            env=env, capture_output=True,
        )
        stored = json.loads(status.stdout) if status.returncode in (0, 1) and status.stdout.strip() else {"tasks": []}
        not_ok = [t["id"] for t in stored["tasks"] if t["state"] != "success"]
        if len(stored["tasks"]) != args.tasks or not_ok:
            failures.append(f"{len(not_ok)} of {len(stored['tasks'])} stored tasks not success: {not_ok[:10]}")
        ran = {}
        for name in os.listdir(counts):
            with open(os.path.join(counts, name)) as f:
                ran[name] = sum(1 for _ in f)
        never = [f"t{i}" for i in range(args.tasks) if ran.get(f"t{i}", 0) == 0]
        if never:
            failures.append(f"{len(never)} tasks never ran: {never[:10]}")
        duplicates = sum(n - 1 for n in ran.values() if n > 1)
        # Nothing left in the queue. A worker killed after its result was saved but
        # before it acknowledged the message leaves that message pending until its
        # AckWait (2 s here) lapses; a live worker then runs it again (at-least-once)
        # and acknowledges it. So the queue must drain within two AckWaits.
        drain_until = time.time() + 2 * 2.0 + 2.0
        while True:
            workers_doc = subprocess.run([dag, "workers", "--nats", url, "--output", "json"], env=env, capture_output=True)
            queues = json.loads(workers_doc.stdout)["queues"] if workers_doc.returncode == 0 else []
            left = sum(q["waiting"] + q["running"] for q in queues)
            if left == 0 or time.time() >= drain_until:
                break
            time.sleep(0.2)
        # Count executions only now: a drained redelivery may have run a task again.
        ran = {}
        for name in os.listdir(counts):
            with open(os.path.join(counts, name)) as f:
                ran[name] = sum(1 for _ in f)
        duplicates = sum(n - 1 for n in ran.values() if n > 1)
        if left:
            failures.append(f"{left} task messages left in the queue: {queues}")
        for p in workers.values():
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        server.kill()
        server.wait()
        print(
            f"chaos: {args.tasks} tasks, {args.workers} workers, {kills} worker kills, "
            f"{'0' if args.no_restart else '1'} nats-server restart, {wall:.1f}s: "
            f"{args.tasks - len(not_ok)} success, {duplicates} duplicate executions "
            f"({100 * duplicates / max(args.tasks, 1):.2f}%), {left} left in the queue"
        )
        for f_ in failures:
            print(f"FAILED: {f_}", file=sys.stderr)
        sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
