"""A loaded pipeline in its workspace: the glue between the CLI (and later the
server) and the layers below. Loads and validates the Pipefile, builds the
graph, opens `.pipe/`, plans, and runs the plan with an executor.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from typing import Iterable, Optional

from . import __version__, loader
from . import graph as graph_mod
from .digest import Hasher, StatCache, hash_bytes, hash_json
from .errors import raise_all
from .executor import DryRunExecutor, LocalExecutor
from .jobs import Fanout, JobRecorder, begin_job, job_status
from .planner import Plan, Planner
from .scheduler import RunSummary, Scheduler
from .store import STATE_DIR, Workspace
from .store.jobs import INTERRUPTED



def load_graph(pipefile_path: Optional[str], params: Iterable[str] = (), cwd: str = ".") -> graph_mod.Graph:
    """Load, validate and build the graph, reporting every problem found in one go."""
    path = pipefile_path or loader.find_pipefile(cwd)
    pf = _cached_spec(path)
    errors: list = []
    if pf is None:
        pf, errors = loader.load_lenient(path)
        if not errors:
            _cache_spec(path, pf)
    overrides = loader.parse_param_overrides(pf, params, errors)
    values = loader.resolve_params(pf, overrides, errors)
    if not errors:
        return graph_mod.build(pf, values)
    # Check the graph of what is valid too, so one round of fixes is enough.
    errors += graph_mod.check_partial(pf, values)
    raise_all(errors)
    raise AssertionError("unreachable")


_SPEC_CACHE_VERSION = 1
_LOADER_SOURCES = ("loader.py", "spec.py", "template.py", "errors.py")


def _spec_cache_key(path: str, text: bytes) -> str:
    """Everything the loaded spec depends on: the text, where it is, who reads it."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = [os.stat(os.path.join(here, f)) for f in _LOADER_SOURCES]
    return hash_json([_SPEC_CACHE_VERSION, __version__, sys.version, os.path.abspath(path),
                      os.path.relpath(path), [(s.st_size, s.st_mtime_ns) for s in code], hash_bytes(text)])


def _spec_cache_dir(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), STATE_DIR, "cache", "specs")


def _cached_spec(path: str):
    """The validated spec of an unchanged Pipefile, without parsing YAML again."""
    try:
        with open(path, "rb") as f:
            text = f.read()
        with open(os.path.join(_spec_cache_dir(path), _spec_cache_key(path, text)), "rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001 - any problem: parse the file as usual
        return None


def _cache_spec(path: str, pf) -> None:
    d = _spec_cache_dir(path)
    if not os.path.isdir(os.path.dirname(os.path.dirname(d))):
        return  # no .pipe/ yet: `validate` must not create one
    try:
        with open(path, "rb") as f:
            key = _spec_cache_key(path, f.read())
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.unlink(os.path.join(d, old))
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(pf, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, os.path.join(d, key))
    except OSError:
        pass


class Pipeline:
    def __init__(self, graph: graph_mod.Graph, writable: bool = True):
        """writable=False (status, dry runs) never creates `.pipe/`."""
        self.graph = graph
        self.root = graph.pipefile.root
        self.ws = Workspace(self.root, create=writable)
        self.cache = StatCache(self.ws.state.load_stats())
        self.hasher = Hasher(self.root, self.cache)
        self._records = None

    def close(self) -> None:
        self.ws.close()

    def planner(self, forced=frozenset()) -> Planner:
        if self._records is None:
            self._records = self.ws.state.steps()
        return Planner(self.graph, self.hasher, self._records, self.ws.actions, self.ws.store, forced)

    def status(self, targets: Iterable[str] = ()) -> Plan:
        plan = self.planner().plan(targets)
        # Keep what was hashed, unless a run holds the workspace (its own entries win then).
        try:
            self.ws.state.save_stats(self.cache.take_dirty())
        except Exception:  # noqa: BLE001 - a busy database only costs a re-hash next time
            pass
        return plan

    def lock(self, on_wait=None) -> None:
        self.ws.lock.acquire(on_wait=on_wait)
        self.ws.clean_leftovers()

    def run(self, targets: Iterable[str] = (), forced=frozenset(), jobs: int = 0, keep_going: bool = False,
            dry_run: bool = False, events=None, plan: Optional[Plan] = None, experiment: Optional[str] = None,
            argv: Iterable[str] = (), cloned_from: Optional[int] = None) -> RunSummary:
        """Run the plan; unless a dry run, record it as a job (`self.job`)."""
        planner = self.planner(forced)
        plan = plan or planner.plan(targets)
        if dry_run:
            sched = Scheduler(self.graph, planner, DryRunExecutor(), None, jobs, keep_going, events, dry_run=True)
            return sched.execute(plan)
        job = self.job = begin_job(self.ws, self.hasher, self.graph, experiment, targets, argv, cloned_from)
        log_dir = self.ws.job_dir(job.id)
        os.makedirs(log_dir, exist_ok=True)
        executor = LocalExecutor(self.ws, self.hasher, f"{job.id}-{job.uid}", log_dir)
        self.recorder = JobRecorder(self.ws, job, self.graph)
        listeners = Fanout(events, self.recorder)
        sched = Scheduler(self.graph, planner, executor, self.ws.state, jobs, keep_going, listeners)
        status = INTERRUPTED
        try:
            summary = sched.execute(plan)
            status = job_status(summary)
        finally:
            executor.close()
            self.ws.jobs.finish(job.id, status)
        return summary


def parse_force(values: Iterable[str]):
    """--force given alone forces every selected step; --force STEP forces that step."""
    values = list(values)
    if not values:
        return frozenset()
    if "*" in values:
        return True
    return frozenset(values)


def check_forced_names(graph: graph_mod.Graph, forced) -> None:
    if forced is True:
        return
    from .errors import PipefileError, did_you_mean, raise_all

    raise_all([PipefileError(f"--force {n}: no step named '{n}'", hint=did_you_mean(n, graph.nodes, "step"))
               for n in forced if n not in graph.nodes])
