#!/usr/bin/env python3
"""Measures `dag ui` on big runs: how long headless Chromium takes to show a
run's page complete (navigation start to the end of the load event, from the
page's own `performance` timing) the first time (the server reads the run from
the store) and again (it keeps the record of a run nobody drives), and the
server's resident memory (now and at its peak) after serving them.

Usage: scripts/bench-ui.py [--dag target/release/dag] [--runs 3]

Needs chromium and chromedriver (Debian's chromium, chromium-driver). The runs
are those of scripts/bench-report.py: 10,000 `noop` fn tasks declared one by
one, one mapped task of 10,000 items, and 600 tasks beside a mapped task of
10,000.
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile


def bench_report():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-report.py")
    spec = importlib.util.spec_from_file_location("bench_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def memory_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dag", default="target/release/dag")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    dag = os.path.abspath(args.dag)
    br = bench_report()
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, DAG_HOME=os.path.join(d, "state"))
        env.pop("DAG_UI_TOKEN", None)
        files = br.write_dags(d)
        ids = {}
        for name, path in files.items():
            subprocess.run([dag, "run", path, "--output", "quiet"], env=env, check=True)
            ids[name] = sorted(os.listdir(os.path.join(d, "state", "runs")))[-1]
        ui = subprocess.Popen(
            [dag, "ui", "--bind", "127.0.0.1:0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        url = ui.stdout.readline().strip().rstrip("/")
        driver = br.Driver()
        try:
            print(f"dag ui at {url}: idle {memory_kib(ui.pid)['VmRSS'] / 1024:.0f} MiB resident")
            for name, run in ids.items():
                page = f"{url}/runs/{run}"
                first = driver.load_ms(page)
                again = [driver.load_ms(page) for _ in range(args.runs)]
                mem = memory_kib(ui.pid)
                print(
                    f"{name:8} run page: first {first:.0f} ms, again {min(again):.0f}-{max(again):.0f} ms "
                    f"(median {statistics.median(again):.0f}) · server {mem['VmRSS'] / 1024:.0f} MiB resident, "
                    f"peak {mem['VmHWM'] / 1024:.0f} MiB"
                )
        finally:
            driver.close()
            ui.kill()


if __name__ == "__main__":
    sys.exit(main())
