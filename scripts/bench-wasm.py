#!/usr/bin/env python3
"""What a wasm task costs: N independent trivial WebAssembly tasks (a module
whose `_start` returns at once) against N independent `true` bash tasks, run
alternately --runs times each, local executor, file store, --parallel P.
Reports tasks/s and the peak RSS of the `dag run` process (its own and that of
the children it waited for: bash tasks are processes of their own).

    python3 scripts/bench-wasm.py [--tasks 1000] [--runs 5] [--parallel 8]

Uses target/release/dag (build it first: cargo build --release). The module is
compiled in a warm-up run first: the figures are those of cached modules.

Then what the compiled-module cache saves: a module of --functions functions run
by a fresh process with an empty cache (compiled) and again (loaded from the
cache), as the task's log reports each (median of --runs).
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

TRIVIAL = '(module (memory (export "memory") 1) (func (export "_start")))\n'


def write(tmp, n):
    with open(os.path.join(tmp, "trivial.wat"), "w") as f:
        f.write(TRIVIAL)
    variants = {
        "wasm": lambda i: f"  t{i}: {{ type: wasm, module: trivial.wat }}\n",
        "bash true": lambda i: f"  t{i}: {{ command: 'true' }}\n",
    }
    return write_variants(tmp, n, variants)


def timed(cmd, cwd, env):
    """Wall time and peak RSS (KiB) of `cmd` and the children it waited for."""
    pid = os.fork()
    if pid == 0:
        os.chdir(cwd)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execve(cmd[0], cmd, env)
    start = time.perf_counter()
    _, status, usage = os.wait4(pid, 0)
    took = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(cmd)} failed ({os.waitstatus_to_exitcode(status)})")
    return took, usage.ru_maxrss


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--functions", type=int, default=2000)
    args = p.parse_args()
    dag, profile = find_dag()
    print(
        f"{time.strftime('%Y-%m-%d')} · {cpu()} · {os.cpu_count()} CPUs · dag {profile} build · "
        f"{args.tasks} independent tasks, --parallel {args.parallel}, {args.runs} runs each"
    )
    with tempfile.TemporaryDirectory() as tmp:
        labels = write(tmp, args.tasks)
        env = dict(os.environ, DAG_HOME=os.path.join(tmp, "state"))
        def command(label):
            file = variant_file(label)
            return [dag, "run", file, "-o", "quiet", "--progress", "never", "--parallel", str(args.parallel)]
        for label in labels:
            timed(command(label), tmp, env)  # warm-up: compiles the module, fills caches
        runs = {}
        for _ in range(args.runs):
            for label in labels:
                runs.setdefault(label, []).append(timed(command(label), tmp, env))
        print("| tasks | wall s (min / median / max) | tasks/s (median) | peak RSS MiB (median) |\n|---|---|---|---|")
        rates = {}
        for label in labels:
            times = [t for t, _ in runs[label]]
            rss = statistics.median(r for _, r in runs[label]) / 1024
            med = statistics.median(times)
            rates[label] = args.tasks / med
            print(
                f"| {args.tasks} × {label} | {min(times):.3f} / {med:.3f} / {max(times):.3f} "
                f"| {rates[label]:,.0f} | {rss:.1f} |"
            )
        print(f"\nwasm / bash rate: {rates['wasm'] / rates['bash true']:.1f}×")
        compiled, loaded = cache_figures(dag, tmp, env, args.functions, args.runs)
        print(
            f"\nA module of {args.functions} functions: compiled in {statistics.median(compiled):.0f} ms, "
            f"loaded from the compiled-module cache in {statistics.median(loaded):.0f} ms (medians of {args.runs})"
        )


def cache_figures(dag, tmp, env, functions, runs):
    """Compile and cache-load times (ms) of one larger module, from the task logs."""
    import re
    import shutil
    body = "".join(
        f'  (func $f{i} (param i32) (result i32) (i32.add (i32.mul (local.get 0) (i32.const {i})) (i32.const 7)))\n'
        for i in range(functions)
    )
    with open(os.path.join(tmp, "large.wat"), "w") as f:
        f.write(f'(module\n  (memory (export "memory") 1)\n{body}  (func (export "_start")))\n')
    with open(os.path.join(tmp, "large.yaml"), "w") as f:
        f.write("name: large\ntasks:\n  large: { type: wasm, module: large.wat }\n")
    def one():
        subprocess.run([dag, "run", "large.yaml", "-o", "quiet", "--progress", "never"], cwd=tmp, env=env, check=True)
        log = subprocess.run([dag, "logs", "latest", "large"], cwd=tmp, env=env, capture_output=True, text=True, check=True).stdout
        return float(re.search(r"in (\d+) ms", log).group(1))
    compiled, loaded = [], []
    for _ in range(runs):
        shutil.rmtree(os.path.join(env["DAG_HOME"], "modules"), ignore_errors=True)
        compiled.append(one())
        loaded.append(one())
    return compiled, loaded


if __name__ == "__main__":
    main()
