"""The keys each mapping of a Pipefile accepts, and the fixed vocabularies of some values.

One place, so that the section parsers, the editor schema (tests/test_schema.py compares
them) and the error hints ("did you mean") agree on what a Pipefile may say.
"""

from __future__ import annotations

from .. import spec

TOP_KEYS = (
    "version",
    "name",
    "description",
    "params",
    "assets",
    "environments",
    "components",
    "steps",
    "keep_going",
    "settings",
)
PARAM_KEYS = ("type", "default", "description", "enum")
ASSET_KEYS = ("type", "path", "description", "name", "input")
COMPONENT_KEYS = (
    "description",
    "inputs",
    "outputs",
    "code",
    "command",
    "resources",
    "environment",
    "key_includes",
    "metrics",
)
# A pipeline used as a component (`type: pipeline`), and a step that uses one.
PIPELINE_COMPONENT_KEYS = ("type", "description", "inputs", "outputs", "steps")
PIPELINE_STEP_KEYS = ("description", "component", "inputs", "outputs")
# A std component's component.yaml: a component's keys, plus its name and version.
LIBRARY_COMPONENT_KEYS = ("name", "version") + COMPONENT_KEYS
INPUT_DECL_KEYS = ("type", "default", "optional", "description", "enum", "min", "max")
OUTPUT_DECL_KEYS = ("type", "description")
STEP_KEYS = (
    "description",
    "component",
    "command",
    "inputs",
    "outputs",
    "code",
    "resources",
    "metrics",
    "environment",
    "key_includes",
    "matrix",
    "sweep",
    "foreach",
    "render",
    "always_run",
    "retries",
    "timeout",
)
# Values of a step's `render:` ("pipefile", the default, or an imported Azure ML node's way: docs/azureml.md).
RENDER_MODES = ("pipefile", spec.RENDER_AZUREML)
BINDING_KEYS = ("type", "path", "value")
STEP_OUTPUT_KEYS = ("type", "path", "description", "name", "output")
RESOURCE_KEYS = ("cpus", "memory", "gpus", "custom")
ENVIRONMENT_KEYS = (
    "type",
    "description",
    "env",
    "python",
    "requirements",
    "packages",
    "file",
    "image",
    "build",
    "dockerfile",
    "network",
    "mounts",
)
# The keys each environment type takes (besides type and description).
ENVIRONMENT_TYPE_KEYS = {
    spec.ENV_LOCAL: ("env",),
    spec.ENV_VENV: ("env", "python", "requirements", "packages"),
    spec.ENV_CONDA: ("env", "file"),
    spec.ENV_DOCKER: ("env", "image", "build", "dockerfile", "network", "mounts"),
}
DOCKER_NETWORKS = ("none", "bridge", "host")
# Set by pipe for every step; an environment cannot override them (one that tried made the
# step fail with an internal error: its env and pipe's were merged as keyword arguments).
RESERVED_ENV_VARS = ("PIPE_STEP", "PIPE_RUN_ID", "CUDA_VISIBLE_DEVICES", "PIPE_METRICS_STREAM")
