"""What `pipe status` does once its flags are parsed (a read-only session that plans as `pipe
run` would, rendered), without click: the click command (cli/plan.py) and entry.py's fast path
(cli/fast.py) both call `status_command`."""

from __future__ import annotations

import sys

from ..load import overridden_params
from ..outcomes import ExitCode
from ..printable import printable
from ..report.plan import render_status, status_json
from ..report.text import dump_json
from ..session import Session, load
from .console import echo
from .remote_choice import chosen_remote, echo_notes


def status_command(
    targets=(),
    pipefile=None,
    params=(),
    as_json=False,
    remote_name=None,
    no_remote=False,
    check=False,
    gpus=None,
    tasks=False,
):
    """`pipe status TARGETS`, its options as keywords (the dests of cli/flags.py and cli/plan.py)."""
    if gpus is not None:  # (read where a step asks for GPUs: a typo was taken silently elsewhere)
        from ..envs.gpus import parse as parse_gpus

        parse_gpus(gpus, "--gpus")
    graph = load(pipefile, params, settle=not (tasks or as_json) and not any("[" in t for t in targets))
    echo_notes(graph.pipefile.warnings, "warning")  # (as run and validate say them: on stderr)
    echo_notes(overridden_params(params), "warning")
    spec = chosen_remote(graph, remote_name, no_remote)

    def remote_failed(e) -> None:
        echo(f"warning: {e.render()}\n  showing the local plan", err=True)

    from ..outpaths import per_task_records

    session = Session(graph, writable=False, remote=spec, gpus=gpus, on_remote_error=remote_failed)
    try:
        plan = session.plan(targets)
        stays = session.stays_on_remote(plan, targets)
        records = per_task_records(session.ws, session.graph.groups)  # (read while the state is open)
    finally:
        session.close()
    graph = session.graph  # (with every task of a map, when its settled ones had to be planned)
    # Entries of tasks that are gone (a matrix value or a mapped item removed): `pipe run`
    # removes them first, and what reads the gathered folder then runs.
    stale = []
    if graph.groups:
        from ..expand import stale_entries

        stale = stale_entries(graph.pipefile.root, graph.groups, records, lambda p: not graph.is_source(p))
    if as_json:
        doc = status_json(plan, stays, graph.groups)
        if stale:
            doc["stale_entries"] = stale
        dump_json(doc)
    else:
        render_status(plan, stays_on_remote=stays, groups=graph.groups, tasks=tasks)
        if stale:
            shown = ", ".join(printable(e) for e in stale[:3]) + (
                f" and {len(stale) - 3} more" if len(stale) > 3 else ""
            )
            echo(
                f"pipe run will remove {len(stale)} gathered entr{'y' if len(stale) == 1 else 'ies'} "
                f"of tasks that are gone ({shown}); what reads them then runs"
            )
    if check and (stale or not plan.up_to_date):
        sys.exit(ExitCode.STEP_FAILED)
