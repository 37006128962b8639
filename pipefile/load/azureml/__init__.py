"""Azure ML pipeline job YAML (CLI v2) read into the same spec a Pipefile gives: docs/azureml.md.

Modules:
  pipeline      the importer: jobs, components, nested pipelines -> steps (`OUTER/INNER`)
  sweep         a sweep job -> a step with a sweep: of pipe's own
  nodes         a command node: typed inputs and their checks, outputs, command, environment
  sdk           an SDK v2 module (`-f build.py`) -> its pipeline's YAML (azure-ai-ml)
  resolve       components, environments and data by path, by azureml:NAME, by the map file
  environments  curated environments, conda files, images -> pipe environments
  yamlfile      YAML values that remember their file and line
  options       the --azureml-* options (environment variables the loader reads)
  export        a Pipefile written from the spec (`pipe import azureml`)
"""

from __future__ import annotations

from .nodes import OUTPUT_ROOT
from .pipeline import load_lenient, looks_like, workspace_of

__all__ = ["OUTPUT_ROOT", "load_lenient", "looks_like", "workspace_of"]
