"""One `pipe run` (or `pipe status`, or a served job) from a loaded graph to its record:

    load -> lock -> gather the outside (remote, images, GPUs) -> plan -> run -> record

`load` resolves artifact versions through the job database and writes nothing but the
spec cache (and only when asked). A `Session` opens the workspace (`writable=False`
creates nothing: status, dry runs), holds it when it will write (`start` locks it,
clears what a killed run left and puts artifact versions in place), gathers what
the planner must not ask for itself into an `Outside` snapshot (environment
identities, a pulled image's id, the GPU pool and model, the remote's run-cache
answers: gathering.py), plans once, runs the plan through the scheduler and returns a
`RunRecord` (a map over a folder a step makes takes a second round: map_rounds.py; what
follows a run, --push and MLflow: finishing.py).
A run-cache key known only after an upstream step finished is looked up by the
session as the scheduler decides that step again (`_Redecider`), never by the planner.

`pipe status` is `Session(writable=False).plan()`: the same gathering and planning as a
run, so it decides as a run decides, and writes nothing. The CLI turns flags into a
`RunRequest` and renders the `RunRecord`; the server does the same with its requests.
"""

from __future__ import annotations

import os
import time
from dataclasses import field
from typing import TYPE_CHECKING, Iterable, NamedTuple, Optional

from . import artifacts as artifacts_mod
from . import graph as graph_mod
from . import noop_policy, noop_trace, spec, speccache
from .digest import Hasher
from .envs import EnvironmentSet
from .errors import PipefileError, raise_all
from .executors.choice import RAY, ExecutorChoice
from .finishing import finish_run
from .gathering import gather_outside
from .landing import link_errors
from .lazyclass import dataclass
from .map_rounds import MapRounds
from .maps import settled_folders
from .outcomes import ExitCode, JobStatus
from .planner import Outside, Plan, Planner, left_on_remote
from .workspace import Workspace
from .workspace.lock import disk_errors

if TYPE_CHECKING:
    from .scheduler import RunSummary

# What only a run needs (the executors, the scheduler, the job recorder, staging) is imported by
# the methods that run: `pipe status` plans with this module and pays for none of it.


def load(
    pipefile: Optional[str], params: Iterable[str] = (), keep: bool = False, settle: bool = False
) -> graph_mod.Graph:
    """The graph of the Pipefile at `pipefile` (default: found from here), its artifact
    bindings resolved in its workspace. keep=True (a run) writes the spec cache. settle=True:
    a foreach's tasks its map record says are up to date get no node (maps.py; not when one
    task is a target or forced: those need their nodes)."""
    from . import maps

    return speccache.load_graph(
        pipefile, params, artifacts=artifacts_mod.resolve_artifacts, keep=keep, settle=maps.settle if settle else None
    )


def load_deployed(path: str, values: dict, pinned: dict, workspace: Workspace) -> graph_mod.Graph:
    """The graph of a published deployment laid out at `path`: typed param `values`, the
    artifact versions it `pinned` (read from the store of `workspace`); no spec cache."""
    return speccache.load_graph(
        path,
        values=values,
        freeze=False,
        artifacts=lambda pf, errors: artifacts_mod.pinned_artifacts(pf, pinned, workspace, errors),
    )


class RunRequest(NamedTuple):
    """What to run and how: the flags of `pipe run`, or a served job's request. (Immutable:
    a NamedTuple costs the no-op's start-up a fraction of what a frozen dataclass does.)"""

    targets: tuple = ()
    forced: object = frozenset()  # step names, or True: every selected step
    jobs: int = 0  # steps at once (0: the number of CPUs)
    keep_going: bool = False
    dry_run: bool = False
    experiment: Optional[str] = None
    argv: tuple = ()  # the command line the job records (already scrubbed of credentials)
    cloned_from: Optional[int] = None
    job_id: Optional[int] = None  # a queued served job to run (its row exists)
    step_env: Optional[dict] = None  # the environment steps start from (default: this process's)
    push: bool = False  # afterwards, upload what was built to the remote
    mlflow: bool = False  # log the job to MLflow (also whenever MLFLOW_TRACKING_URI is set)
    executor: Optional[ExecutorChoice] = None  # what runs the steps (None: the local executor)


@dataclass(eq=False)  # (no two records are compared: the methods are not worth their start-up)
class RunRecord:
    """What a run did, for the face to render."""

    summary: RunSummary
    job: Optional[object] = None  # jobdb.records.Job (id, uid); None for a dry run
    warnings: list = field(default_factory=list)  # problems that failed no step
    downloaded: Optional[object] = None  # remote.transfer.Transfer from the remote's run cache, if one was used
    remote_name: Optional[str] = None
    remote_url: Optional[str] = None  # shown without credentials
    remote_problems: list = field(default_factory=list)  # RemoteError: the remote could not be used
    pushed: Optional[object] = None  # sync.SyncReport of --push
    mlflow_run: Optional[str] = None
    mlflow_store: Optional[str] = None  # pipe's own MLflow store, when the job was logged there
    mlflow_error: Optional[PipefileError] = None

    @property
    def exit_code(self) -> int:
        s = self.summary
        code = ExitCode.INTERRUPTED if s.interrupted else ExitCode.STEP_FAILED if s.failed else ExitCode.OK
        if code == ExitCode.OK and self.pushed is not None and not self.pushed.ok:
            code = ExitCode.STEP_FAILED
        return code


class Session(MapRounds):
    def __init__(
        self,
        graph: graph_mod.Graph,
        writable: bool = True,
        workspace: Optional[Workspace] = None,
        remote=None,
        gpus: Optional[str] = None,
        on_remote_error=None,
    ):
        """writable=False (status, dry runs) never creates `.pipe/` and writes nothing.
        `workspace`: one opened already (a served job's), closed with the session.
        `remote`: a remote.config.RemoteSpec whose run cache is consulted (lazily: a run
        with nothing to decide never connects); on_remote_error(RemoteError) is told once if
        it cannot be used, and the plan goes on with local work. `gpus`: `--gpus`."""
        self.graph = graph
        self.root = graph.pipefile.root
        self.writable = writable
        self.remote = None
        self.remote_cache = None  # remote.run_cache.RemoteRunCache: the gatherer of run-cache answers
        self.remote_problems: list = []
        self._on_remote_error = on_remote_error
        if remote is not None:
            from .remote.run_cache import RemoteRunCache
            from .remote.transport import Remote  # only with a remote: a local run does not load it

            self.remote = Remote(remote)
            self.remote_cache = RemoteRunCache(self.remote, self._remote_failed)
        self.ws = workspace or Workspace(self.root, create=writable)
        if remote is None and os.path.exists(os.path.join(self.ws.dir, "ray-store")):
            from .executors.held import held_store
            from .remote.run_cache import RemoteRunCache
            from .remote.transport import Remote

            held = held_store(self.ws.dir)  # outputs the Ray executor left on its shared store
            if held is not None:
                self.remote = Remote(held)
                self.remote_cache = RemoteRunCache(self.remote, self._remote_failed)
        self.cache = self.ws.state.stat_cache(skip=settled_folders(graph))  # (a map's: maps.py)
        self.hasher = Hasher(self.root, self.cache)
        self.envs = EnvironmentSet(graph.pipefile, self.hasher, self.ws.store_root)
        self.gpu_override = gpus
        self.outside: Optional[Outside] = None
        self.request = RunRequest()
        self.executor = None
        self.fetcher = None
        self._planner: Optional[Planner] = None
        self._plan: Optional[Plan] = None
        self._records = None
        self._cancel = None
        self._git = None  # a GitProbe, started by lock()
        self._started_ns = None  # when the first plan began (maps.update)
        self._second = False  # the plan runs the makers of maps' folders; the maps come after
        self._noop_write = None  # writes the no-op record as the workspace is let go (noop_record.py)

    def _remote_failed(self, e) -> None:
        self.remote_problems.append(e)
        if self._on_remote_error:
            self._on_remote_error(e)

    def close(self) -> None:
        if self.remote is not None:
            self.remote.close()
        self.ws.close(before_release=self._noop_write)

    # --- lock ------------------------------------------------------------------------------
    def lock(self, on_wait=None, probe_git: bool = True) -> None:
        """Hold the workspace, undo what a killed run left, and put the artifact versions the
        steps read in place; probe_git=False for a served job (its deployment, not a git
        commit, says what code it runs)."""
        from . import staging
        from .jobs import GitProbe

        self.ws.lock.acquire(on_wait=on_wait)
        stale_runs = self.ws.stale_runs()
        if not any(e.type == spec.ENV_DOCKER for e in self.graph.pipefile.environments.values()):
            stale_runs = []
        # Containers do not die with the pipe that started them: remove those of a killed run,
        # and those left when the daemon went away (noted in .pipe/containers/: containers.py).
        left = os.path.join(self.ws.dir, "containers")  # (containers.LEFT_DIR)
        if stale_runs or os.path.isdir(left):
            from .envs.docker.containers import left_runs, remove_containers

            remove_containers(sorted(set(stale_runs) | set(left_runs(self.ws.dir))), self.ws.dir)
        staging.recover(self.ws)
        self._remove_stale_entries()
        artifacts_mod.materialize_bound(self.ws, self.hasher, self.graph.artifacts.values())
        if probe_git:
            self._git = GitProbe(self.root)  # while the plan is made; read when the job begins

    # --- gather the outside ----------------------------------------------------------------
    def gather(self, targets: Iterable[str] = (), say=None, fetch: bool = True, strict: bool = True) -> Outside:
        """What the plan of `targets` needs from outside the workspace, before planning
        (gathering.py; strict: a run, where every lookup must succeed)."""
        self.outside = gather_outside(
            self.graph,
            self.envs,
            self.ws,
            self.remote,
            self.remote_cache,
            self._remote_failed,
            targets,
            say,
            fetch,
            strict,
            self.gpu_override,
        )
        return self.outside

    # --- plan ------------------------------------------------------------------------------
    def plan(self, targets: Iterable[str] = (), forced=frozenset()) -> Plan:
        """Decide every selected step; what the remote's run cache holds for the keys met
        is looked up between rounds (a round per chain of steps only the remote can restore)."""
        targets = tuple(targets)
        if self.outside is None:
            self.gather(targets, strict=False)
        if self._records is None:
            settled = any(g.settled for g in self.graph.groups.values())
            self._records = self.ws.state.steps(list(self.graph.nodes) if settled else None)
        if self._started_ns is None:
            self._started_ns = time.time_ns()  # (before anything is hashed: see maps.update)
        planner = self._planner = Planner(
            self.graph,
            self.hasher,
            self._records,
            self.ws.actions,
            self.ws.store,
            forced,
            self.outside,
            *self._sweep_memory(),
        )
        plan = planner.plan(targets)
        while planner.wanted:
            self._ask_remote(planner)
            plan = planner.plan(targets)
        if any(g.settled for g in self.graph.groups.values()):
            from . import maps

            if not maps.verify(self.graph, plan):
                # What a map's settled tasks share changed: each gets its node, and is planned.
                for folder in settled_folders(self.graph):
                    self.cache.load_under(folder)
                self.graph = self.graph.full()
                self._records = None
                return self.plan(targets, forced)
        return plan

    def _sweep_memory(self) -> tuple:
        """(the kept stops of trials early termination stopped, the store of a bayesian sweep's
        proposed rounds), for a graph with such sweeps: (None, None) without (start-up)."""
        if not self.graph.groups:
            return None, None
        from . import stopping

        policies = {stopping.policy_of(g) for g in self.graph.groups.values()} - {None}
        stops = self.ws.jobs.stops(policies) if policies else None
        proposals = None
        if self.graph.proposed:
            from .cache.proposal_store import ProposalStore

            folder = os.path.join(self.ws.dir, "cache", "proposals")
            proposals = ProposalStore(folder, writable=self.writable and not self.request.dry_run)
        return stops, proposals

    def _ask_remote(self, planner: Planner) -> None:
        wanted, planner.wanted = planner.wanted, set()
        self.outside = self.outside.with_remote_entries({k: self.remote_cache.get(k) for k in sorted(wanted)})
        planner.outside = self.outside

    def stays_on_remote(self, plan: Plan, targets: Iterable[str] = ()) -> set:
        """The steps `pipe run TARGETS --remote` would leave on the remote: restorable only from
        it, and nothing this run needs reads them (what `pipe status --remote` shows)."""
        if self.remote_cache is None:
            return set()
        left = left_on_remote(self.graph, plan, targets)
        return {n for n in left if not all(self.ws.store.complete(d) for d in plan.decisions[n].outputs.values())}

    # --- run -------------------------------------------------------------------------------
    def start(self, request: RunRequest, on_wait=None, say=None, probe_git: bool = True) -> Plan:
        """Lock (unless a dry run), gather and plan the run `request` asks for; `run` then
        follows this plan. on_wait(text): the workspace is busy; say(text): progress
        (an image being pulled)."""
        self.request = request
        if noop_trace.ACTIVE is not None and not noop_policy.may_stand_for_a_noop(self):
            noop_trace.ACTIVE.stop()  # no record can come of this run: it is not traced
        if not request.dry_run:
            self.lock(on_wait=on_wait, probe_git=probe_git)
        self.gather(request.targets, say=say, fetch=not request.dry_run)
        self._plan = self.plan(request.targets, request.forced)
        if self.graph.groups and not request.dry_run:
            self._plan = self._makers_first(self._plan)
        return self._plan

    def run(self, events=None) -> RunRecord:
        """Run the plan `start` made; unless a dry run, record it as a job."""
        from .executors.dry_run import DryRunExecutor
        from .job_executor import RAY_DEFAULT_JOBS, make_executor, ray_cluster, runs_something
        from .jobs import Fanout, JobRecorder, begin_job, job_status
        from .rebuilder import Verdict
        from .scheduler import Scheduler

        req, plan = self.request, self._plan
        if plan is None:
            plan = self.start(req)
        redecide = self._redecider()
        choice = req.executor or ExecutorChoice()
        # On a cluster, Ray places steps by their resources: this machine's GPUs, memory and
        # CPUs are not what limits them.
        elsewhere = choice.type == RAY and not req.dry_run
        wants = any(self.graph.nodes[n].step.resources.gpus for n in plan.decisions) and not elsewhere
        gpus = list(self.outside.gpus) if wants else None
        if req.dry_run:
            sched = Scheduler(
                self.graph,
                redecide,
                DryRunExecutor(),
                None,
                req.jobs,
                req.keep_going or self.graph.pipefile.keep_going,
                events,
                dry_run=True,
                gpus=gpus,
            )
            return self._record(sched.execute(plan), None)
        if not elsewhere:
            Scheduler(self.graph, redecide, None, gpus=gpus).check_resources(plan)  # before the job begins
        self._check_store_links()
        cluster = ray_cluster(self.root, choice) if elsewhere else None
        if cluster is not None and runs_something(plan):
            cluster.connect()  # now: an unreachable cluster is an error before the job begins
        with disk_errors(self.ws.jobs.path):
            job = begin_job(
                self.ws,
                self.hasher,
                self.graph,
                req.experiment,
                req.targets,
                req.argv,
                req.cloned_from,
                git=self._git,
                job_id=req.job_id,
            )
        if self.envs.made:
            self._note_environments()
        log_dir = self.ws.job_dir(job.id)
        os.makedirs(log_dir, exist_ok=True)
        leave = frozenset()
        if self.remote_cache is not None:
            from .remote.run_cache import RemoteFetcher

            self.fetcher = RemoteFetcher(self.remote_cache, self.ws.store, self.ws.actions)
            asked = req.targets
            if cluster is not None and not asked:  # as a run on the cluster lands them: its final steps
                from .executors.held import final_steps

                asked = tuple(final_steps(self.graph, plan))
            leave = frozenset(left_on_remote(self.graph, plan, asked))
        all_fresh = all(d.verdict == Verdict.FRESH for d in plan.decisions.values())
        if noop_trace.ACTIVE is not None and not all_fresh:
            noop_trace.ACTIVE.stop()  # no record comes of a run that does something: it is not traced
        if cluster is None and not self._second and all_fresh:
            # Every step is fresh (a fresh step is never decided again, and no map's folder is
            # waited for): nothing will be run, restored or put back, so no executor is made
            # (start-up of the most common run).
            executor = self.executor = DryRunExecutor()
        else:
            executor = self.executor = make_executor(self, job, log_dir, leave, cluster, plan)
        if hasattr(events, "output"):  # a listener that shows what steps print (see executors/protocol.py)
            executor.follow_output(events)
        if self._cancel is not None:
            executor.cancel(hard=self._cancel)
        recorder = JobRecorder(self.ws, job, self.graph)
        sched = Scheduler(
            self.graph,
            redecide,
            executor,
            self.ws.state,
            req.jobs or (RAY_DEFAULT_JOBS if elsewhere else 0),
            req.keep_going or self.graph.pipefile.keep_going,
            Fanout(events, recorder),
            gpus=gpus,
            placed_elsewhere=elsewhere,
        )
        status = JobStatus.INTERRUPTED
        try:
            summary = sched.execute(plan)
            if self._second and not summary.failed and not summary.interrupted:
                status = JobStatus.FAILED  # (a map's folder that cannot be mapped: a located error)
                summary = self._then_the_maps(summary, sched, recorder)
            status = job_status(summary)
            self._record_maps(summary)
        finally:
            try:
                executor.close()
            finally:
                try:
                    recorder.close()
                finally:
                    self.ws.jobs.finish(job.id, status)
        if noop_trace.ACTIVE is not None and noop_policy.stands_for_a_noop(
            self, plan, summary, cluster, recorder.warnings
        ):
            recording, git = noop_trace.ACTIVE, self._git is not None and self._git.asked
            names, known = noop_policy.artifact_names(self), self.cache.entries
            self._noop_write = lambda: recording.write(
                self.ws.dir, self.root, job.id, job.uid, summary.seconds, git, known=known, artifacts=names
            )
        return self._record(summary, job, recorder.warnings)

    def _check_store_links(self) -> None:
        """No output may land in a store kept outside .pipe/ (PIPE_STORE_DIR, a clone's): the
        graph checked .pipe/ itself; only such a store costs this second look."""
        store = os.path.realpath(self.ws.store_root)
        if store.startswith(os.path.realpath(self.ws.dir) + os.sep):
            return
        pf = self.graph.pipefile
        raise_all(link_errors(pf, self.graph.producers, self.graph.nodes, forbidden=[store]))

    def _record(self, summary: RunSummary, job, warnings=()) -> RunRecord:
        self._note_settled(summary)
        return RunRecord(
            summary,
            job,
            list(warnings),
            self.fetcher.total if self.fetcher is not None else None,
            self.remote.name if self.remote is not None else None,
            self.remote.spec.shown if self.remote is not None else None,
            self.remote_problems,
        )

    def finish(self, record: RunRecord, push_progress=None, say=None) -> RunRecord:
        """After the run (its progress view closed): with --push, upload what it built, restored
        or found fresh (what the remote has is skipped; a failure is reported, not raised: the
        run stands); log the job to MLflow when asked (a failure is a warning; `say`: told
        before, as the wait may be long)."""
        return finish_run(self.ws, self.remote, self.request, record, push_progress, say)

    def _note_environments(self) -> None:
        """Write .pipe/environments.json: what this workspace's environments are now, so that
        `pipe envs prune` (from any workspace sharing the store) keeps them."""
        from .envs.usage import note_made

        pf = self.graph.pipefile
        note_made(self.ws.dir, self.envs.made, keep=pf.environments, pipefile=os.path.relpath(pf.path, pf.root))

    def _redecider(self) -> "_Redecider":
        return _Redecider(self)

    def cancel(self, hard: bool = False) -> None:
        """Stop the run from another thread: running steps are signalled (their whole
        process group), steps not started yet do not start."""
        self._cancel = hard
        if self.executor is not None:
            self.executor.cancel(hard=hard)


class _Redecider:
    """What the scheduler asks to decide a PENDING step again, once its inputs are final:
    the planner, with the remote's answer for the step's new key gathered first."""

    def __init__(self, session: Session):
        self.session = session
        self.planner = session._planner
        self.hasher = self.planner.hasher

    def read_ahead(self, name: str, most_bytes: int) -> int:
        return self.planner.read_ahead(name, most_bytes)

    def decide(self, name: str, upstream):
        d = self.planner.decide(name, upstream)
        if self.planner.wanted:
            self.session._ask_remote(self.planner)
            d = self.planner.decide(name, upstream)
        return d
