#!/usr/bin/env python3
"""Measures the HTML report of big runs: its size, what `dag report` takes to
write it (wall time, peak RSS), and how long headless Chromium takes to show it
complete (navigation start to the end of the load event, read from the page's
own `performance` timing).

Usage: scripts/bench-report.py [--dag target/release/dag] [--runs 3]

Needs chromium and chromedriver (Debian's chromium, chromium-driver) and GNU
time. Runs are 10,000 `noop` fn tasks three ways: declared one by one (100
layers of 100, each task depending on one of the layer before), one mapped
task of 10,000 items, and 600 declared tasks beside a mapped task of 10,000.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Driver:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["chromedriver", f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        caps = {
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-dev-shm-usage",
                            "--window-size=1300,1000",
                        ],
                    },
                }
            }
        }
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())["value"]

    def load_ms(self, url):
        s = f"/session/{self.session}"
        self.call("POST", s + "/url", {"url": "about:blank"})
        self.call("POST", s + "/url", {"url": url})
        return self.call(
            "POST",
            s + "/execute/sync",
            {
                "script": "const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime;",
                "args": [],
            },
        )

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        finally:
            self.proc.kill()


def write_dags(d):
    layered = ["name: layered", "tasks:"]
    for layer in range(100):
        for k in range(100):
            dep = f", depends_on: [t{layer - 1}_{k}]" if layer else ""
            layered.append(f"  t{layer}_{k}: {{type: fn, command: noop{dep}}}")
    items = ", ".join(str(i) for i in range(10_000))
    mapped = ["name: mapped", "tasks:", "  many:", "    type: fn", "    command: noop", f"    for_each: [{items}]"]
    mixed = ["name: mixed", "tasks:"] + [f"  t{i}: {{type: fn, command: noop}}" for i in range(600)] + mapped[2:]
    files = {}
    for name, lines in [("layered", layered), ("mapped", mapped), ("mixed", mixed)]:
        path = os.path.join(d, f"{name}.yaml")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        files[name] = path
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dag", default="target/release/dag")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    dag = os.path.abspath(args.dag)
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, DAG_HOME=os.path.join(d, "state"))
        files = write_dags(d)
        driver = Driver()
        try:
            for name, path in files.items():
                subprocess.run([dag, "run", path, "--output", "quiet"], env=env, check=True)
                out = os.path.join(d, f"{name}.html")
                walls, rss = [], []
                for _ in range(args.runs):
                    t = subprocess.run(
                        ["/usr/bin/time", "-f", "%e %M", dag, "report", "--format", "html", "-o", out],
                        env=env,
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    wall, kib = t.stderr.strip().splitlines()[-1].split()
                    walls.append(float(wall))
                    rss.append(int(kib))
                size = os.path.getsize(out)
                loads = [driver.load_ms("file://" + out) for _ in range(args.runs)]
                print(
                    f"{name:8} size {size / 1e6:.2f} MB · dag report {min(walls):.2f}-{max(walls):.2f} s, "
                    f"peak RSS {max(rss) / 1024:.0f} MiB · browser load {min(loads):.0f}-{max(loads):.0f} ms "
                    f"(median {statistics.median(loads):.0f})"
                )
        finally:
            driver.close()


if __name__ == "__main__":
    sys.exit(main())
