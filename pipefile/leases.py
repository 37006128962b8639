"""What a run may use at once on this machine, and which running tasks hold it.

A task that runs costs a share of the CPUs (`resources.cpus`, at least `LEAST_CPU`, at most
-j), its memory and its GPUs; one that only restores costs one slot of -j and never waits
for a GPU. GPUs are leased by device id: a task asking for N gets N free devices of the
pool, never shared, for as long as it runs (the executor sets CUDA_VISIBLE_DEVICES to
exactly those). A sweep's `max_parallel` caps how many of its tasks run at once. On a
cluster that places tasks by their resources (Ray) only -j is counted here. However large -j
(or however small the steps' cpus), no more tasks run at once than the open-file limit
leaves room for (`tasks_at_once`): each holds its log and its process's files open, and
past the limit steps failed with "Too many open files".

`Leases` is the scheduler's ledger for one `execute`: what is taken and what is free. What
no schedule can meet (more GPUs or memory than the machine has) is an error before
anything runs (`check`).
"""

from __future__ import annotations

import os
from typing import Optional

from .envs import gpus as gpus_mod
from .errors import PipefileError, raise_all
from .rebuilder import Verdict

LEAST_CPU = 0.01  # the smallest share of a CPU a task is counted for
# Files a running task holds open here (its log, the follower's reading of it, its process's
# pidfd and pipes while it starts, a staged output): measured at about 3, counted high.
FILES_PER_TASK = 4
# Kept for pipe itself beyond what it has open when the run starts (the job database and its
# journal, the state journal, a remote's connections, files hashed ahead).
FILES_KEPT = 64


def open_file_limit() -> Optional[int]:
    """This process's open-file limit (RLIMIT_NOFILE's soft limit, `ulimit -n`), or None
    where there is none."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # pragma: no cover - no such limit here (Windows)
        return None
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return None
    return soft


# What a long-lived server (pipe serve, pipe ui) raises its open-file limit to, at most: the
# connections it holds share that limit with its jobs' steps, and a soft limit of 1,024 (the
# usual default) left it a few hundred. Not more: the steps it starts inherit the limit, and a
# program using select() cannot watch a file numbered past 1,023 however many it may open.
SERVER_FILES = 65536


def raise_open_file_limit(to: int = SERVER_FILES) -> Optional[int]:
    """Raise this process's soft open-file limit towards its hard one (at most `to`), as any
    process may without privileges. Returns the soft limit now (None where there is none)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = to if hard == resource.RLIM_INFINITY else min(hard, to)
        if soft != resource.RLIM_INFINITY and 0 < soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, OSError, ValueError):  # pragma: no cover - no such limit (Windows), or refused
        pass
    return open_file_limit()


def files_open_now() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - no /proc (macOS): a process starts with few
        return 16


# Tasks one run may hold at once, once a process that runs several at once beside files of
# its own (pipe serve: its workers' jobs, its connections) has shared the limit out.
_shared: Optional[int] = None


def share_open_files(held_elsewhere: int, runs: int) -> int:
    """Share this process's open-file limit out, once, before its runs start: `held_elsewhere`
    files for what it holds besides them (pipe serve: the connections it holds and accepts at
    once), and an equal part of the rest to each of the `runs` that may run at once. Each
    counting what the limit left when it started, alone, they together went past it. Returns
    the tasks one run may then hold at once (below 1: not even one fits)."""
    global _shared
    soft = open_file_limit()
    if soft is None:
        return 1 << 30
    each = (soft - files_open_now() - held_elsewhere) // max(1, runs)
    tasks = (each - FILES_KEPT) // FILES_PER_TASK
    _shared = max(1, tasks)
    return tasks


def tasks_at_once() -> int:
    """How many tasks may run at once within this process's open-file limit (or within this
    run's share of it: share_open_files); at least 1, and no bound where there is no limit."""
    if _shared is not None:
        return _shared
    soft = open_file_limit()
    if soft is None:
        return 1 << 30
    return max(1, (soft - files_open_now() - FILES_KEPT) // FILES_PER_TASK)


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 0


class Leases:
    def __init__(self, graph, jobs: int, memory: int, gpus: Optional[list], placed_elsewhere: bool = False):
        """`jobs`: -j (CPUs); `memory`: bytes (0: not counted); `gpus`: the devices
        (envs.gpus.Gpu) to hand out, None when no selected task asks for any."""
        self.graph = graph
        self.jobs = jobs
        self.memory = memory
        self.gpus = gpus
        self.placed_elsewhere = placed_elsewhere
        self.free_gpus = list(gpus or [])
        self._gpu_order = {g.id: i for i, g in enumerate(gpus or [])}
        self.used_cpu = 0.0
        self.used_mem = 0
        self.in_group: dict = {}  # expanded step with max_parallel -> how many of its tasks run now
        self.at_once = tasks_at_once()
        self.tasks = 0  # tasks that hold a lease now

    def check(self, decisions: dict) -> None:
        """Requests no schedule can meet, for the tasks that may run (restoring needs nothing)."""
        if self.placed_elsewhere:
            return  # the cluster's to judge
        errors = []
        pool = self.gpus or []
        ids = ", ".join(g.id for g in pool)
        for name, d in decisions.items():
            if d.verdict not in (Verdict.RUN, Verdict.PENDING):
                continue
            r = self.graph.nodes[name].step.resources
            loc = self.graph.nodes[name].step.loc
            if r.gpus and not pool:
                errors.append(
                    PipefileError(
                        f"step '{name}' asks for {_n(r.gpus, 'GPU')}, but no GPU was found on this machine "
                        f"({gpus_mod.why_none()})",
                        loc,
                        "run it where there is an NVIDIA GPU and driver, or name the devices with --gpus 0,1 or "
                        "PIPE_GPUS=0,1",
                    )
                )
            elif r.gpus > len(pool):
                errors.append(
                    PipefileError(
                        f"step '{name}' asks for {_n(r.gpus, 'GPU')}, but this machine has {len(pool)} ({ids})",
                        loc,
                        "lower resources.gpus for this step, or run it on a machine with more GPUs",
                    )
                )
            if r.memory and self.memory and r.memory > self.memory:
                errors.append(
                    PipefileError(
                        f"step '{name}' asks for {r.memory / 1e9:.1f} GB of memory, but this machine has "
                        f"{self.memory / 1e9:.1f} GB",
                        loc,
                        "lower resources.memory for this step",
                    )
                )
        raise_all(errors)

    def cost(self, name: str, runs: bool) -> tuple:
        """(CPUs, memory, GPUs) task `name` takes while it runs (`runs`) or restores."""
        r = self.graph.nodes[name].step.resources
        if not runs:
            return (1.0, 0, 0)  # copying from the store needs no GPU (and must not wait for one)
        if self.placed_elsewhere:
            return (1.0, 0, 0)  # a slot of -j: what it needs is asked of the cluster
        return (min(max(r.cpus, LEAST_CPU), float(self.jobs)), r.memory, r.gpus)

    def limited_group(self, name: str):
        """The expanded step (a sweep with max_parallel) whose running tasks `name` counts
        against, or None."""
        group = self.graph.groups.get(self.graph.nodes[name].step.group) if self.graph.groups else None
        return group if group is not None and getattr(group, "max_parallel", 0) else None

    def saturated(self) -> bool:
        """No task that takes a share of the CPUs can start until one ends (each costs at
        least LEAST_CPU, and holds files open: tasks_at_once)."""
        return self.used_cpu + LEAST_CPU > self.jobs + 1e-9 or self.tasks >= self.at_once

    def fits(self, cpu: float, mem: int, gpus: int, group, running: bool) -> bool:
        """Whether a task of this cost starts now; with nothing `running`, any CPU and memory
        request fits (a task bigger than -j still runs, alone)."""
        if gpus > len(self.free_gpus):
            return False
        if running and (self.used_cpu + cpu > self.jobs + 1e-9 or (mem and self.used_mem + mem > self.memory)):
            return False
        if running and self.tasks >= self.at_once:
            return False
        return group is None or self.in_group.get(group.name, 0) < group.max_parallel

    def take(self, cpu: float, mem: int, gpus: int, group) -> tuple:
        """Take what a starting task costs: the GPUs it leases, as a tuple of devices."""
        if group is not None:
            self.in_group[group.name] = self.in_group.get(group.name, 0) + 1
        self.used_cpu += cpu
        self.used_mem += mem
        self.tasks += 1
        lease = tuple(self.free_gpus[:gpus])
        del self.free_gpus[:gpus]
        return lease

    def give_back(self, cpu: float, mem: int, lease: tuple, group=None) -> None:
        self.used_cpu -= cpu
        self.used_mem -= mem
        self.tasks -= 1
        self.free_gpus.extend(lease)
        self.free_gpus.sort(key=lambda g: self._gpu_order[g.id])
        if group is not None:
            self.in_group[group.name] -= 1


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
