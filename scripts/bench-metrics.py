#!/usr/bin/env python3
"""What a worker's metrics endpoint costs: a distributed run of N `noop` fn
tasks (one nats-server, one `dag worker --workers 64 --metrics-addr`), scraped
back to back for its whole length, against the same run unscraped; and how
long each scrape takes during the run.

    python3 scripts/bench-metrics.py [--tasks 10000] [--runs 3]

Uses target/release/dag (build it first: cargo build --release); needs
nats-server on PATH.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from benchlib import cpu, find_dag, free_port  # noqa: E402


def wait_port(port, what):
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{what} did not start")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=10000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    dag, profile = find_dag()
    print(f"{time.strftime('%Y-%m-%d')} · {cpu()} · {os.cpu_count()} CPUs · dag {profile} build · {args.tasks} noop fn tasks, distributed")
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "many.yaml"), "w") as f:
            f.write("name: many\ntasks:\n")
            for i in range(args.tasks):
                f.write(f"  t{i}: {{ type: fn, command: noop }}\n")
        nats_port, metrics_port = free_port(), free_port()
        url = f"nats://127.0.0.1:{nats_port}"
        server = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", os.path.join(tmp, "js")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(nats_port, "nats-server")
        worker = subprocess.Popen(
            [dag, "worker", "--nats", url, "--workers", "64", "--name", "bench",
             "--metrics-addr", f"127.0.0.1:{metrics_port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(metrics_port, "the worker's metrics endpoint")
        time.sleep(1.0)
        env = dict(os.environ, DAG_HOME=os.path.join(tmp, "state"))
        walls = {"unscraped": [], "scraped back to back": []}
        scrapes = []
        try:
            for _ in range(args.runs):
                for label in walls:
                    stop = threading.Event()

                    def scrape_loop():
                        while not stop.is_set():
                            start = time.perf_counter()
                            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
                                r.read()
                            scrapes.append(time.perf_counter() - start)

                    scraper = threading.Thread(target=scrape_loop) if label != "unscraped" else None
                    start = time.perf_counter()
                    if scraper:
                        scraper.start()
                    subprocess.run([dag, "run", "many.yaml", "-o", "quiet", "--executor", "distributed",
                                    "--nats", url, "--state", "file"],
                                   cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    walls[label].append(time.perf_counter() - start)
                    stop.set()
                    if scraper:
                        scraper.join()
        finally:
            for proc in (worker, server):
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        print("| run | tasks/s (min / median / max) |\n|---|---|")
        for label, times in walls.items():
            rates = sorted(args.tasks / t for t in times)
            print(f"| {label} | {rates[0]:,.0f} / {statistics.median(rates):,.0f} / {rates[-1]:,.0f} |")
        ms = sorted(1000 * s for s in scrapes)
        print(f"\n{len(ms)} scrapes during the scraped runs: {ms[0]:.2f} / {statistics.median(ms):.2f} / "
              f"{ms[int(len(ms) * 0.99) - 1]:.2f} / {ms[-1]:.2f} ms (min / median / p99 / max)")


if __name__ == "__main__":
    main()
