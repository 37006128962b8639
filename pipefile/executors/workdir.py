"""Where an imported Azure ML step runs (docs/azureml.md): as on Azure, in a fresh copy of
its `code:` folder with empty `./outputs` and `./logs`, and with MLflow pointed at a store
of this run only, so that nothing the command writes by accident lands in the workspace.

    .pipe/tmp/azureml/<run id>/<step>/code     the working directory (a copy of code:)
    .pipe/tmp/azureml/<run id>/<step>/mlruns   MLFLOW_TRACKING_URI (file store)

After a good run, `./outputs` and `./logs` are moved into the step's reserved `artifacts`
output (when it has one); the whole folder is then removed, whatever happened.
"""

from __future__ import annotations

import os
import shutil

from ..lazyclass import dataclass

ARTIFACTS = "artifacts"  # the reserved output that keeps ./outputs and ./logs


@dataclass
class WorkDir:
    top: str  # the folder of this step's run
    cwd: str  # the copy of its code

    def env(self) -> dict:
        store = os.path.join(self.top, "mlruns")
        return {"MLFLOW_TRACKING_URI": "file://" + store, "AZUREML_CR_EXECUTION_WORKING_DIR_PATH": self.cwd}

    def keep(self, artifacts: str) -> None:
        """Move ./outputs and ./logs into the staged `artifacts` folder."""
        os.makedirs(artifacts, exist_ok=True)
        for name in ("outputs", "logs"):
            src = os.path.join(self.cwd, name)
            if os.path.isdir(src):
                shutil.move(src, os.path.join(artifacts, name))
            else:
                os.makedirs(os.path.join(artifacts, name), exist_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.top, ignore_errors=True)


def make(pipe_dir: str, run_id: str, step: str, root: str, code: str) -> WorkDir:
    """A fresh working directory for `step`: a copy of `code` (workspace-relative; "" for
    none) with empty ./outputs and ./logs."""
    top = os.path.join(pipe_dir, "tmp", "azureml", run_id or "run", step)
    shutil.rmtree(top, ignore_errors=True)
    os.makedirs(top)
    cwd = os.path.join(top, "code")
    src = os.path.join(root, code) if code else ""
    if src and os.path.isdir(src):
        shutil.copytree(src, cwd, symlinks=True)
    else:
        os.makedirs(cwd)
        if src and os.path.isfile(src):  # code: a single file
            shutil.copy2(src, cwd)
    for name in ("outputs", "logs"):
        os.makedirs(os.path.join(cwd, name), exist_ok=True)
    return WorkDir(top, cwd)
