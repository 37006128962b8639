"""Where an imported Azure ML step runs (docs/azureml.md): as on Azure, in a fresh copy of
its `code:` folder with empty `./outputs` and `./logs`, and with MLflow pointed at a store
of this run only, so that nothing the command writes by accident lands in the workspace.

    .pipe/tmp/azureml/<run id>/<step>/code     the working directory (a copy of code:)
    .pipe/tmp/azureml/<run id>/<step>/mlruns   MLFLOW_TRACKING_URI (file store)

After a good run, `./outputs` and `./logs` are moved into the step's reserved `artifacts`
output (when it has one), with `metrics.json`: the last value of each metric the run logged
to MLflow (what Azure shows as the job's metrics, and what a sweep's objective reads); the
whole folder is then removed, whatever happened.
"""

from __future__ import annotations

import json
import math
import os
import shutil

from ..filenames import file_name
from ..lazyclass import dataclass

ARTIFACTS = "artifacts"  # the reserved output that keeps ./outputs and ./logs
# What a command rendered for another machine names the workspace by (its paths are absolute
# as on Azure): replaced there by where the workspace's copy is (executors/ray_worker.py).
ELSEWHERE = "/@pipe-workspace@"
METRICS = "metrics.json"  # in it: the metrics logged to MLflow


@dataclass
class WorkDir:
    top: str  # the folder of this step's run
    cwd: str  # the copy of its code

    def env(self) -> dict:
        store = os.path.join(self.top, "mlruns")
        return {
            "MLFLOW_TRACKING_URI": "file://" + store,
            # MLflow 3.x refuses a file store unless told (older versions ignore this)
            "MLFLOW_ALLOW_FILE_STORE": "true",
            "AZUREML_CR_EXECUTION_WORKING_DIR_PATH": self.cwd,
        }

    def keep(self, artifacts: str) -> None:
        """Move ./outputs and ./logs into the staged `artifacts` folder."""
        os.makedirs(artifacts, exist_ok=True)
        for name in ("outputs", "logs"):
            src = os.path.join(self.cwd, name)
            if os.path.isdir(src):
                shutil.move(src, os.path.join(artifacts, name))
            else:
                os.makedirs(os.path.join(artifacts, name), exist_ok=True)
        with open(os.path.join(artifacts, METRICS), "w", encoding="utf-8") as f:
            json.dump(logged_metrics(os.path.join(self.top, "mlruns")), f, indent=1, sort_keys=True)

    def remove(self) -> None:
        shutil.rmtree(self.top, ignore_errors=True)


def make(pipe_dir: str, run_id: str, step: str, root: str, code: str) -> WorkDir:
    """A fresh working directory for `step`: a copy of `code` (workspace-relative; "" for
    none) with empty ./outputs and ./logs."""
    top = os.path.join(pipe_dir, "tmp", "azureml", run_id or "run", file_name(step))  # (bounded: a long name)
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(top)
    cwd = os.path.join(top, "code")
    src = os.path.join(root, code) if code else ""
    if src and os.path.isdir(src):
        shutil.copytree(src, cwd, symlinks=True)
        _links_out(src, cwd)
    else:
        os.makedirs(cwd)
        if src and os.path.isfile(src):  # code: a single file
            shutil.copy2(src, cwd)
    for name in ("outputs", "logs"):
        os.makedirs(os.path.join(cwd, name), exist_ok=True)
    return WorkDir(top, cwd)


def _links_out(src: str, cwd: str) -> None:
    """A link of `src` to a file outside it (`data.csv -> ../../shared/data.csv`) was copied
    as the link, which the copy's place left dangling: the run failed on a file it had.
    Azure uploads what such a link points at (and the step's key holds its content): the
    copy holds the file, and a link to a folder outside points at that folder itself."""
    top = os.path.realpath(src)
    for folder, dirs, files in os.walk(cwd):
        for name in dirs + files:
            here = os.path.join(folder, name)
            if not os.path.islink(here):
                continue
            there = os.path.realpath(os.path.join(src, os.path.relpath(here, cwd)))
            if there == top or there.startswith(top + os.sep) or not os.path.exists(there):
                continue  # (inside: it resolves in the copy as it did; dangling: as it was)
            os.unlink(here)
            if os.path.isdir(there):
                os.symlink(there, here)
            else:
                shutil.copy2(there, here)


def logged_metrics(store: str) -> dict:
    """{metric: its last value} over the runs of an MLflow file store: the value of the
    highest step, the latest logged among equals (as Azure's run summary shows it)."""
    best: dict = {}  # name -> ((step, timestamp), value)
    for folder, _dirs, files in os.walk(store):
        parts = os.path.relpath(folder, store).split(os.sep)
        # <experiment>/<run>/metrics[/a/b]: a metric's name may hold '/'
        if len(parts) < 3 or parts[2] != "metrics":
            continue
        for f in files:
            name = "/".join(parts[3:] + [f])
            try:
                with open(os.path.join(folder, f), encoding="utf-8") as fh:
                    lines = fh.read().split("\n")
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                bits = line.split()
                try:
                    ts, value = int(bits[0]), float(bits[1])
                    step = int(bits[2]) if len(bits) > 2 else 0
                except (IndexError, ValueError):
                    continue
                if math.isfinite(value) and (name not in best or (step, ts) >= best[name][0]):
                    best[name] = ((step, ts), value)
    return {name: v for name, (_, v) in best.items()}
