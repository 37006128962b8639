"""The Ray executor's cost per step (issue 17): N trivial independent steps run by the local
executor and by `--executor ray` on a local two-node cluster (a head and a second node, on
loopback), and Ray's own bare task overhead on the same cluster in the same run.

    python -m benchmarks.ray_overhead [--steps 1000] [--head-cpus 2] [--second-cpus 1] [--json FILE]

Reported: wall time of each run, per step; the Ray executor's overhead per step over the
local executor, in all and at the margin (each executor also runs --warm steps alone: the
difference between the two runs is the cost of the extra steps, without the fixed cost of a
run: Ray's import and connection, and the job's worker processes, which Ray starts per job);
Ray's bare cost per task (a no-op task, a no-op streaming-generator task as the executor
submits them, and a task that runs `sh -c true` as a step's command does).
Also reported: the CPU time of each run (the caller, and the cluster's own processes with the
workers and commands they reaped), per step: on a shared, loaded machine wall times vary 2-3x
between identical runs, CPU time much less. Each run is of a fresh workspace (every step
runs). Needs `ray` (pip install 'pipefile[ray]').
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

if __package__ in (None, ""):  # run as `python benchmarks/ray_overhead.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import raylocal  # noqa: E402

PIPE = [sys.executable, "-m", "pipefile"]


def _pipefile(n: int) -> str:
    lines = ["steps:"]
    for i in range(n):
        lines += [
            f"  s{i}:",
            f"    command: echo {i} > ${{{{outputs.o}}}}",
            f"    outputs: {{o: {{path: out/{i}.txt}}}}",
        ]
    return "\n".join(lines) + "\n"


def _cpu(temp: str = "") -> float:
    """CPU seconds spent so far by this process's finished children (the `pipe run`s and what
    they ran) plus, with `temp`, by the cluster's processes and the children they reaped (its
    workers, the steps' commands). Unlike wall time, it hardly moves with the machine's load."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = ru.ru_utime + ru.ru_stime
    if temp:
        tick = os.sysconf("SC_CLK_TCK")
        for pid in raylocal.own_pids(temp):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
            except (OSError, ValueError, IndexError):
                pass
    return total


CPU: dict = {}  # run name -> CPU seconds (caller and cluster)


def _run_pipe(root: str, args: list, env: dict, temp: str = "") -> float:
    cpu0 = _cpu(temp)
    t0 = time.perf_counter()
    # The ray runs under a profiler when asked: PIPE_BENCH_PROFILE="py-spy record -o ray.svg --"
    prefix = os.environ.get("PIPE_BENCH_PROFILE", "").split() if "ray" in args else []
    p = subprocess.run(prefix + PIPE + ["run", "--ci", *args], cwd=root, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"pipe run {' '.join(args)} failed:\n{p.stderr[-3000:]}")
    if temp:
        time.sleep(2)  # the job's workers exit after the driver: their CPU is counted once reaped
    CPU[os.path.basename(root)] = _cpu(temp) - cpu0
    return took


_BARE = """
import json, subprocess, sys, time, ray
ray.init(address=sys.argv[1], logging_level="error", log_to_driver=False)
n, slots = int(sys.argv[2]), int(sys.argv[3])

@ray.remote(num_cpus=1, max_retries=0)
def noop():
    return None

@ray.remote(num_cpus=1, max_retries=0, num_returns="streaming")
def noop_stream():
    yield ("done", None)

@ray.remote(num_cpus=1, max_retries=0)
def shell():
    return subprocess.run(["sh", "-c", "true"]).returncode

def timed(submit, gen=False):
    ray.get([noop.remote() for _ in range(slots)])  # workers started before timing
    t0 = time.perf_counter()
    pending = []
    for _ in range(n):
        pending.append(submit())
        if len(pending) >= 64:  # as many in flight as the executor keeps by default
            first = pending.pop(0)
            ray.get(next(first)) if gen else ray.get(first)
    for p in pending:
        ray.get(next(p)) if gen else ray.get(p)
    return time.perf_counter() - t0

out = {
    "noop": timed(noop.remote),
    "noop_stream": timed(noop_stream.remote, gen=True),
    "shell": timed(shell.remote),
}
print(json.dumps(out))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--head-cpus", type=int, default=2)
    ap.add_argument("--second-cpus", type=int, default=1)
    ap.add_argument("--warm", type=int, default=20, help="steps of the small run (the fixed cost)")
    ap.add_argument("--json", dest="json_out", default=None)
    a = ap.parse_args(argv)
    if shutil.which("ray") is None:
        print("ray is not installed: pip install 'pipefile[ray]'", file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PIPE_PLAIN="1", **raylocal.RAY_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    work = tempfile.mkdtemp(prefix="pipe-ray-bench-")
    temp = tempfile.mkdtemp(prefix="prb", dir="/tmp")  # short: Ray's socket paths live under it
    slots = a.head_cpus + a.second_cpus
    result: dict = {"steps": a.steps, "slots": slots, "cpus_here": os.cpu_count()}
    try:
        for name in ("local", "ray", "local-warm", "ray-warm"):
            root = os.path.join(work, name)
            os.makedirs(root)
            with open(os.path.join(root, "Pipefile"), "w") as f:
                f.write(_pipefile(a.warm if name.endswith("warm") else a.steps))
        # The local executor, with as many steps at once as the cluster has slots.
        result["local_s"] = _run_pipe(os.path.join(work, "local"), ["-j", str(slots)], env)
        result["local_warm_s"] = _run_pipe(os.path.join(work, "local-warm"), ["-j", str(slots)], env)
        address = raylocal.start_node(temp, env, a.head_cpus, head_port=raylocal.free_port())
        raylocal.start_node(temp, env, a.second_cpus, address=address)
        store = os.path.join(work, "store")
        on_ray = ["--executor", "ray", "--address", address, "--store", store]
        result["ray_warm_s"] = _run_pipe(os.path.join(work, "ray-warm"), on_ray, env, temp)
        result["ray_s"] = _run_pipe(os.path.join(work, "ray"), on_ray, env, temp)
        result["cpu_s"] = {k: round(v, 2) for k, v in CPU.items()}
        p = subprocess.run(
            [sys.executable, "-c", _BARE, address, str(a.steps), str(slots)], env=env, capture_output=True, text=True
        )
        if p.returncode != 0:
            raise SystemExit(f"the bare Ray tasks failed:\n{p.stderr[-3000:]}")
        result["bare_s"] = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        raylocal.stop(temp)  # (not `ray stop --force`: that stops every Ray on the machine, others' too)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(temp, ignore_errors=True)
    n = a.steps
    ms = {
        "local_per_step_ms": 1000 * result["local_s"] / n,
        "ray_per_step_ms": 1000 * result["ray_s"] / n,
        "overhead_per_step_ms": 1000 * (result["ray_s"] - result["local_s"]) / n,
        "marginal_local_ms": 1000 * (result["local_s"] - result["local_warm_s"]) / (n - a.warm),
        "marginal_ray_ms": 1000 * (result["ray_s"] - result["ray_warm_s"]) / (n - a.warm),
        **{f"bare_{k}_per_task_ms": 1000 * v / n for k, v in result["bare_s"].items()},
        "cpu_local_per_step_ms": 1000 * CPU["local"] / n,
        "cpu_ray_per_step_ms": 1000 * CPU["ray"] / n,
        "cpu_marginal_local_ms": 1000 * (CPU["local"] - CPU["local-warm"]) / (n - a.warm),
        "cpu_marginal_ray_ms": 1000 * (CPU["ray"] - CPU["ray-warm"]) / (n - a.warm),
    }
    result.update({k: round(v, 2) for k, v in ms.items()})
    print(f"{n} trivial steps, {slots} slots ({a.head_cpus} + {a.second_cpus}), {os.cpu_count()} CPUs here")
    print(f"  local executor   {result['local_s']:8.1f} s   {ms['local_per_step_ms']:7.2f} ms/step")
    print(f"  ray executor     {result['ray_s']:8.1f} s   {ms['ray_per_step_ms']:7.2f} ms/step")
    print(f"  overhead         {ms['overhead_per_step_ms']:7.2f} ms/step over the local executor, in all")
    print(f"  fixed cost       local {result['local_warm_s']:.1f} s, ray {result['ray_warm_s']:.1f} s ({a.warm} steps)")
    print(
        f"  at the margin    local {ms['marginal_local_ms']:.2f} ms/step, ray {ms['marginal_ray_ms']:.2f} ms/step: "
        f"overhead {ms['marginal_ray_ms'] - ms['marginal_local_ms']:.2f} ms/step"
    )
    print(
        f"  CPU (caller + cluster)  local {ms['cpu_local_per_step_ms']:.2f} ms/step, ray "
        f"{ms['cpu_ray_per_step_ms']:.2f} ms/step; at the margin local {ms['cpu_marginal_local_ms']:.2f}, "
        f"ray {ms['cpu_marginal_ray_ms']:.2f}: overhead "
        f"{ms['cpu_marginal_ray_ms'] - ms['cpu_marginal_local_ms']:.2f} ms/step"
    )
    for k, v in result["bare_s"].items():
        print(f"  bare ray {k:12s} {v:6.1f} s   {1000 * v / n:7.2f} ms/task")
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
