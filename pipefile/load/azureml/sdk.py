"""An Azure ML SDK v2 pipeline (`pipe run -f build.py`): a Python module whose `pipeline` is an
azure-ai-ml `PipelineJob` (built with `@dsl.pipeline` and `load_component`). azure-ai-ml
builds and validates it offline; its YAML form is then read by the same importer as a
pipeline job YAML. Needs the optional `azureml` extra (azure-ai-ml). The module is run, and
its object told apart from a pipefile.dsl pipeline, by `load/pymodule.py`."""

from __future__ import annotations

from ...errors import PipefileError, SourceLoc


def yaml_of(job, display: str) -> str:
    """The pipeline job YAML of an azure-ai-ml PipelineJob."""
    import yaml

    try:
        data = job._to_dict()
    except Exception as e:  # noqa: BLE001 - azure-ai-ml's validation of the user's pipeline
        raise PipefileError(
            f"{display}: building the pipeline failed: {type(e).__name__}: {e}",
            SourceLoc(display),
            "run `python " + display + "` to see the whole traceback",
        ) from None
    return yaml.safe_dump(data, sort_keys=False, width=10_000)
