"""What the benchmark scripts share: free loopback ports, finding the binary, and
DAG files of many tasks."""

import os
import socket
import sys


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_dag():
    """target/release/dag when one exists ($CARGO_TARGET_DIR honoured), else the
    debug one: (path, profile)."""
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(os.path.dirname(__file__), "..", "target")
    for profile in ("release", "debug"):
        path = os.path.join(target, profile, "dag")
        if os.access(path, os.X_OK):
            return os.path.abspath(path), profile
    sys.exit(f"no dag binary under {target}/release or {target}/debug: build one first")


def cpu():
    """The CPU's model name, as /proc/cpuinfo gives it (benchmark figures name it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def write_variants(tmp, n, variants):
    """One DAG file of `n` tasks per variant (label to a function of the task's
    index giving its line), named after the label (`bash true` → `bash-true.yaml`);
    returns the labels."""
    for label, task in variants.items():
        with open(os.path.join(tmp, variant_file(label)), "w") as f:
            f.write("name: many\ntasks:\n")
            for i in range(n):
                f.write(task(i))
    return list(variants)


def variant_file(label):
    """The DAG file `write_variants` wrote for `label`."""
    return f"{label}.yaml".replace(" ", "-")
