"""An Azure ML SDK v2 pipeline (`pipe run -f build.py`): a Python module whose `pipeline` is an
azure-ai-ml `PipelineJob` (built with `@dsl.pipeline` and `load_component`). azure-ai-ml
builds and validates it offline; its YAML form is then read by the same importer as a
pipeline job YAML. Needs the optional `azureml` extra (azure-ai-ml)."""

from __future__ import annotations

import contextlib
import os
import sys

from ...errors import PipefileError, SourceLoc
from ..reader import display_path


def is_sdk_module(path: str) -> bool:
    return path.endswith(".py")


def to_yaml(path: str) -> str:
    """The pipeline job YAML of the module's `pipeline` object. The module runs in its own
    folder (where its `load_component(source="./...")` paths are relative to); what it
    prints goes to stderr (stdout may carry --json)."""
    import runpy

    import yaml

    display = display_path(path)
    try:
        import azure.ai.ml  # noqa: F401 - only to say what is missing
    except ImportError:
        raise PipefileError(
            f"{display}: an Azure ML SDK v2 pipeline needs the azure-ai-ml package",
            SourceLoc(display),
            "pip install 'pipefile[azureml]' (or pip install azure-ai-ml), or run the pipeline's YAML "
            '(pipeline.dump("pipeline.yml") writes it)',
        ) from None
    folder = os.path.dirname(os.path.abspath(path))
    old = os.getcwd()
    sys.path.insert(0, folder)
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(sys.stderr):
            namespace = runpy.run_path(os.path.abspath(path), run_name="__pipe_azureml__")
            job = namespace.get("pipeline")
            if job is None or not hasattr(job, "_to_dict"):
                raise PipefileError(
                    f"{display}: defines no `pipeline` (an azure-ai-ml PipelineJob)",
                    SourceLoc(display),
                    "end the module with: pipeline = my_pipeline(...) (a function decorated with @dsl.pipeline)",
                )
            data = job._to_dict()
    except PipefileError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's module: whatever it raises is theirs to fix
        raise PipefileError(
            f"{display}: building the pipeline failed: {type(e).__name__}: {e}",
            SourceLoc(display),
            "run `python " + display + "` to see the whole traceback",
        ) from None
    finally:
        os.chdir(old)
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return yaml.safe_dump(data, sort_keys=False, width=10_000)
