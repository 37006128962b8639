"""The one staleness function: `decide()` says what a step needs, and why.

    FRESH    its key matches the last build here and its outputs are untouched
             (or the workspace already holds exactly what the cache has for it)
    RESTORE  its key was built before, here or elsewhere: copy outputs from the store
    RUN      nothing known matches: run the command
    PENDING  an input comes from a step that has yet to run: decide again after it
    STOPPED  a sweep trial that early termination stopped before, with this key and the
             same policy: it stays stopped, nothing runs (stopping.py)

Reasons are data (`Reason`), rendered by `report/reasons.py`; the same objects feed
`pipe status`, `pipe run`'s progress and `--json`. Pure: reads nothing,
writes nothing; callers hand in what they looked up.
"""

from __future__ import annotations

import enum
from dataclasses import field
from typing import Mapping, Optional

from .digest import PathDigest
from .keys import StepKey
from .lazyclass import dataclass


class Verdict(str, enum.Enum):
    FRESH = "fresh"
    RESTORE = "restore"
    RUN = "run"
    PENDING = "pending"
    STOPPED = "stopped"


# Reason kinds.
NEVER_BUILT = "never_built"
FORCED = "forced"
ALWAYS_RUNS = "always_runs"  # a step that is never reused (imported: is_deterministic: false, force_rerun)
COMMAND_CHANGED = "command_changed"
ENV_CHANGED = "env_changed"
GPU_MODEL_CHANGED = "gpu_model_changed"
PARAM_CHANGED = "param_changed"
INPUT_CHANGED = "input_changed"
CODE_CHANGED = "code_changed"
OUTPUTS_CHANGED = "outputs_changed"
FORMAT_CHANGED = "format_changed"
OUTPUT_MISSING = "output_missing"
OUTPUT_MODIFIED = "output_modified"
UPSTREAM = "upstream"
PROPOSED = "proposed"  # its inputs are proposed once the tasks before it end (a bayesian trial)
MISSING_INPUT = "missing_input"
# An input a task of this run ended without (a sweep trial stopped early, or failed): subject
# the path, old the task, new how it ended.
NOT_MADE = "input_not_made"
# How a foreach item's task ended that the step's error_threshold let fail (NOT_MADE's new)
WITHIN_THRESHOLD = "within the error_threshold"
# A trial stopped before: subject the policy, old the judgement, new the job that stopped it.
STOPPED_BEFORE = "stopped_before"
CACHED = "cached"


@dataclass(frozen=True)
class Reason:
    kind: str
    subject: str = ""
    old: Optional[str] = None
    new: Optional[str] = None


@dataclass(frozen=True)
class Decision:
    step: str
    verdict: Verdict
    key: Optional[StepKey] = None
    reasons: tuple = ()
    # FRESH / RESTORE: the outputs the workspace holds (or will hold) afterwards.
    outputs: Optional[Mapping[str, PathDigest]] = None
    # FRESH only: the workspace record must be (re)written, e.g. after it was lost.
    record: bool = False
    # RESTORE only: the remote whose run cache has the outputs (None: the local store).
    remote: Optional[str] = None


@dataclass(frozen=True)
class Prior:
    """What this workspace last recorded for a step."""

    key: str
    manifest: dict
    outputs: Mapping[str, PathDigest]  # output name -> content recorded


@dataclass(frozen=True)
class Observation:
    """Everything `decide` needs, gathered by the caller."""

    key: StepKey
    prior: Optional[Prior]
    current: Mapping[str, Optional[PathDigest]]  # output name -> what is at its path now
    output_paths: Mapping[str, str] = field(default_factory=dict)
    cached: Optional[Mapping[str, PathDigest]] = None  # action cache hit, objects all present
    forced: bool = False  # (True also for a step that always runs: `always`)
    cached_on: Optional[str] = None  # the remote whose run cache has the hit (None: the local store)
    always: bool = False  # forced because the step always runs, not by --force


def _short(d: Optional[PathDigest]) -> str:
    return d.short() if d else "missing"


def _output_problems(obs: Observation, expected: Mapping[str, PathDigest]) -> list:
    out = []
    for name, want in expected.items():
        have = obs.current.get(name)
        path = obs.output_paths.get(name, name)
        if have is None:
            out.append(Reason(OUTPUT_MISSING, path))
        elif not have.same_content(want):
            out.append(Reason(OUTPUT_MODIFIED, path, want.short(), have.short()))
    return out


def decide(step: str, obs: Observation) -> Decision:
    key = obs.key
    if obs.forced:
        return Decision(step, Verdict.RUN, key, (Reason(ALWAYS_RUNS if obs.always else FORCED),))
    prior = obs.prior
    if prior is not None and prior.key == key.digest and set(prior.outputs) == set(obs.current):
        problems = _output_problems(obs, prior.outputs)
        if not problems:
            return Decision(step, Verdict.FRESH, key, (), dict(prior.outputs))
        if obs.cached is not None:
            return Decision(
                step,
                Verdict.RESTORE,
                key,
                tuple(problems) + (Reason(CACHED, obs.cached_on or ""),),
                dict(obs.cached),
                remote=obs.cached_on,
            )
        return Decision(step, Verdict.RUN, key, tuple(problems))
    reasons = explain(prior.manifest if prior else None, key.manifest)
    if obs.cached is not None:
        if not _output_problems(obs, obs.cached):
            return Decision(step, Verdict.FRESH, key, (), dict(obs.cached), record=True)
        return Decision(
            step,
            Verdict.RESTORE,
            key,
            tuple(reasons) + (Reason(CACHED, obs.cached_on or ""),),
            dict(obs.cached),
            remote=obs.cached_on,
        )
    return Decision(step, Verdict.RUN, key, tuple(reasons))


def not_made_text(r: Reason) -> str:
    """The sentence of a NOT_MADE reason: which task, why, and what to do."""
    sweep = str(r.old).rpartition("[")[0] or "STEP"  # (a task is STEP[LABEL])
    if WITHIN_THRESHOLD in str(r.new):  # a foreach's item: it has no trials, no best
        return (
            f"input '{r.subject}' was not made: '{r.old}' {r.new}, so it has no output; read the items "
            f"that succeeded through ${{{{steps.{sweep}.outputs.NAME}}}}, which leaves it out, or fix the "
            f"item (its error: pipe logs last '{r.old}') and run again"
        )
    return (
        f"input '{r.subject}' was not made: '{r.old}' {r.new}, so it has no output; read the trials "
        f"that finished through ${{{{steps.{sweep}.outputs.NAME}}}} or ${{{{steps.{sweep}.best.outputs.NAME}}}}, "
        f"which leave it out, or run it again (pipe run --force='{r.old}')"
    )


def _fmt_input(d: Optional[dict]) -> Optional[str]:
    if d is None:
        return None
    if d.get("left_out"):
        return "(left out)"
    if "digest" in d:
        return d["digest"][:10] + ("/" if d.get("kind") == "tree" else "")
    if d.get("none"):
        return "(unset)"
    return repr(d.get("value"))


def explain(old: Optional[dict], new: dict) -> list:
    """Why a key differs from the last one recorded: field by field."""
    if old is None:
        return [Reason(NEVER_BUILT)]
    if old.get("v") != new.get("v"):
        return [Reason(FORMAT_CHANGED)]
    reasons = []
    # The rendered command changes with every input and param it uses; only a change of the
    # template itself is news.
    if old.get("template") != new.get("template"):
        reasons.append(Reason(COMMAND_CHANGED, "", _cmd(old.get("command")), _cmd(new.get("command"))))
    if old.get("env") != new.get("env"):
        reasons.append(Reason(ENV_CHANGED, "", _env(old.get("env")), _env(new.get("env"))))
    if old.get("gpu_model") != new.get("gpu_model"):
        reasons.append(
            Reason(
                GPU_MODEL_CHANGED,
                "",
                str(old.get("gpu_model", "(not in key)")),
                str(new.get("gpu_model", "(not in key)")),
            )
        )
    op, np_ = old.get("params", {}), new.get("params", {})
    changed_params = set()
    for name in sorted(set(op) | set(np_)):
        if op.get(name) != np_.get(name):
            changed_params.add(name)
            reasons.append(Reason(PARAM_CHANGED, name, _val(op, name), _val(np_, name)))
    oi, ni = old.get("inputs", {}), new.get("inputs", {})
    for name in sorted(set(oi) | set(ni)):
        a, b = oi.get(name), ni.get(name)
        if a != b and (b or {}).get("param") in changed_params and (a or {}).get("param") == (b or {}).get("param"):
            continue  # already said: the param it is bound to changed
        if a != b:
            subject = (b or a or {}).get("path", name)
            reasons.append(Reason(INPUT_CHANGED, subject, _fmt_input(a), _fmt_input(b)))
    oc, nc = old.get("code", {}), new.get("code", {})
    for path in sorted(set(oc) | set(nc)):
        if oc.get(path) != nc.get(path):
            reasons.append(Reason(CODE_CHANGED, path, _fmt_input(oc.get(path)), _fmt_input(nc.get(path))))
    ol, nl = old.get("library"), new.get("library")
    if ol != nl:  # a std component's code (outside the workspace): said as code, by its std name
        lib = nl or ol or {}
        reasons.append(Reason(CODE_CHANGED, f"std/{lib.get('component', '')}", _fmt_lib(ol), _fmt_lib(nl)))
    if old.get("outputs") != new.get("outputs"):
        reasons.append(Reason(OUTPUTS_CHANGED))
    if not reasons and old.get("command") != new.get("command"):
        reasons.append(Reason(COMMAND_CHANGED, "", _cmd(old.get("command")), _cmd(new.get("command"))))
    return reasons or [Reason(COMMAND_CHANGED)]


def _env(identity) -> str:
    """`venv:3f9c1a2b0c` rather than the whole digest."""
    text = str(identity)
    kind, _, digest = text.partition(":")
    return f"{kind}:{digest[:10]}" if digest else text


def _fmt_lib(lib: Optional[dict]) -> str:
    if not lib:
        return "(none)"
    return f"{lib.get('version')} {str(lib.get('digest', ''))[:10]}"


def _val(d: dict, name: str) -> Optional[str]:
    return repr(d[name]) if name in d else "(unset)"


def _cmd(c) -> str:
    if isinstance(c, list):
        import shlex

        return shlex.join(c)
    return str(c)
