"""Renders a Reason (rebuilder.py: data) as the sentence `pipe status`, `--explain`, the CI
summary and the JSON of status and runs show. The one place a reason becomes text."""

from __future__ import annotations

from ..rebuilder import (
    ALWAYS_RUNS,
    CACHED,
    CODE_CHANGED,
    COMMAND_CHANGED,
    ENV_CHANGED,
    FORCED,
    FORMAT_CHANGED,
    GPU_MODEL_CHANGED,
    INPUT_CHANGED,
    MISSING_INPUT,
    NEVER_BUILT,
    NOT_MADE,
    OUTPUT_MISSING,
    OUTPUT_MODIFIED,
    OUTPUTS_CHANGED,
    PARAM_CHANGED,
    PROPOSED,
    STOPPED_BEFORE,
    UPSTREAM,
    Reason,
    not_made_text,
)

# kind -> the sentence; {s}: the subject, {arrow}: ": OLD -> NEW" when either is known
_TEXT = {
    NEVER_BUILT: "never built in this workspace",
    FORCED: "forced (--force)",
    ALWAYS_RUNS: "always runs (is_deterministic: false, or settings.force_rerun)",
    COMMAND_CHANGED: "command changed{arrow}",
    ENV_CHANGED: "environment changed{arrow}",
    GPU_MODEL_CHANGED: "GPU model changed{arrow}",
    PARAM_CHANGED: "param '{s}' changed{arrow}",
    INPUT_CHANGED: "input '{s}' changed{arrow}",
    CODE_CHANGED: "code '{s}' changed{arrow}",
    OUTPUTS_CHANGED: "declared outputs changed",
    FORMAT_CHANGED: "pipe's key format changed",
    OUTPUT_MISSING: "output '{s}' is missing",
    OUTPUT_MODIFIED: "output '{s}' was modified{arrow}",
    MISSING_INPUT: "input '{s}' does not exist (and no step produces it)",
    UPSTREAM: "waits for '{s}' to finish first",
    PROPOSED: "proposed after '{s}' ends",
}


def reason_text(r: Reason) -> str:
    if r.kind == CACHED:
        if r.subject:
            return f"built before with the same key, on remote '{r.subject}': download and restore"
        return "built before with the same key: restore from the store"
    if r.kind == NOT_MADE:
        return not_made_text(r)
    if r.kind == STOPPED_BEFORE:
        return f"stopped by {r.subject} in job {r.new}: {r.old} (--force runs it again)"
    template = _TEXT.get(r.kind)
    if template is None:
        return f"{r.kind} {r.subject}".strip()
    arrow = f": {r.old} -> {r.new}" if (r.old is not None or r.new is not None) else ""
    return template.format(s=r.subject, arrow=arrow)


def reason_json(r: Reason) -> dict:
    d = {"kind": r.kind, "message": reason_text(r)}
    if r.subject:
        d["subject"] = r.subject
    if r.old is not None:
        d["old"] = r.old
    if r.new is not None:
        d["new"] = r.new
    if r.kind == STOPPED_BEFORE and str(r.new).isascii() and str(r.new).isdigit():
        d["job"] = int(r.new)
    return d
