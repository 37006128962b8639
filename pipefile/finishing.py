"""What follows a run once its progress view closed: with `--push`, uploading what it
built, restored or found fresh to the remote (what the remote has is skipped); with
MLflow asked for, the job logged there. Neither changes the run's outcome: a failure is
kept on the `RunRecord` and reported, never raised.
"""

from __future__ import annotations

from .errors import PipefileError
from .outcomes import Outcome


def finish_run(ws, remote, request, record, push_progress=None, say=None):
    """`record` (a session.RunRecord of the run `request` asked for, in `ws`) with what was
    pushed to `remote` and the MLflow run it was logged as, or their errors. `say(text)`:
    a note for the user before the wait for MLflow (a server that does not answer holds the
    run's summary for as long as pipe waits for it)."""
    if request.push and remote is not None and not record.summary.interrupted:
        record.pushed = push_built(ws, remote, record.summary, push_progress)
    if record.job is not None:
        from . import mlflow_log

        if mlflow_log.wanted(request.mlflow):
            try:
                if say is not None:
                    say(mlflow_log.logging_note(ws, record.job.id))
                record.mlflow_run = mlflow_log.log_job(ws, record.job.id)
                record.mlflow_store = mlflow_log.own_store(ws, mlflow_log.uri_for(ws))
            except PipefileError as e:
                record.mlflow_error = e
            except KeyboardInterrupt:
                # Ctrl-C while MLflow is waited for gives up the logging only: the run is over,
                # recorded, and its summary and exit status are its own (they were lost: exit 130)
                record.mlflow_error = mlflow_log.MlflowLogError(
                    f"logging job {record.job.id} to MLflow was interrupted (Ctrl-C)",
                    hint="the job is recorded, and the exit status is the run's; it is not in MLflow",
                )
    return record


def push_built(ws, remote, summary, progress):
    """Push the outputs of the tasks that ran, were restored or were fresh: a sync.SyncReport."""
    from . import sync

    keys = [
        summary.decisions[n].key.digest
        for n, r in summary.results.items()
        if r.outcome in (Outcome.RAN, Outcome.RESTORED, Outcome.FRESH)
        and summary.decisions.get(n) is not None
        and summary.decisions[n].key is not None
    ]
    r = sync.SyncReport("push", remote.name)
    try:
        sync.push(ws, remote, keys, (), progress, r)
    except PipefileError as e:
        r.errors.append(e)
    return r
