"""Logging a finished job to MLflow, for teams who already look at runs there.

One pipe job -> one MLflow run, in the MLflow experiment named like the job's
experiment: the job's resolved params as params, its recorded metrics (the
flattened `step.name` keys) as metrics, and tags that lead back to the job
(`pipe.job_id`, `pipe.job_uid`, status, Pipefile digest, git commit, each step's
outcome). Logging the same job again updates its run instead of adding one
(runs are found by the `pipe.job_uid` tag).

mlflow is optional (`pip install 'pipefile[mlflow]'`) and imported only here, only
when logging is asked for: `pipe run --mlflow`, or MLFLOW_TRACKING_URI set in the
environment. A failure to log never changes the job or its exit status; the CLI
reports it as a warning.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import warnings
from typing import Optional

from . import lazyre
from .errors import PipefileError
from .jobdb.records import Job
from .outcomes import JobStatus
from .workspace import Workspace

ENV_URI = "MLFLOW_TRACKING_URI"
# Without a tracking URI, runs go to a store of pipe's own under .pipe/ (MLflow's default
# would be mlflow.db, or mlruns/, in the current folder: a file in the repo nobody asked for).
STORE_DIR = "mlflow"
INSTALL_HINT = "pip install 'pipefile[mlflow]'"

_RUN_STATUS = {
    JobStatus.SUCCEEDED: "FINISHED",
    JobStatus.FAILED: "FAILED",
    JobStatus.INTERRUPTED: "KILLED",
    JobStatus.RUNNING: None,
}
_BATCH = 100  # MLflow's log_batch takes at most 100 params (and 1000 metrics) a call
_PARAM_MAX = 500  # the smallest param value limit of MLflow servers still around
_BAD_KEY = lazyre.Pattern(r"[^A-Za-z0-9_\-. :/]")  # MLflow keys: alphanumerics, _ - . space : /


class MlflowLogError(PipefileError):
    """Logging to MLflow failed; the job itself is fine."""


def wanted(flag: bool) -> bool:
    """Whether this run should be logged: `--mlflow`, or a tracking URI in the environment."""
    return bool(flag or os.environ.get(ENV_URI))


def uri_for(ws: Workspace, given: Optional[str] = None) -> str:
    """The URI runs are logged to: `given`, else MLFLOW_TRACKING_URI, else pipe's own store."""
    uri = given or os.environ.get(ENV_URI)
    if uri:
        return uri
    return "sqlite:///" + os.path.join(os.path.abspath(ws.dir), STORE_DIR, "mlflow.db")


def own_store(ws: Workspace, uri: str) -> Optional[str]:
    """The folder of pipe's own store if `uri` is it, else None."""
    folder = os.path.join(os.path.abspath(ws.dir), STORE_DIR)
    return folder if uri == "sqlite:///" + os.path.join(folder, "mlflow.db") else None


def check_installed() -> None:
    """Fail before running anything when logging is asked for and mlflow is missing."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise MlflowLogError("--mlflow needs the mlflow package, which is not installed", hint=INSTALL_HINT) from None


def metric_key(name: str) -> str:
    """A metric or param name MLflow accepts (other characters become '_')."""
    return _BAD_KEY.sub("_", name)[:250]


def mlflow_keys(names) -> dict:
    """{name: its MLflow key}: `metric_key`'s, unless another name has that key too (`acc!`
    and `acc?` are both `acc_`: MLflow would keep one value under it, the other silently
    lost). Then each such name that metric_key changed gets '_' and 8 hex digits of its
    digest after it: one key per name, the same in each job that has both."""
    import hashlib
    from collections import Counter

    keys = {n: metric_key(n) for n in names}
    count = Counter(keys.values())
    for n, k in keys.items():
        if count[k] > 1 and k != n:
            keys[n] = k[:241] + "_" + hashlib.sha256(n.encode("utf-8", "backslashreplace")).hexdigest()[:8]
    return keys


def param_value(v) -> str:
    text = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return text if len(text) <= _PARAM_MAX else text[: _PARAM_MAX - 3] + "..."


def tags_of(job: Job, steps: list) -> dict:
    tags = {
        "mlflow.runName": f"pipe job {job.id}",
        "mlflow.user": job.user,
        "mlflow.source.name": job.pipefile,
        "pipe.job_id": str(job.id),
        "pipe.job_uid": job.uid,
        "pipe.experiment": job.experiment,
        "pipe.status": job.status,
        "pipe.pipefile": job.pipefile,
        "pipe.pipefile_digest": job.pipefile_digest,
    }
    if job.git_commit:
        tags["mlflow.source.git.commit"] = job.git_commit
        tags["pipe.git_dirty"] = str(bool(job.git_dirty)).lower()
    if job.cloned_from:
        tags["pipe.cloned_from"] = str(job.cloned_from)
    step_keys = mlflow_keys(f"pipe.step.{s.step}" for s in steps)
    for s in steps:
        tags[step_keys[f"pipe.step.{s.step}"]] = s.outcome
    return tags


# A tracking server that is down must not hold the prompt for minutes after the run
# (MLflow retries 7 times with backoff by default); the user's own settings win.
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",  # retries: one more ask, two in all (three at "2")
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def logging_note(ws: Workspace, job_id: int) -> str:
    """What the user is told before pipe waits for MLflow: where, and for a tracking server,
    how long at most it waits for one that does not answer (as _quiet sets it)."""
    uri = uri_for(ws)
    own = own_store(ws, uri)
    if own is not None:
        return f"logging job {job_id} to MLflow in pipe's own store {os.path.relpath(own)}/ ..."
    if not uri.startswith(("http://", "https://")):
        return f"logging job {job_id} to MLflow at {uri} ..."
    tries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", _HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"])
    timeout = os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", _HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    try:
        asks = f"{int(tries) + 1} tries"
    except ValueError:
        asks = "its tries"
    return (
        f"logging job {job_id} to MLflow at {uri} ... (the job is recorded; a server that does not answer is "
        f"given up on after {asks} of {timeout} s)"
    )


@contextlib.contextmanager
def _quiet():
    """MLflow, SQLAlchemy and alembic talk a lot (INFO lines, deprecation warnings): not our
    user's business. Call it after importing mlflow, which sets its logger's level on import."""
    import logging

    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic", "sqlalchemy")]
    levels = [lg.level for lg in loggers]
    added = [k for k in _HTTP_DEFAULTS if k not in os.environ]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    for k in added:
        os.environ[k] = _HTTP_DEFAULTS[k]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        for k in added:
            os.environ.pop(k, None)


def log_job(ws: Workspace, job_id: int, tracking_uri: Optional[str] = None) -> str:
    """Log job `job_id` as an MLflow run; returns the run id. tracking_uri None:
    MLFLOW_TRACKING_URI, else pipe's own store under .pipe/ (`own_store`)."""
    job = ws.jobs.get(job_id)
    steps = ws.jobs.steps(job_id)
    metrics = ws.jobs.metrics(job_id)
    uri = uri_for(ws, tracking_uri)
    own = own_store(ws, uri)
    if own is not None:
        os.makedirs(own, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from mlflow.entities import Metric, Param, RunTag
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MlflowLogError(
                "cannot log the job to MLflow: the mlflow package is not installed", hint=INSTALL_HINT
            ) from None
    with _quiet():
        try:
            client = MlflowClient(tracking_uri=uri)
            # In pipe's own store the artifact root is there too (MLflow's default: ./mlruns).
            from pathlib import Path  # here: every run imports this module to ask wanted() (start-up)

            artifacts = Path(own, "artifacts").as_uri() if own is not None else None
            run_id, logged_params = _run_for(client, job, artifacts)
            ms = int((job.ended or job.started) * 1000)
            param_keys = mlflow_keys(job.params)
            # (a param with no value, an Azure ML input left unset, is not logged: MLflow's
            # "null" read as a value the run had, compared with the others' numbers)
            params = [
                Param(param_keys[k], param_value(v))
                for k, v in sorted(job.params.items())
                if param_keys[k] not in logged_params and v is not None
            ]
            series = ws.jobs.series(job_id)
            keys = mlflow_keys(set(metrics) | set(series))  # (one key per name: none lost to another)
            streamed = {keys[k] for k in series}
            # a streamed series point by point, each at its step (not also its last value at step 0)
            values = [
                Metric(keys[k], float(v), ms, 0)
                for k, v in metrics.items()
                if isinstance(v, (int, float)) and not math.isinf(v) and keys[k] not in streamed
            ] + [
                Metric(keys[k], v, int(t * 1000) if t else ms, int(x))
                for k, points in series.items()
                for x, v, t in points
            ]
            tags = [RunTag(k, str(v)) for k, v in tags_of(job, steps).items()]
            for i in range(0, max(len(params), len(values), len(tags)), _BATCH):
                client.log_batch(
                    run_id, metrics=values[i : i + _BATCH], params=params[i : i + _BATCH], tags=tags[i : i + _BATCH]
                )
            status = _RUN_STATUS.get(job.status)
            if status:
                client.set_terminated(run_id, status, end_time=int((job.ended or job.started) * 1000))
            return run_id
        except PipefileError:
            raise
        except Exception as e:  # noqa: BLE001 - any MLflow failure (server down, bad URI) is reported, not fatal
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise MlflowLogError(
                f"could not log job {job.id} to MLflow at {uri or 'its default store'}: {first}",
                hint="the job is recorded; check MLFLOW_TRACKING_URI",
            ) from None


def _run_for(client, job: Job, artifacts: Optional[str]) -> tuple:
    """(run id, names of params already logged): the run of this job if logged before, else a new one."""
    exp = client.get_experiment_by_name(job.experiment)
    if exp is None:
        try:
            exp_id = client.create_experiment(job.experiment, artifact_location=artifacts)
        except Exception:  # noqa: BLE001 - another process created it first
            exp = client.get_experiment_by_name(job.experiment)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    else:
        exp_id = exp.experiment_id
    found = client.search_runs([exp_id], filter_string=f"tags.`pipe.job_uid` = '{job.uid}'", max_results=1)
    if found:
        return found[0].info.run_id, set(found[0].data.params)
    run = client.create_run(
        exp_id, start_time=int(job.started * 1000), tags={"pipe.job_uid": job.uid}, run_name=f"pipe job {job.id}"
    )
    return run.info.run_id, set()
