"""plan(graph, targets) -> Plan: what each selected step needs, decided purely.

The planner walks the selected steps in topological order, digests what each
one reads (through the StatCache: stats, not reads, when nothing changed),
computes its StepKey and asks `rebuilder.decide`. A step that reads the output
of a step that must run is PENDING; the scheduler calls `Planner.decide` again
once that output is final, which is where early cutoff happens: an upstream
rerun that produced byte-identical outputs leaves the downstream key as it was.

`pipe status` and `pipe run` share this module; it never writes to the
workspace (the StatCache it fills is kept in memory; callers decide whether to
save it), and it asks nothing of the world outside the workspace: environment
identities (Docker image ids), the GPU model and a remote's run cache are
gathered beforehand into an `Outside` snapshot (session.py), which it reads. A
run-cache key the snapshot has no answer for (it became known only now) is a
miss, noted in `Planner.wanted`; the session looks it up and decides again.
"""

from __future__ import annotations

import os
import stat
from dataclasses import field, replace
from typing import Mapping, Optional

from .digest import Hasher, PathDigest
from .errors import PipefileError
from .graph import Graph, Node
from .keys import LEFT_OUT, LOCAL_ENV_IDENTITY, step_key
from .lazyclass import dataclass
from .rebuilder import (
    MISSING_INPUT,
    NOT_MADE,
    PROPOSED,
    STOPPED_BEFORE,
    UPSTREAM,
    WITHIN_THRESHOLD,
    Decision,
    Observation,
    Prior,
    Reason,
    Verdict,
    decide,
)


@dataclass(frozen=True)
class Upstream:
    """What a later step may assume about an earlier one's outputs."""

    outputs: Optional[Mapping[str, PathDigest]]  # None: unknown until it has run
    in_workspace: bool  # False while a restore is still to happen
    ended: str = ""  # outputs {}: the outcome it ended with, without them ("stopped", "failed")


@dataclass(frozen=True, eq=False)  # (never compared: equality would only cost start-up)
class Outside:
    """What a plan needs from outside the workspace, looked up before planning.

    Only what the selected steps need is there: an environment's identity when a step
    uses it, the GPUs when a step asks for some or keys on their model, the run-cache
    entries of a remote for the keys asked so far. A lookup that failed holds its error,
    raised when a decision needs that value (as if it were looked up then)."""

    env_identities: Mapping = field(default_factory=dict)  # env name -> identity, or the PipefileError
    gpus: Optional[tuple] = None  # the pool (envs.gpus.Gpu) steps are given; None: not gathered
    gpu_model: Optional[str] = None
    gpu_error: Optional[Exception] = None  # a bad --gpus / PIPE_GPUS, if one was met
    remote: Optional[str] = None  # the remote whose run cache `remote_entries` answer for
    remote_entries: Mapping = field(default_factory=dict)  # key -> {output: PathDigest}, or None: not there

    def identity(self, env: str) -> str:
        found = self.env_identities[env]  # (a KeyError is a bug: the session gathers every one used)
        if isinstance(found, Exception):
            raise found
        return found

    def model(self) -> str:
        if self.gpu_error is not None:
            raise self.gpu_error
        if self.gpu_model is None:
            raise LookupError("the GPU model was not gathered before planning")
        return self.gpu_model

    def with_remote_entries(self, more: Mapping) -> "Outside":
        return replace(self, remote_entries={**self.remote_entries, **more})


@dataclass
class Plan:
    decisions: dict  # step name -> Decision, in topological order

    def count(self, verdict: Verdict) -> int:
        return sum(1 for d in self.decisions.values() if d.verdict == verdict)

    @property
    def up_to_date(self) -> bool:
        """Nothing to do: every task fresh, or a sweep trial that stays stopped."""
        return all(d.verdict in (Verdict.FRESH, Verdict.STOPPED) for d in self.decisions.values())


class Planner:
    def __init__(
        self,
        graph: Graph,
        hasher: Hasher,
        records: Mapping,
        actions,
        store,
        forced=frozenset(),
        outside: Optional[Outside] = None,
        stops: Optional[Mapping] = None,
        proposals=None,
    ):
        """`outside`: what was gathered before planning (the session replaces it with one
        holding more remote answers, then decides again). `stops`: (key, policy) -> (job, why)
        of the sweep trials early termination stopped (stopping.py), which stay stopped.
        `proposals`: a cache.proposal_store.ProposalStore of a bayesian sweep's rounds."""
        self.graph = graph
        self.hasher = hasher
        self.records = records  # step name -> workspace.state.StepRecord
        self.actions = actions
        self.store = store
        self.forced = forced  # a set of step names, or True for every step
        self.stops = stops or {}
        self.proposals = proposals
        self.outside = outside or Outside()
        # Run-cache keys the remote of `outside` may have and it holds no answer for yet.
        self.wanted: set = set()
        # The versions artifact bindings read: their content is known (it is what the job
        # database recorded), whether or not it is materialised yet.
        self._artifacts = {a.path: PathDigest(a.kind, a.digest, a.size) for a in graph.artifacts.values()}
        self._sources: Optional[dict] = None  # source path -> digest, while plan() runs

    def plan(self, targets=()) -> Plan:
        selected = self.graph.select(targets)
        decisions: dict = {}
        upstream: dict = {}
        # One digest per source path for the whole plan: a plan is a snapshot, and a file
        # modified a moment ago (not yet trusted by the stat cache) is then read once, not
        # once per step that reads it. Decisions made later, while the run goes, hash again.
        self._sources = {}
        try:
            for name in selected:
                d = self.decide(name, upstream)
                decisions[name] = d
                if d.verdict == Verdict.FRESH:
                    upstream[name] = Upstream(d.outputs, True)
                elif d.verdict == Verdict.RESTORE:
                    upstream[name] = Upstream(d.outputs, False)
                elif d.verdict == Verdict.STOPPED:
                    # It ends with no outputs, as when it was stopped; an entry still at its path
                    # (of other inputs) is removed first: a reader of the folder waits for that.
                    upstream[name] = Upstream({}, not self._holds_entries(name), "stopped")
                else:
                    upstream[name] = Upstream(None, False)
        finally:
            self._sources = None
        return Plan(decisions)

    def _overlaps(self, path: str, step: str) -> bool:
        """Whether `path` is inside, or holds, an output of `step`."""
        for out in self.graph.nodes[step].outputs.values():
            o = out.path
            if path == o or path.startswith(o + "/") or o.startswith(path + "/") or path in (".", ""):
                return True
        return False

    def _digest(self, path: str) -> Optional[PathDigest]:
        known = self._artifacts.get(path)
        if known is not None:
            return known
        memo = self._sources
        if memo is not None and path in memo:
            return memo[path]
        before = self.hasher.cache.hashed_bytes
        d = self.hasher.digest(path)
        # Only what had to be read is remembered (the stat cache answers the rest at once).
        if memo is not None and self.hasher.cache.hashed_bytes != before and self.graph.is_source(path):
            memo[path] = d
        return d

    def read_ahead(self, name: str, most_bytes: int) -> int:
        """Digest the source files `name` reads (files no step writes) before it is decided,
        while a command runs: its decision then finds them in the stat cache, on the path
        between that command and the next. Files only, and `most_bytes` of them in all (the
        step may never be decided: what it reads ahead is spent for nothing then); returns
        what is left of it."""
        for path in self.graph.nodes[name].read_paths():
            if path in self._artifacts or not self.graph.is_source(path):
                continue
            try:
                st = os.stat(self.hasher.abspath(path))
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > most_bytes:
                continue
            if self.hasher.cache.lookup(path, st) is None:
                try:
                    self.hasher.digest(path)
                except (OSError, PipefileError):
                    continue  # (gone or unreadable: deciding the step, if it comes to that, says so)
                most_bytes -= st.st_size
        return most_bytes

    def is_forced(self, name: str) -> bool:
        return self.forced is True or name in self.forced or self.graph.nodes[name].step.always_run

    def decide(self, name: str, upstream: Mapping[str, Upstream]) -> Decision:
        if name in self.graph.proposed:  # its inputs come from the tasks before it (proposals.py)
            from .proposals import settle

            after = settle(self.graph, name, upstream, self.proposals)
            if after:
                return Decision(name, Verdict.PENDING, None, tuple(Reason(PROPOSED, a) for a in after))
        node: Node = self.graph.nodes[name]
        waiting = [d for d in node.deps if d in upstream and upstream[d].outputs is None]
        if waiting:
            return Decision(name, Verdict.PENDING, None, tuple(Reason(UPSTREAM, w) for w in waiting))
        digests: dict = {}
        not_there = []
        for path in node.read_paths():
            if path in digests:
                continue
            exact = self.graph.producers.get(path)
            if exact and exact[0] in upstream:
                outputs = upstream[exact[0]].outputs
                assert outputs is not None  # its producer is a dep, and no dep is waiting (above)
                if exact[1] not in outputs:  # a sweep trial stopped early (or failed, left out): it has none
                    there = os.path.lexists(os.path.join(self.graph.pipefile.root, path))
                    if not upstream[exact[0]].in_workspace:  # (its old entry is removed first)
                        not_there.append(exact[0])
                    elif self._gathers(name, exact[0]) and not there:
                        digests[path] = LEFT_OUT  # gathered without it: its key says so
                    else:
                        ended = upstream[exact[0]].ended
                        how = {"stopped": "was stopped early", "": "ended without it"}.get(ended, ended)
                        if ended == "failed" and not self._in_sweep(exact[0]):  # (a map's item: no trials, no best)
                            how = f"failed, {WITHIN_THRESHOLD} of '{self.graph.nodes[exact[0]].step.group}'"
                        how += " (and a file an earlier run left there could not be removed)" if there else ""
                        return Decision(name, Verdict.RUN, None, (Reason(NOT_MADE, path, exact[0], how),))
                    continue
                digests[path] = outputs[exact[1]]
                continue
            # A path inside (or around) an output can only be digested once it is in place.
            waiting = [
                d for d in node.deps if d in upstream and not upstream[d].in_workspace and self._overlaps(path, d)
            ]
            if waiting:  # (not digested now: a folder its entries restore into is not there yet)
                not_there += waiting
                continue
            d = self._digest(path)
            if d is None:
                # Not an error for the whole plan: this step cannot run, the others can.
                return Decision(name, Verdict.RUN, None, (Reason(MISSING_INPUT, path),))
            digests[path] = d
        if not_there:
            return Decision(name, Verdict.PENDING, None, tuple(Reason(UPSTREAM, w) for w in dict.fromkeys(not_there)))
        env = node.step.environment
        identity = self.outside.identity(env) if env else LOCAL_ENV_IDENTITY
        model = self.outside.model() if node.step.key_includes else None
        key = step_key(node, digests, identity, model)
        rec = self.records.get(name)
        prior = Prior(rec.key, rec.manifest, {n: o.content for n, o in rec.outputs.items()}) if rec else None
        paths = {n: o.path for n, o in node.outputs.items()}
        current = {n: self.hasher.digest(p, data_only=True) for n, p in paths.items()}
        forced = self.is_forced(name)
        always = node.step.always_run and not (self.forced is True or name in self.forced)
        obs = Observation(key, prior, current, paths, None, forced, always=always)
        first = decide(name, obs)
        if first.verdict == Verdict.FRESH or forced:
            return first
        cached, source = self.cached_outputs(key.digest, set(paths))
        if cached is None:
            return self._stopped_before(node, key) or first
        return decide(name, Observation(key, prior, current, paths, cached, forced, source))

    def _in_sweep(self, task: str) -> bool:
        group = self.graph.nodes[task].step.group
        return bool(group) and group in (self.graph.groups or {}) and self.graph.groups[group].kind == "sweep"

    def _gathers(self, name: str, trial: str) -> bool:
        """Whether `name` is the task gathering the per-task outputs of sweep trial `trial`
        (outpaths.gather_step), which goes on without the trials that ended without them."""
        from .outpaths import GATHER_SUFFIX  # (here: only when a trial ended without outputs; start-up)

        group = self.graph.nodes[trial].step.group
        kind = self.graph.groups[group].kind if group and group in (self.graph.groups or {}) else ""
        return kind == "sweep" and name == group + GATHER_SUFFIX

    def _holds_entries(self, name: str) -> bool:
        root = self.graph.pipefile.root
        return any(os.path.lexists(os.path.join(root, o.path)) for o in self.graph.nodes[name].outputs.values())

    def _stopped_before(self, node: Node, key) -> Optional[Decision]:
        """A sweep trial that must run, but that early termination stopped with this key and
        the same policy: it stays stopped (a result, had it one, would have come first)."""
        if not self.stops or not node.step.group:
            return None
        from .stopping import policy_of

        group = self.graph.groups.get(node.step.group)
        policy = policy_of(group) if group is not None else None
        found = self.stops.get((key.digest, policy)) if policy is not None else None
        if found is None or group is None:
            return None
        job, detail = found
        said = Reason(STOPPED_BEFORE, group.sweep.early_termination[0], detail, str(job))
        return Decision(node.name, Verdict.STOPPED, key, (said,))

    def cached_outputs(self, key: str, names: set) -> tuple:
        """(outputs, None) from the local store, (outputs, remote name) from the remote's
        run cache, or (None, None)."""
        outs = self.actions.get(key)
        if outs is not None and set(outs) == names and all(self.store.complete(d) for d in outs.values()):
            return outs, None
        outside = self.outside
        if outside.remote is not None:
            if key not in outside.remote_entries:
                self.wanted.add(key)
                return None, None
            outs = outside.remote_entries[key]
            if outs is not None and set(outs) == names:
                return outs, outside.remote
        return None, None


def left_on_remote(graph: Graph, plan: Plan, targets=()) -> set:
    """Steps restorable only from a remote whose outputs this run does not need here: not
    asked for (by name or output path; no targets asks for every step), and not read by a
    step that runs or may run. Their outputs stay on the remote; nothing is downloaded."""
    targets = list(targets)
    asked = set(plan.decisions) if not targets else {n for t in targets for n in graph.resolve_targets(t)}
    needed = set(asked)
    for name, d in plan.decisions.items():
        if d.verdict in (Verdict.RUN, Verdict.PENDING):
            needed.update(graph.nodes[name].deps)
    return {
        n
        for n, d in plan.decisions.items()
        if d.verdict == Verdict.RESTORE and d.remote is not None and n not in needed
    }
